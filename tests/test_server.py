"""``llm-rerank serve``: the routes and every error code in process (Starlette's TestClient),
then a real uvicorn server used by the cohere SDK, langchain_cohere and httpx, then the
``serve`` process itself on garbage input and at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the server needs the 'server' extra")
pytest.importorskip("uvicorn", reason="the server needs the 'server' extra")
pytest.importorskip("prometheus_client", reason="the server needs the 'server' extra")
httpx = pytest.importorskip("httpx", reason="the server tests need httpx ('test-server' extra)")

import uvicorn  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from llm_rerank import ListwiseReranker, PointwiseReranker, Reranker  # noqa: E402
from llm_rerank.cli import main  # noqa: E402
from llm_rerank.eval.io import RerankRequest  # noqa: E402
from llm_rerank.models import Document  # noqa: E402
from llm_rerank.reranker import RankingContext, Scored  # noqa: E402
from llm_rerank.server.app import create_app  # noqa: E402
from llm_rerank.server.config import ServeConfig, ServerSettings, load_config  # noqa: E402
from llm_rerank.testing import FakeLLM, JudgeServer, fake_llm  # noqa: E402
from llm_rerank.transports.litellm import import_litellm  # noqa: E402

NUMBER = re.compile(r"n(\d+)")
TOKEN = "s3cret-token"


def by_number(messages: list[dict[str, str]]) -> str:
    """A listwise judge that ranks passages by the number after 'n' in their text."""
    lines = re.findall(r"^\[(\d+)\] (.*)$", messages[-1]["content"], re.MULTILINE)
    order = sorted(lines, key=lambda line: -int((NUMBER.search(line[1]) or ["", "0"])[1]))
    return " > ".join(f"[{label}]" for label, _ in order)


def label_by_number(messages: list[dict[str, str]]) -> str:
    """A pointwise judge: 'very likely' for n2 and above, 'likely' for n1, else 'unlikely'."""
    passage = re.search(r"^Passage: (.*)$", messages[-1]["content"], re.MULTILINE)
    found = NUMBER.search(passage.group(1) if passage else "")
    value = int(found.group(1)) if found else 0
    return ["unlikely", "likely", "very likely"][min(value, 2)]


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with fake_llm(by_number) as llm:
        yield llm


def client_for(rerankers: dict[str, Reranker], **settings: Any) -> TestClient:
    return TestClient(create_app(rerankers, settings=ServerSettings(**settings)))


@pytest.fixture
def client(fake: FakeLLM) -> TestClient:
    return client_for({"fast": ListwiseReranker(fake.model, cache=False)}, max_documents=50,
                      max_query_chars=200, max_body_bytes=20_000, max_tokens_per_doc=64)


DOCS = ["n1 apples", "n3 bananas", "n2 cherries", "n0 dates"]


# ---- the routes ---------------------------------------------------------------------------

def test_cohere_v2_shape(client: TestClient) -> None:
    answer = client.post("/v2/rerank", json={"model": "fast", "query": "fruit", "documents": DOCS,
                                             "top_n": 2, "return_documents": True})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [r["index"] for r in body["results"]] == [1, 2]
    assert [r["document"]["text"] for r in body["results"]] == ["n3 bananas", "n2 cherries"]
    scores = [r["relevance_score"] for r in body["results"]]
    assert all(isinstance(s, float) and 0 <= s <= 1 for s in scores) and scores[0] > scores[1]
    meta = body["meta"]
    assert meta["billed_units"] == {"search_units": 1}
    assert meta["tokens"]["input_tokens"] > 0 and meta["tokens"]["output_tokens"] > 0
    assert meta["llm_rerank"]["llm_calls"] == 1 and meta["llm_rerank"]["strategy"] == "listwise"
    assert re.fullmatch(r"[0-9a-f-]{36}", body["id"])


def test_cohere_v1_takes_document_objects_and_answers_jina_fields(client: TestClient) -> None:
    answer = client.post("/v1/rerank", json={"query": "fruit",
                                             "documents": [{"text": d} for d in DOCS]})
    body = answer.json()
    assert [r["index"] for r in body["results"]] == [1, 2, 0, 3]
    assert "document" not in body["results"][0]
    assert body["model"] == "fast" and body["usage"]["total_tokens"] > 0  # Jina's fields
    assert body["meta"]["api_version"]["version"] == "1"


def test_empty_documents_give_no_results_and_no_call(client: TestClient, fake: FakeLLM) -> None:
    answer = client.post("/v2/rerank", json={"query": "fruit", "documents": []})
    assert answer.status_code == 200 and answer.json()["results"] == []
    assert fake.calls == 0


def test_tei_shape_and_raw_scores() -> None:
    with fake_llm(label_by_number) as llm:
        client = client_for({"point": PointwiseReranker(llm.model, cache=False)})
        scaled = client.post("/rerank", json={"query": "fruit", "texts": DOCS,
                                              "return_text": True}).json()
        raw = client.post("/rerank", json={"query": "fruit", "texts": DOCS,
                                           "raw_scores": True}).json()
    assert [r["index"] for r in scaled] == [1, 2, 0, 3]
    assert [r["score"] for r in scaled] == [1.0, 1.0, 0.5, 0.0]  # expected label / top label
    assert [r["score"] for r in raw] == [2.0, 2.0, 1.0, 0.0]     # the label values
    assert scaled[0]["text"] == "n3 bananas" and "text" not in raw[0]


def prompts_seen(fake: FakeLLM) -> str:
    return "\n".join(m["content"] for r in fake.requests for m in r["messages"])


def test_max_tokens_per_doc_bounds_the_passages(client: TestClient, fake: FakeLLM) -> None:
    long_doc = "n5 " + " ".join(f"word{i}" for i in range(100))
    answer = client.post("/v2/rerank", json={"query": "q", "documents": [long_doc, "n1 x"],
                                             "max_tokens_per_doc": 4, "return_documents": True})
    assert answer.status_code == 200
    prompt = prompts_seen(fake)
    assert "n5 word0 word1 word2" in prompt and "word3" not in prompt
    assert answer.json()["results"][0]["document"]["text"] == long_doc  # the original back
    fake.requests.clear()
    client.post("/v2/rerank", json={"query": "q2", "documents": [long_doc, "n1 x"],
                                    "max_tokens_per_doc": 10_000})  # capped by the server's 64
    assert "word62" in prompts_seen(fake) and "word63" not in prompts_seen(fake)


def test_tei_truncate_bounds_the_passages(client: TestClient, fake: FakeLLM) -> None:
    long_doc = "n5 " + " ".join(f"word{i}" for i in range(100))
    refused = client.post("/rerank", json={"query": "q", "texts": ["n1", long_doc]})
    assert refused.status_code == 413
    assert refused.json()["error"].startswith("texts[1] has 101 tokens")
    assert fake.calls == 0
    cut = client.post("/rerank", json={"query": "q", "texts": ["n1", long_doc], "truncate": True,
                                       "truncation_direction": "Left"})
    assert cut.status_code == 200 and [r["index"] for r in cut.json()] == [0, 1]
    prompt = prompts_seen(fake)
    assert "word36 " in prompt and "word35 " not in prompt and "n5" not in prompt


def test_models_are_picked_by_name() -> None:
    with fake_llm(by_number) as llm, fake_llm(label_by_number) as other:
        client = client_for({"list": ListwiseReranker(llm.model, cache=False),
                             "point": PointwiseReranker(other.model, cache=False)})
        default = client.post("/v2/rerank", json={"query": "q", "documents": DOCS}).json()
        point = client.post("/v2/rerank", json={"model": "point", "query": "q",
                                                "documents": DOCS}).json()
        unknown = client.post("/v2/rerank", json={"model": "gpt-9", "query": "q",
                                                  "documents": DOCS})
        assert (llm.calls, other.calls) == (1, 4)
    assert default["meta"]["llm_rerank"]["strategy"] == "listwise"
    assert point["meta"]["llm_rerank"]["strategy"] == "pointwise"
    assert unknown.status_code == 404
    assert unknown.json()["message"] == "unknown model 'gpt-9'; this server offers: list, point"


def test_health_and_metrics(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "models": ["fast"], "default": "fast"}
    client.post("/v2/rerank", json={"query": "q", "documents": DOCS})
    client.post("/v2/rerank", content=b"{", headers={"Content-Type": "application/json"})
    client.get("/nowhere")
    text = client.get("/metrics").text
    assert 'llm_rerank_http_requests_total{route="/v2/rerank",status="200"} 1.0' in text
    assert 'llm_rerank_http_requests_total{route="/v2/rerank",status="400"} 1.0' in text
    assert 'llm_rerank_http_requests_total{route="unmatched",status="404"} 1.0' in text
    assert 'llm_rerank_http_errors_total{route="/v2/rerank",type="malformed_json"} 1.0' in text
    assert 'llm_rerank_llm_calls_total{model="fast"} 1.0' in text
    assert 'llm_rerank_cache_hits_total{model="fast"} 0.0' in text
    assert 'llm_rerank_http_request_duration_seconds_count{route="/v2/rerank"} 2.0' in text


async def test_requests_run_concurrently_on_the_async_core() -> None:
    with fake_llm(by_number, latency=0.3) as llm:
        app = create_app({"fast": ListwiseReranker(llm.model, cache=False, max_concurrency=64)})
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://serve") as http:
            answers = await asyncio.gather(*[
                http.post("/v2/rerank", json={"query": f"q{i}", "documents": DOCS})
                for i in range(20)])
    assert [a.status_code for a in answers] == [200] * 20
    assert llm.peak_in_flight == 20  # every request's call in flight at once (no timing asserted)


async def test_serve_over_the_direct_transport() -> None:
    """A judge behind transport='direct': answers, and a provider's 429/503 becomes 503 with
    the provider's Retry-After."""
    request = RerankRequest("q1", "fruit", [Document(id=str(n), text=text)
                                            for n, text in enumerate(DOCS)])
    qrels = {"q1": {str(n): int(NUMBER.findall(text)[0]) for n, text in enumerate(DOCS)}}
    for error_rate, status in ((0.0, 200), (1.0, 503)):
        with JudgeServer([request], qrels, error_rate=error_rate) as judge:
            reranker = ListwiseReranker("openai/judge", api_base=judge.url, api_key="x",
                                        cache=False, transport="direct", max_retries=1,
                                        max_concurrency=16)
            app = create_app({"fast": reranker}, settings=ServerSettings(retry_after_s=7))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://serve") as http:
                answers = await asyncio.gather(*[
                    http.post("/v2/rerank", json={"query": "fruit", "documents": DOCS})
                    for _ in range(8)])
        assert [a.status_code for a in answers] == [status] * 8
        if status == 200:
            assert [[r["index"] for r in a.json()["results"]] for a in answers] == [
                [1, 2, 0, 3]] * 8
        else:  # the judge's Retry-After: 0, forwarded (at least 1 s), not the default 7
            assert {a.headers["retry-after"] for a in answers} == {"1"}


