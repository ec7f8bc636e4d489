"""The judge server over real HTTP: raw requests, and rerankers through the LiteLLM path."""

from __future__ import annotations

import asyncio
import http.client
import json
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llm_rerank import ListwiseReranker
from llm_rerank.eval.io import RerankRequest
from llm_rerank.eval.metrics import ndcg
from llm_rerank.llm import LLMClient
from llm_rerank.models import Document, Usage
from llm_rerank.prompts import PromptTemplate
from llm_rerank.testing import JudgeServer

StartJudge = Callable[..., JudgeServer]
QUERY = "how do solar panels make electricity"
LABELS = ["unlikely", "likely", "very likely"]


def synthetic_dataset(size: int = 30) -> tuple[RerankRequest, dict[str, dict[str, int]]]:
    """``size`` documents with distinct texts, grades cycling 0..3, shuffled input order."""
    rng = random.Random(7)
    docs, grades = [], {}
    for n in range(size):
        words = " ".join(rng.choice(["sun", "cell", "grid", "roof", "volt", "light"])
                         for _ in range(12))
        docs.append(Document(id=f"d{n}", text=f"Passage number {n} about {words}."))
        grades[f"d{n}"] = n % 4
    rng.shuffle(docs)
    return RerankRequest("q1", QUERY, docs), {"q1": grades}


@pytest.fixture
def dataset() -> tuple[RerankRequest, dict[str, dict[str, int]]]:
    return synthetic_dataset()


def request_json(server: JudgeServer, method: str, path: str, body: object = None,
                 raw: bytes | None = None) -> tuple[int, Any, http.client.HTTPResponse]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    payload = json.loads(response.read())
    connection.close()
    return response.status, payload, response


