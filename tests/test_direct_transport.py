"""``transport="direct"``: the same answers, usage, cost, errors and retries as LiteLLM's
path, without LiteLLM on the call path."""

from __future__ import annotations

import asyncio
import email.utils
import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from test_throughput import batch_of, dataset, ids

from llm_rerank import InvalidInput, LLMCallError, Usage, get_reranker
from llm_rerank.cli import main
from llm_rerank.failures import classify, retry_after_seconds
from llm_rerank.llm import LLMClient
from llm_rerank.testing import JudgeServer
from llm_rerank.transports.direct import DirectTransport
from llm_rerank.transports.litellm import register_price

MESSAGES = [{"role": "user", "content": "hello"}]
ANSWER = {"choices": [{"message": {"role": "assistant", "content": "[2] > [1]"}}],
          "usage": {"prompt_tokens": 7, "completion_tokens": 3}}
Reply = tuple[int, dict[str, str], bytes]


@contextmanager
def scripted(reply: Callable[[dict[str, Any], dict[str, str]], Reply]) -> Iterator[
        tuple[str, list[tuple[dict[str, Any], dict[str, str]]]]]:
    """A server on 127.0.0.1 that answers each chat completion with ``reply(body,
    headers)`` and records what it was sent."""
    seen: list[tuple[dict[str, Any], dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            headers = {k.lower(): v for k, v in self.headers.items()} | {":path": self.path}
            seen.append((body, headers))
            status, extra, payload = reply(body, headers)
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **extra}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            with suppress(ConnectionError):  # a client that gave up waiting
                self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    finally:
        server.shutdown()
        server.server_close()


def answer(body: dict[str, Any], headers: dict[str, str]) -> Reply:
    return 200, {}, json.dumps(ANSWER).encode()


def client(url: str, **options: Any) -> LLMClient:
    return LLMClient("openai/served", api_base=url, api_key="sk-test", cache=False,
                     transport="direct", **options)


# --- the same results as through LiteLLM -------------------------------------------------

@pytest.mark.parametrize("strategy, options", [
    ("pointwise", {}),
    ("listwise", {"window_size": 4, "step": 2}),
    ("pairwise", {"method": "heapsort", "k": 3}),
    ("setwise", {"k": 3}),
])
def test_direct_ranks_and_counts_as_litellm_does(strategy: str, options: dict[str, Any]) -> None:
    requests, qrels = dataset(2, 8)
    register_price("openai/judge-direct-test", 2e-06, 8e-06)
    outcomes = {}
    with JudgeServer(requests, qrels, noise=0.5, seed=3) as server:
        for transport in ("litellm", "direct"):
            reranker = get_reranker(strategy, model="openai/judge-direct-test",
                                    api_base=server.url, api_key="x", cache=False,
                                    transport=transport, **options)
            results = reranker.rank_batch(batch_of(requests))
            outcomes[transport] = [
                ([(r.document.id, r.score, r.details.get("source")) for r in result],
                 result.usage.llm_calls, result.usage.prompt_tokens,
                 result.usage.completion_tokens, round(result.usage.cost_usd, 12))
                for result in results]
    assert outcomes["direct"] == outcomes["litellm"]
    assert all(cost > 0 for *_, cost in outcomes["direct"])


def test_direct_reads_logprobs() -> None:
    requests, qrels = dataset(1, 4)
    with JudgeServer(requests, qrels) as server:
        reranker = get_reranker("pointwise", model="openai/judge", api_base=server.url,
                                api_key="x", cache=False, transport="direct")
        results = reranker.rank(requests[0].query, requests[0].documents)
    assert {r.details["source"] for r in results} == {"logprobs"}


def test_direct_sends_fields_extra_body_and_headers() -> None:
    with scripted(answer) as (url, seen):
        completion = asyncio.run(client(
            url, temperature=0.0, completion_kwargs={
                "seed": 7, "extra_body": {"top_k": 5}, "extra_headers": {"X-Team": "rank"}},
        ).complete(MESSAGES, Usage(), max_tokens=12, drop_params=True))
    body, headers = seen[0]
    assert body == {"model": "served", "messages": MESSAGES, "temperature": 0.0, "seed": 7,
                    "max_tokens": 12, "top_k": 5}
    assert headers["authorization"] == "Bearer sk-test" and headers["x-team"] == "rank"
    assert (completion.text, completion.prompt_tokens, completion.completion_tokens) == (
        "[2] > [1]", 7, 3)


def test_direct_cost_uses_cache_read_prices() -> None:
    register_price("openai/served", 1e-06, 4e-06)
    cached = {**ANSWER, "usage": {"prompt_tokens": 100, "completion_tokens": 10,
                                  "prompt_tokens_details": {"cached_tokens": 40}}}
    with scripted(lambda b, h: (200, {}, json.dumps(cached).encode())) as (url, _):
        completion = asyncio.run(client(url).complete(MESSAGES, Usage()))
    # register_price prices cached prompts at 0 for a model LiteLLM does not know
    assert completion.cost_usd == pytest.approx(60 * 1e-06 + 10 * 4e-06)


# --- failures: classified, retried and reported as through LiteLLM -----------------------

def test_direct_rate_limits_are_retried_after_what_the_server_says() -> None:
    statuses = [429, 503, 200]
    when = email.utils.formatdate(time.time() - 5, usegmt=True)  # a date in the past: 0 s

    def reply(body: dict[str, Any], headers: dict[str, str]) -> Reply:
        status = statuses.pop(0)
        if status != 200:
            return status, {"Retry-After": "0" if status == 429 else when}, b'{"error": "busy"}'
        return answer(body, headers)

    usage = Usage()
    with scripted(reply) as (url, seen):
        started = time.monotonic()
        completion = asyncio.run(client(url).complete(MESSAGES, usage))
    assert completion.text == "[2] > [1]" and usage.retries == 2 and len(seen) == 3
    assert time.monotonic() - started < 5  # the backoff would wait 0.5 s, then 1 s, or more


def test_direct_errors_keep_status_message_and_retry_after() -> None:
    requests, qrels = dataset(1, 2)
    with JudgeServer(requests, qrels, error_rate=1.0) as server, \
            pytest.raises(LLMCallError) as limited:
        asyncio.run(client(server.url, max_retries=0).complete(MESSAGES, Usage()))
    assert limited.value.transient and limited.value.status_code in (429, 503)
    cause = limited.value.__cause__
    assert cause is not None and classify(cause) == "transient"
    assert retry_after_seconds(cause) == 0.0
    with JudgeServer(requests, qrels) as server, \
            pytest.raises(LLMCallError) as refused:  # the judge cannot read "hello": 400
        asyncio.run(client(server.url).complete(MESSAGES, Usage()))
    assert refused.value.status_code == 400 and not refused.value.transient
    assert refused.value.attempts == 1 and "HTTP 400" in str(refused.value)


def test_direct_connection_refused_is_transient() -> None:
    with scripted(answer) as (url, _):
        pass  # the port is closed now
    fast = client(url, max_retries=1)
    fast.wait = lambda state: 0.0  # type: ignore[assignment,method-assign]
    with pytest.raises(LLMCallError) as raised:
        asyncio.run(fast.complete(MESSAGES, Usage()))
    assert raised.value.transient and raised.value.attempts == 2


def test_direct_stalled_server_times_out_and_is_retried() -> None:
    def stall(body: dict[str, Any], headers: dict[str, str]) -> Reply:
        time.sleep(2)
        return answer(body, headers)

    with scripted(stall) as (url, _):
        fast = client(url, timeout=0.2, max_retries=1)
        fast.wait = lambda state: 0.0  # type: ignore[assignment,method-assign]
        with pytest.raises(LLMCallError) as raised:
            asyncio.run(fast.complete(MESSAGES, Usage()))
    assert raised.value.transient and raised.value.attempts == 2


@pytest.mark.parametrize("payload", [b"<html>proxy login</html>", b'{"choices": []}', b"[]"])
def test_direct_answer_without_a_completion_is_a_clear_transient_error(payload: bytes) -> None:
    """A proxy's page or a hiccup is retried (it was a permanent error, never retried)."""
    with scripted(lambda b, h: (200, {}, payload)) as (url, seen), \
            pytest.raises(LLMCallError) as raised:
        fast = client(url, max_retries=1)
        fast.wait = lambda state: 0.0  # type: ignore[assignment,method-assign]
        asyncio.run(fast.complete(MESSAGES, Usage()))
    assert raised.value.transient and raised.value.attempts == 2 and len(seen) == 2
    assert "without a chat completion" in str(raised.value)


def test_direct_missing_key_is_refused_before_any_request(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with scripted(answer) as (url, seen):
        keyless = LLMClient("openai/served", api_base=url, cache=False, transport="direct")
        with pytest.raises(LLMCallError) as refused:
            asyncio.run(keyless.complete(MESSAGES, Usage()))
    assert not seen and "OPENAI_API_KEY" in str(refused.value)
    assert not refused.value.transient and refused.value.attempts == 1


def test_direct_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    with scripted(answer) as (url, seen):
        keyless = LLMClient("openai/served", api_base=url, cache=False, transport="direct")
        asyncio.run(keyless.complete(MESSAGES, Usage()))
    assert seen[0][1]["authorization"] == "Bearer sk-from-env"


def test_direct_api_key_stays_out_of_errors() -> None:
    def refuse(body: dict[str, Any], headers: dict[str, str]) -> Reply:
        return 401, {}, json.dumps({"error": {"message": "bad key sk-test-secret"}}).encode()

    with scripted(refuse) as (url, _):
        secret = LLMClient("openai/served", api_base=url, api_key="sk-test-secret",
                           cache=False, transport="direct")
        with pytest.raises(LLMCallError) as refused:
            asyncio.run(secret.complete(MESSAGES, Usage()))
    assert "sk-test-secret" not in str(refused.value) and refused.value.status_code == 401


# --- what it cannot send is refused when the reranker is built -----------------------------

@pytest.mark.parametrize("model, options, named", [
    ("ollama/llama3", {}, "'openai/<name>'"),
    ("openai/", {}, "'openai/<name>'"),
    ("openai/m", {"completion_kwargs": {"drop_params": True}}, "'drop_params'"),
    ("openai/m", {"completion_kwargs": {"extra_body": "top_k=5"}}, "'extra_body' must be a dict"),
    ("openai/m", {"transport": "fast"}, "transport"),
    ("openai/m", {"api_base": "localhost:8000/v1"}, "http(s) api_base"),
])
def test_direct_refuses_what_it_cannot_send(model: str, options: dict[str, Any],
                                            named: str) -> None:
    options = {"transport": "direct", **options}
    with pytest.raises(InvalidInput) as refused:
        get_reranker("listwise", model=model, cache=False, **options)
    assert named in str(refused.value)


def test_direct_api_base_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert DirectTransport("openai/gpt-4o-mini", None, None).url == (
        "https://api.openai.com/v1/chat/completions")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert DirectTransport("openai/m", None, None).url == "http://127.0.0.1:9/v1/chat/completions"


def test_direct_goes_through_the_environments_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    with scripted(answer) as (proxy, seen):
        monkeypatch.setenv("HTTP_PROXY", proxy.removesuffix("/v1"))
        via_proxy = LLMClient("openai/served", api_base="http://llm.invalid/v1",
                              api_key="sk-test", cache=False, transport="direct")
        assert asyncio.run(via_proxy.complete(MESSAGES, Usage())).text == "[2] > [1]"
        assert seen[0][1][":path"] == "http://llm.invalid/v1/chat/completions"
        monkeypatch.setenv("NO_PROXY", "llm.invalid")
        assert DirectTransport("openai/m", "http://llm.invalid/v1", None).proxy is None


# --- sessions, event loops, processes ------------------------------------------------------

def test_direct_sessions_close_with_their_loops(tmp_path: Path) -> None:
    """Each asyncio.run loop, and the sync API's loop at exit, closes its session: no
    'Unclosed client session' / 'Unclosed connector' at exit."""
    requests, qrels = dataset(1, 4)
    with JudgeServer(requests, qrels) as server:
        script = textwrap.dedent(f"""
            import asyncio, gc
            from llm_rerank import PointwiseReranker
            rr = PointwiseReranker("openai/judge", api_base={server.url!r}, api_key="x",
                                   cache=False, transport="direct")
            docs = {[d.text for d in requests[0].documents]!r}
            for _ in range(2):
                asyncio.run(rr.arank({requests[0].query!r}, docs))
                gc.collect()
            print(len(rr.rank({requests[0].query!r}, docs)))
        """)
        done = subprocess.run([sys.executable, "-W", "error::ResourceWarning", "-c", script],
                              capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4"
    assert "Unclosed" not in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_direct_batches_spread_over_worker_processes() -> None:
    requests, qrels = dataset(4, 6)
    with JudgeServer(requests, qrels) as server:
        reranker = get_reranker("listwise", model="openai/judge", api_base=server.url,
                                api_key="x", cache=False, transport="direct", window_size=4,
                                step=2)
        alone = reranker.rank_batch(batch_of(requests))
        spread = reranker.rank_batch(batch_of(requests), workers=2)
    assert [ids(r) for r in spread] == [ids(r) for r in alone]
    assert sum(r.usage.llm_calls for r in spread) == sum(r.usage.llm_calls for r in alone)


def test_cli_transport_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    requests, qrels = dataset(2, 4)
    rows = [{"query_id": r.query_id, "query": r.query,
             "candidates": [{"id": d.id, "text": d.text} for d in r.documents]}
            for r in requests]
    source, target = tmp_path / "in.jsonl", tmp_path / "out.trec"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with JudgeServer(requests, qrels) as server:
        command = ["rerank", "-s", "pointwise", "-m", "openai/judge", "--api-base", server.url,
                   "--api-key", "x", "--no-cache", "-i", str(source), "-o", str(target),
                   "--format", "trec"]
        assert main([*command, "--transport", "direct"]) == 0
        assert server.stats().requests == 8
        capsys.readouterr()
        assert main([*command, "--transport", "fast"]) == 2
    assert len(target.read_text().splitlines()) == 8
    error = capsys.readouterr().err
    assert "transport" in error and "Traceback" not in error