# ---- every error code ---------------------------------------------------------------------

JSON = {"Content-Type": "application/json"}
GOOD = {"query": "fruit", "documents": DOCS}
ERRORS: list[tuple[str, str, str, dict[str, str], bytes | None, int, str]] = [
    # (case, method, path, headers, body, status, start of the message)
    ("malformed JSON", "POST", "/v2/rerank", JSON, b'{"query": "q",', 400,
     "the body is not valid JSON"),
    ("empty body", "POST", "/v2/rerank", JSON, b"", 400, "the body is empty"),
    ("invalid UTF-8", "POST", "/v2/rerank", JSON, b'{"query": "\xff\xfe"}', 400,
     "the body is not valid UTF-8 (byte 0xff"),
    ("deep JSON", "POST", "/v2/rerank", JSON, b"[" * 100_000 + b"]" * 100_000, 413,
     "the body has 200000 bytes"),
    ("deep JSON under the size limit", "POST", "/v2/rerank", JSON, b"[" * 9000 + b"]" * 9000,
     400, "the body is JSON nested too deeply"),
    ("NaN", "POST", "/v2/rerank", JSON, b'{"query": "q", "documents": [], "top_n": NaN}', 400,
     "the body is not valid JSON: NaN"),
    ("array body", "POST", "/v2/rerank", JSON, b"[1, 2]", 422,
     "the body must be a JSON object, got array"),
    ("missing query", "POST", "/v2/rerank", JSON, b'{"documents": ["a"]}', 422,
     "invalid request: query: Field required"),
    ("missing documents", "POST", "/v1/rerank", JSON, b'{"query": "q"}', 422,
     "invalid request: documents: Field required"),
    ("empty query", "POST", "/v2/rerank", JSON, b'{"query": "  ", "documents": ["a"]}', 422,
     "invalid request: query: must not be empty"),
    ("documents a string", "POST", "/v2/rerank", JSON, b'{"query": "q", "documents": "abc"}',
     422, "invalid request: documents: Input should be a valid list"),
    ("document a number", "POST", "/v2/rerank", JSON, b'{"query": "q", "documents": ["a", 7]}',
     422, "invalid request: documents[1]: must be a string or an object with a string 'text', "
          "got number"),
    ("top_n a string", "POST", "/v2/rerank", JSON,
     b'{"query": "q", "documents": ["a"], "top_n": "3"}', 422,
     "invalid request: top_n: Input should be a valid integer"),
    ("top_n zero", "POST", "/v2/rerank", JSON, b'{"query": "q", "documents": ["a"], "top_n": 0}',
     422, "invalid request: top_n: Input should be greater than or equal to 1"),
    ("unpaired surrogate", "POST", "/v2/rerank", JSON,
     b'{"query": "q\\ud800", "documents": ["a"]}', 422,
     "invalid request: query: contains an unpaired surrogate"),
    ("TEI texts of numbers", "POST", "/rerank", JSON, b'{"query": "q", "texts": [1]}', 422,
     "invalid request: texts[0]: Input should be a valid string"),
    ("form content type", "POST", "/v2/rerank",
     {"Content-Type": "application/x-www-form-urlencoded"}, b"query=q", 415,
     "content type 'application/x-www-form-urlencoded' is not JSON"),
    ("no content type", "POST", "/v2/rerank", {}, json.dumps(GOOD).encode(), 415,
     "content type '(none)' is not JSON"),
    ("huge body", "POST", "/v2/rerank", JSON, b'{"query": "' + b"x" * 30_000 + b'"}', 413,
     "the body has 30013 bytes, over this server's limit of 20000"),
    ("too many documents", "POST", "/v2/rerank", JSON,
     json.dumps({"query": "q", "documents": ["d"] * 51}).encode(), 413,
     "51 documents is over this server's limit of 50 per request"),
    ("long query", "POST", "/v2/rerank", JSON,
     json.dumps({"query": "q" * 201, "documents": ["d"]}).encode(), 413,
     "the query has 201 characters, over this server's limit of 200"),
    ("unknown route", "POST", "/v3/rerank", JSON, json.dumps(GOOD).encode(), 404,
     "no route POST /v3/rerank"),
    ("wrong method", "GET", "/v2/rerank", {}, None, 405, "GET is not allowed on /v2/rerank"),
]