def chat(messages: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
    return {"model": "judge", "messages": messages, **extra}


def pointwise_messages(text: str, labels: list[str] = LABELS) -> list[dict[str, str]]:
    return PromptTemplate.load("pointwise/labels").render(query=QUERY, passage=text, labels=labels)


def text_of(request: RerankRequest, doc_id: str) -> str:
    return next(d.text for d in request.documents if d.id == doc_id)


async def test_perfect_judge_puts_the_best_documents_on_top(
    judge_server: StartJudge, dataset: tuple[RerankRequest, dict[str, dict[str, int]]]
) -> None:
    request, qrels = dataset
    server = judge_server([request], qrels)
    reranker = ListwiseReranker("openai/judge", api_base=server.url, api_key="x", cache=False)
    results = await reranker.arank(request.query, request.documents)
    grades = [qrels["q1"][r.document.id or ""] for r in results]
    assert grades[:8] == [3] * 7 + [2]  # 7 documents have grade 3
    assert sorted(r.document.id or "" for r in results) == sorted(qrels["q1"])
    stats = server.stats()
    assert results.usage.llm_calls == stats.requests == stats.by_kind["listwise"] == 2
    assert results.usage.prompt_tokens == stats.prompt_tokens > 0
    assert results.usage.completion_tokens == stats.completion_tokens > 0
    assert stats.errors_sent == stats.garbage_sent == 0
    server.reset_stats()
    assert server.stats().requests == 0


async def test_errors_are_retried_and_nothing_is_lost(
    judge_server: StartJudge, dataset: tuple[RerankRequest, dict[str, dict[str, int]]]
) -> None:
    request, qrels = dataset
    server = judge_server([request], qrels, error_rate=0.4, seed=1)
    reranker = ListwiseReranker("openai/judge", api_base=server.url, api_key="x", cache=False,
                                window_size=6, step=3, max_retries=10)
    results = await reranker.arank(request.query, request.documents)
    assert results.usage.retries > 0
    assert results.usage.retries == server.stats().errors_sent
    assert [qrels["q1"][r.document.id or ""] for r in results][:3] == [3] * 3  # window - step
    assert len({r.document.id for r in results}) == len(results) == 30


async def test_garbage_answers_never_drop_documents(
    judge_server: StartJudge, dataset: tuple[RerankRequest, dict[str, dict[str, int]]]
) -> None:
    request, qrels = dataset
    server = judge_server([request], qrels, garbage_rate=0.6, seed=2)
    reranker = ListwiseReranker("openai/judge", api_base=server.url, api_key="x", cache=False,
                                window_size=5, step=2)
    results = await reranker.arank(request.query, request.documents)
    assert sorted(r.index for r in results) == list(range(30))
    stats = server.stats()
    assert stats.garbage_sent > 0
    assert results.usage.parse_failures >= 1
    assert results.usage.parse_failures <= stats.garbage_sent  # "<think>...</think>" may parse


async def test_latency_is_concurrent(
    judge_server: StartJudge, dataset: tuple[RerankRequest, dict[str, dict[str, int]]]
) -> None:
    request, qrels = dataset
    server = judge_server([request], qrels, latency_ms=200)
    client = LLMClient("openai/judge", api_base=server.url, api_key="x", cache=False,
                       max_concurrency=20)
    usage = Usage()
    prompts = [pointwise_messages(d.text) for d in request.documents[:20]]
    await client.complete(prompts[0], usage)  # warm up the import and the connection pool
    answers = await asyncio.gather(*(client.complete(p, usage) for p in prompts))
    assert {a.text for a in answers} <= set(LABELS)
    assert server.stats().peak_concurrency >= 10  # the calls overlapped (no timing asserted)


async def test_pointwise_logprobs_through_litellm(
    judge_server: StartJudge, dataset: tuple[RerankRequest, dict[str, dict[str, int]]]
) -> None:
    request, qrels = dataset
    server = judge_server([request], qrels)
    client = LLMClient("openai/judge", api_base=server.url, api_key="x", cache=False)
    best, worst = text_of(request, "d3"), text_of(request, "d0")
    answer = await client.complete(pointwise_messages(best), Usage(),
                                   logprobs=True, top_logprobs=5)
    assert answer.text == "very likely" and answer.logprobs is not None
    top = answer.logprobs[0]
    assert set(top) == {"unlikely", "likely", "very"} and max(top, key=top.__getitem__) == "very"
    answer = await client.complete(pointwise_messages(worst, ["no", "yes"]), Usage(),
                                   logprobs=True, top_logprobs=2)
    assert answer.text == "no" and answer.logprobs is not None
    assert answer.logprobs[0]["no"] > answer.logprobs[0]["yes"]
    assert server.stats().by_kind["pointwise"] == 2


def test_http_endpoints_and_response_shape(
    judge_server: StartJudge, dataset: tuple[RerankRequest, dict[str, dict[str, int]]]
) -> None:
    request, qrels = dataset
    server = judge_server([request], qrels)
    assert request_json(server, "GET", "/health")[:2] == (200, {"status": "ok"})
    status, models, _ = request_json(server, "GET", "/v1/models")
    assert status == 200 and models["data"][0]["id"] == "judge"
    messages = PromptTemplate.load("pairwise/prp").render(
        query=QUERY, passage_a=text_of(request, "d0"), passage_b=text_of(request, "d3"))
    for path in ("/v1/chat/completions", "/chat/completions"):
        status, body, _ = request_json(server, "POST", path, chat(messages))
        assert status == 200
        assert body["object"] == "chat.completion" and body["model"] == "judge"
        choice = body["choices"][0]
        assert choice["message"] == {"role": "assistant", "content": "Passage B"}
        assert choice["finish_reason"] == "stop" and choice["logprobs"] is None
        usage = body["usage"]
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        assert usage["completion_tokens"] == 2
    status, body, _ = request_json(server, "POST", "/v1/chat/completions",
                                   chat(pointwise_messages(text_of(request, "d3")), logprobs=True))
    content = body["choices"][0]["logprobs"]["content"]
    assert [c["token"] for c in content] == ["very", " likely"]
    assert {alt["token"] for alt in content[0]["top_logprobs"]} == {"unlikely", "likely", "very"}
    status, stats, _ = request_json(server, "GET", "/stats")
    assert status == 200 and stats["requests"] == 3
    assert stats["by_kind"] == {"listwise": 0, "pairwise": 2, "pointwise": 1, "setwise": 0}
    status, stats, _ = request_json(server, "POST", "/stats/reset", {})
    assert status == 200 and stats["requests"] == 0


@pytest.mark.parametrize(("body", "raw", "message"), [
    (chat([{"role": "user", "content": "Tell me a joke."}]), None, "unrecognised prompt"),
    ({"model": "judge"}, None, "messages"),
    (None, b"{not json", "not valid JSON"),
    (chat([{"role": "user", "content": "Search query: q\n\n[1] a"}], stream=True), None, "stream"),
])
def test_bad_requests_get_a_json_400(judge_server: StartJudge, body: object, raw: bytes | None,
                                     message: str) -> None:
    request, qrels = synthetic_dataset(4)
    server = judge_server([request], qrels)
    status, payload, _ = request_json(server, "POST", "/v1/chat/completions", body, raw)
    assert status == 400 and message in payload["error"]["message"]
    assert payload["error"]["type"] == "invalid_request_error"
    assert server.stats().bad_requests == 1
    assert request_json(server, "GET", "/nowhere")[0] == 404


def test_errors_carry_retry_after_and_keep_alive_works(judge_server: StartJudge) -> None:
    request, qrels = synthetic_dataset(4)
    server = judge_server([request], qrels, error_rate=1.0)
    messages = pointwise_messages(request.documents[0].text)
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    for _ in range(3):  # three requests on one connection
        connection.request("POST", "/v1/chat/completions", body=json.dumps(chat(messages)),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        payload = json.loads(response.read())
        assert response.status in (429, 503) and response.getheader("Retry-After") == "0"
        assert payload["error"]["type"] in ("rate_limit_error", "service_unavailable")
    connection.close()
    stats = server.stats()
    assert (stats.requests, stats.errors_sent, stats.by_kind["pointwise"]) == (3, 3, 0)


def test_unknown_query_is_still_answered(judge_server: StartJudge) -> None:
    request, qrels = synthetic_dataset(4)
    server = judge_server([request], qrels)
    messages = PromptTemplate.load("listwise/rankgpt").render(
        query="never seen", passages=[{"id": 1, "text": "x"}, {"id": 2, "text": "y"}])
    status, body, _ = request_json(server, "POST", "/v1/chat/completions", chat(messages))
    assert status == 200 and body["choices"][0]["message"]["content"] == "[1] > [2]"


async def test_metadata_prefixed_passages_are_ranked_and_unmatched_ones_counted(
    judge_server: StartJudge, dataset: tuple[RerankRequest, dict[str, dict[str, int]]]
) -> None:
    request, qrels = dataset
    server = judge_server([request], qrels)
    reranker = ListwiseReranker("openai/judge", api_base=server.url, api_key="x", cache=False)
    prefixed = [f"file_name: {d.id}.txt\ncategory: energy\n\n{d.text}" for d in request.documents]
    results = await reranker.arank(request.query, prefixed)
    ranked = [request.documents[r.index].id or "" for r in results]
    assert ndcg(ranked, qrels["q1"], 10) == pytest.approx(1.0)
    status, stats, _ = request_json(server, "GET", "/stats")
    assert status == 200 and stats["unmatched_passages"] == 0 and stats["requests"] > 0
    garbage = [f"an unrelated passage number {n}" for n in range(len(request.documents))]
    await reranker.arank(request.query, garbage)
    assert server.stats().unmatched_passages >= len(garbage)


def test_context_manager_frees_the_port() -> None:
    request, qrels = synthetic_dataset(4)
    with JudgeServer([request], qrels) as server:
        port = server.port
        assert request_json(server, "GET", "/health")[0] == 200
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_cli_serves_a_data_file(tmp_path: Path) -> None:
    request, qrels = synthetic_dataset(8)
    data, qrels_file = tmp_path / "data.jsonl", tmp_path / "qrels.txt"
    row = {"query_id": "q1", "query": QUERY,
           "candidates": [{"id": d.id, "text": d.text} for d in request.documents]}
    data.write_text(json.dumps(row) + "\n")
    qrels_file.write_text("".join(f"q1 0 {d} {g}\n" for d, g in qrels["q1"].items()))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = ("import sys; from llm_rerank.cli import main; sys.exit(main(sys.argv[1:]))")
    process = subprocess.Popen(
        [sys.executable, "-c", command, "judge-server", "--data", str(data), "--qrels",
         str(qrels_file), "--port", str(port), "--noise", "0.1"], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/health")
                response = connection.getresponse()
                assert response.status == 200 and json.loads(response.read())["status"] == "ok"
                break
            except ConnectionRefusedError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        messages = PromptTemplate.load("setwise/heapsort").render(query=QUERY, passages=[
            {"id": "A", "text": text_of(request, "d0")},
            {"id": "B", "text": text_of(request, "d7")},
        ])
        connection.request("POST", "/v1/chat/completions", body=json.dumps(chat(messages)))
        response = connection.getresponse()
        assert json.loads(response.read())["choices"][0]["message"]["content"] == "Passage B"
        connection.close()
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert b"1 query, 8 judgments" in stderr