@pytest.mark.parametrize(("case", "method", "path", "headers", "body", "status", "message"),
                         ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_requests_get_json_errors(client: TestClient, fake: FakeLLM, case: str, method: str,
                                      path: str, headers: dict[str, str], body: bytes | None,
                                      status: int, message: str) -> None:
    answer = client.request(method, path, headers=headers, content=body)
    assert answer.status_code == status, answer.text
    payload = answer.json()
    text = payload["error"] if path == "/rerank" else payload["message"]
    assert text.startswith(message), text
    assert "Traceback" not in answer.text and fake.calls == 0
    if status == 405:
        assert answer.headers["allow"] == "POST"


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic s3cret-token", "Bearer",
                                    "Bearer s3cret-token\u00e9", "Bearer s3cret-toke"])
def test_auth_refuses_without_the_token(fake: FakeLLM, header: str | None) -> None:
    client = client_for({"fast": ListwiseReranker(fake.model, cache=False)}, auth_token=TOKEN)
    headers = {"Authorization": header.encode("latin-1")} if header is not None else {}
    answer = client.post("/v2/rerank", json=GOOD, headers=headers)
    assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["message"].startswith("missing or wrong bearer token")
    ok = client.post("/v2/rerank", json=GOOD, headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and fake.calls == 1
    assert client.get("/health").status_code == 200  # health and metrics stay open


def failing(error: Exception) -> Callable[[list[dict[str, str]]], str]:
    def respond(messages: list[dict[str, str]]) -> str:
        raise error
    return respond


def provider_error(kind: str) -> Exception:
    litellm = import_litellm()
    if kind == "permanent":
        return litellm.AuthenticationError("invalid api key", llm_provider="fake", model="m")
    return litellm.ServiceUnavailableError("overloaded", llm_provider="fake", model="m")


@pytest.mark.parametrize(("kind", "status", "message"), [
    ("permanent", 502, "the LLM provider refused the call"),
    ("transient", 503, "the LLM provider is unavailable, retries exhausted"),
])
def test_provider_failures(kind: str, status: int, message: str) -> None:
    with fake_llm(failing(provider_error(kind))) as llm:
        client = client_for({"fast": ListwiseReranker(llm.model, cache=False, max_retries=1)},
                            retry_after_s=7)
        answer = client.post("/v2/rerank", json=GOOD)
        tei = client.post("/rerank", json={"query": "q", "texts": DOCS})
    assert answer.status_code == status and answer.json()["message"].startswith(message)
    assert tei.status_code == status and tei.json()["error"].startswith(message)
    assert ("retry-after" in answer.headers) == (status == 503)
    if status == 503:
        assert answer.headers["retry-after"] == "7" and llm.calls == 4  # 2 attempts each


def test_budget_stop_is_402(fake: FakeLLM) -> None:
    reranker = PointwiseReranker(fake.model, cache=False, max_calls=2)
    answer = client_for({"fast": reranker}).post("/v2/rerank", json=GOOD)
    assert answer.status_code == 402
    assert answer.json()["message"] == ("the reranker's per-query budget ran out "
                                        "(max_calls=2); send fewer documents")


class Broken(Reranker):
    name = "broken"

    async def _order(self, ctx: RankingContext) -> list[Scored]:
        raise RuntimeError("a bug\nwith a second line")


def test_unexpected_error_is_500_without_traceback(caplog: pytest.LogCaptureFixture) -> None:
    answer = client_for({"broken": Broken()}).post("/v2/rerank", json=GOOD)
    assert answer.status_code == 500
    message = answer.json()["message"]
    assert re.fullmatch(r"internal server error \(id [0-9a-f]{12}\)", message), message
    logged = [r for r in caplog.records if r.name == "llm_rerank.server"]
    assert len(logged) == 1 and logged[0].exc_info is None
    assert logged[0].getMessage().endswith("RuntimeError: a bug")


# ---- configuration ------------------------------------------------------------------------

def test_config_file_json_and_toml(tmp_path: Path) -> None:
    data = {"rerankers": {"fast": {"strategy": "listwise", "model": "openai/x", "step": 5},
                          "exact": {"strategy": "pairwise", "model": "openai/y"}},
            "default": "exact"}
    (tmp_path / "c.json").write_text(json.dumps(data))
    (tmp_path / "c.toml").write_text(
        'default = "exact"\n[rerankers.fast]\nstrategy = "listwise"\nmodel = "openai/x"\n'
        'step = 5\n[rerankers.exact]\nstrategy = "pairwise"\nmodel = "openai/y"\n')
    for name in ("c.json", "c.toml"):
        config = load_config(tmp_path / name)
        assert config == ServeConfig.model_validate(data) and config.default_name == "exact"


@pytest.mark.parametrize(("args", "message"), [
    (["--config", "{dir}/bad.json"], "--config {dir}/bad.json: rerankers.a.model: Field required"),
    (["--config", "{dir}/default.json"], "--config {dir}/default.json: config: default 'b' is "
                                         "not one of the rerankers: a"),
    (["--config", "{dir}/missing.json"], "--config {dir}/missing.json: No such file"),
    (["--config", "{dir}/default.json", "-m", "x"], "--config names the rerankers; -m/--model "
                                                    "apply only without it"),
    ([], "give -m/--model (and -s/--strategy), or --config FILE"),
    (["-m", "openai/x", "-O", "window_sise=3"], "reranker 'listwise': ListwiseReranker got an "
                                                "unknown option 'window_sise'"),
    (["-m", "openai/x", "--max-documents", "0"], "--max-documents: Input should be greater"),
    (["-m", "openai/x", "--auth-token", " "], "the auth token is empty"),
])
def test_serve_refuses_bad_setups(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  args: list[str], message: str) -> None:
    (tmp_path / "bad.json").write_text('{"rerankers": {"a": {"strategy": "listwise"}}}')
    (tmp_path / "default.json").write_text(
        '{"rerankers": {"a": {"strategy": "listwise", "model": "m"}}, "default": "b"}')
    status = main(["serve", *[a.format(dir=tmp_path) for a in args]])
    assert status == 2
    assert capsys.readouterr().err.startswith(f"llm-rerank: error: {message.format(dir=tmp_path)}")


# ---- a real server ------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def judged_dataset(size: int = 12) -> tuple[RerankRequest, dict[str, dict[str, int]]]:
    docs = [Document(id=f"d{n}", text=f"Passage {n} on solar cells, roofs and the grid {n * 7}.")
            for n in range(size)]
    grades = {f"d{n}": (n * 5) % 4 for n in range(size)}
    return RerankRequest("q1", "how do solar panels work", docs), {"q1": grades}


@pytest.fixture
def judged(judge_server: Callable[..., JudgeServer]
           ) -> tuple[RerankRequest, dict[str, int], JudgeServer]:
    request, qrels = judged_dataset()
    return request, qrels["q1"], judge_server([request], qrels)


@pytest.fixture
def live(judged: tuple[RerankRequest, dict[str, int], JudgeServer]) -> Iterator[str]:
    """A uvicorn server on a free port, serving 'listwise' and 'pointwise' over the judge."""
    _, _, judge = judged
    options = {"api_base": judge.url, "api_key": "x", "cache": False}
    app = create_app({"listwise": ListwiseReranker("openai/judge", **options),
                      "pointwise": PointwiseReranker("openai/judge", **options)},
                     settings=ServerSettings(auth_token=TOKEN))
    with served(app) as url:
        yield url


@contextlib.contextmanager
def served(app: Any, **config: Any) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on a free loopback port; yields its base URL.

    >>> with served(create_app({})) as url:  # doctest: +SKIP
    ...     httpx.get(f"{url}/health")
    """
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def best_grades(request: RerankRequest, grades: dict[str, int], indices: list[int]) -> list[int]:
    return [grades[request.documents[i].id or ""] for i in indices]


@pytest.mark.parametrize("model", ["listwise", "pointwise"])
def test_cohere_client_v2(live: str, judged: tuple[RerankRequest, dict[str, int], JudgeServer],
                          model: str) -> None:
    cohere = pytest.importorskip("cohere", reason="needs the 'test-server' extra")
    request, grades, _ = judged
    texts = [d.text for d in request.documents]
    response = cohere.ClientV2(api_key=TOKEN, base_url=live).rerank(
        model=model, query=request.query, documents=texts, top_n=5)
    assert len(response.results) == 5
    assert all(isinstance(r.relevance_score, float) for r in response.results)
    assert best_grades(request, grades, [r.index for r in response.results]) == [3, 3, 3, 2, 2]
    assert response.meta.billed_units.search_units == 1


def test_cohere_client_v1(live: str,
                          judged: tuple[RerankRequest, dict[str, int], JudgeServer]) -> None:
    cohere = pytest.importorskip("cohere", reason="needs the 'test-server' extra")
    request, grades, _ = judged
    texts = [d.text for d in request.documents]
    response = cohere.Client(api_key=TOKEN, base_url=live).rerank(
        model="listwise", query=request.query, documents=texts, return_documents=True)
    indices = [r.index for r in response.results]
    assert sorted(indices) == list(range(len(texts)))
    assert all(isinstance(r.relevance_score, float) for r in response.results)
    assert [r.document.text for r in response.results] == [texts[i] for i in indices]
    assert best_grades(request, grades, indices) == sorted(grades.values(), reverse=True)


def test_cohere_client_sees_401_and_404(live: str) -> None:
    cohere = pytest.importorskip("cohere", reason="needs the 'test-server' extra")
    with pytest.raises(cohere.core.ApiError) as refused:
        cohere.ClientV2(api_key="wrong", base_url=live).rerank(
            model="listwise", query="q", documents=["a"])
    assert refused.value.status_code == 401
    with pytest.raises(cohere.core.ApiError) as unknown:
        cohere.ClientV2(api_key=TOKEN, base_url=live).rerank(
            model="rerank-v3.5", query="q", documents=["a"])
    assert unknown.value.status_code == 404
    assert "unknown model 'rerank-v3.5'" in json.dumps(unknown.value.body)


def test_langchain_cohere_rerank(live: str,
                                 judged: tuple[RerankRequest, dict[str, int], JudgeServer]
                                 ) -> None:
    langchain_cohere = pytest.importorskip("langchain_cohere",
                                           reason="needs the 'test-server' extra")
    from langchain_core.documents import Document as LCDocument

    request, grades, _ = judged
    docs = [LCDocument(page_content=d.text, metadata={"id": d.id}) for d in request.documents]
    reranker = langchain_cohere.CohereRerank(model="listwise", top_n=3, cohere_api_key=TOKEN,
                                             base_url=live)
    kept = reranker.compress_documents(docs, request.query)
    assert [grades[d.metadata["id"]] for d in kept] == [3, 3, 3]
    assert all(isinstance(d.metadata["relevance_score"], float) for d in kept)


def test_tei_through_httpx(live: str,
                           judged: tuple[RerankRequest, dict[str, int], JudgeServer]) -> None:
    request, grades, _ = judged
    texts = [d.text for d in request.documents]
    answer = httpx.post(f"{live}/rerank", json={"query": request.query, "texts": texts,
                                                "return_text": True},
                        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    body = answer.json()
    assert answer.status_code == 200 and len(body) == len(texts)
    assert all(isinstance(r["score"], float) and r["text"] == texts[r["index"]] for r in body)
    assert best_grades(request, grades, [r["index"] for r in body])[:3] == [3, 3, 3]


# ---- the serve process --------------------------------------------------------------------

CLI = "import sys; from llm_rerank.cli import main; sys.exit(main())"
GARBAGE = [
    b"GARBAGE\r\n\r\n",
    b"POST /v2/rerank HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n{",
    b"POST /v2/rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 5\r\n\r\n\xff\xfe\x00\x01\x02",
    b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /rerank HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Type: application/json\r\n\r\nZZ\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)),  # a TLS hello
]


def send_raw(port: int, data: bytes) -> bytes:
    """What the server answers to ``data`` within 3 s (it may keep the connection open)."""
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=3) as connection:
        connection.sendall(data)
        with contextlib.suppress(TimeoutError):
            while chunk := connection.recv(65536):
                chunks.append(chunk)
    return b"".join(chunks)


@contextlib.contextmanager
def serve_process(args: list[str], log: Path, **env: str
                  ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``llm-rerank serve ARGS`` on a free port, stderr to ``log``; killed if still running."""
    port = free_port()
    with log.open("wb") as stream:
        process = subprocess.Popen(
            [sys.executable, "-c", CLI, "serve", *args, "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=stream, env={**os.environ, **env})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # each process loads LiteLLM before it answers
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        yield base, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def judge_args(judge: JudgeServer) -> list[str]:
    return ["-s", "listwise", "-m", "openai/judge", "--api-base", judge.url, "--api-key", "x",
            "--no-cache"]


def test_serve_process_survives_garbage_and_finishes_requests_at_shutdown(
        judge_server: Callable[..., JudgeServer], tmp_path: Path) -> None:
    request, qrels = judged_dataset()
    judge = judge_server([request], qrels, latency_ms=1500)
    log = tmp_path / "stderr"
    with serve_process([*judge_args(judge), "--max-body-bytes", "100000"], log,
                       LLM_RERANK_AUTH_TOKEN=TOKEN) as (base, process):
        port = int(base.rsplit(":", 1)[1])
        answers = [send_raw(port, data) for data in GARBAGE]
        assert all(b"Traceback" not in a for a in answers)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        for _, method, path, headers, body, status, _ in ERRORS[:16]:
            answer = httpx.request(method, base + path, headers={**headers, **auth}, content=body)
            assert answer.status_code == status and "Traceback" not in answer.text
        assert httpx.get(f"{base}/health").status_code == 200
        slow: list[httpx.Response] = []
        worker = threading.Thread(target=lambda: slow.append(httpx.post(
            f"{base}/v2/rerank", headers=auth, timeout=30,
            json={"model": "listwise", "query": request.query,
                  "documents": [d.text for d in request.documents]})))
        worker.start()
        time.sleep(0.5)  # the request is in flight, waiting for the judge
        process.send_signal(signal.SIGTERM)
        worker.join(30)
        assert slow and slow[0].status_code == 200 and len(slow[0].json()["results"]) == 12
        process.wait(timeout=30)
    err = log.read_text()
    assert process.returncode == -signal.SIGTERM  # uvicorn re-raises the signal once done
    assert "Traceback" not in err and "Finished server process" in err, err


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if entry.isdigit() and int(Path(f"/proc/{entry}/stat").read_text()
                                       .rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_serve_together_and_add_up_their_metrics(
        judge_server: Callable[..., JudgeServer], tmp_path: Path) -> None:
    request, qrels = judged_dataset()
    judge = judge_server([request], qrels)
    with serve_process([*judge_args(judge), "--workers", "2", "--no-access-log"],
                       tmp_path / "stderr") as (base, process):
        body = {"query": request.query, "documents": [d.text for d in request.documents]}
        answers = [httpx.post(f"{base}/v2/rerank", json=body, timeout=30) for _ in range(6)]
        metrics = httpx.get(f"{base}/metrics").text
        workers = [pid for pid in children(process.pid)
                   if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert [a.status_code for a in answers] == [200] * 6
    assert 'llm_rerank_http_requests_total{route="/v2/rerank",status="200"} 6.0' in metrics
    assert 'llm_rerank_llm_calls_total{model="listwise"} 6.0' in metrics
    assert len(workers) == 2
