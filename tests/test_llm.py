from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from tenacity import wait_fixed

from llm_rerank import BudgetExceeded, ListwiseReranker, LLMCallError, Usage
from llm_rerank.cache import ResponseCache, cache_key
from llm_rerank.failures import classify, retry_after_seconds, wait_retry_after
from llm_rerank.llm import LLMClient
from llm_rerank.testing import fake_llm
from llm_rerank.transports.litellm import import_litellm

MESSAGES = [{"role": "user", "content": "hello"}]


def rate_limit(retry_after: str | None = "0") -> Exception:
    litellm = import_litellm()
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    response = httpx.Response(429, headers=headers, request=httpx.Request("POST", "http://x"))
    return litellm.RateLimitError("slow down", llm_provider="fake", model="m", response=response)


def test_cache_key_depends_on_what_changes_the_answer() -> None:
    base = cache_key("m", MESSAGES, {"temperature": 0})
    assert base == cache_key("m", MESSAGES, {"temperature": 0, "api_key": "secret", "timeout": 3})
    assert base != cache_key("m2", MESSAGES, {"temperature": 0})
    assert base != cache_key("m", [{"role": "user", "content": "hello!"}], {"temperature": 0})
    assert base != cache_key("m", MESSAGES, {"temperature": 0.7})
    assert "secret" not in cache_key("m", MESSAGES, {"api_key": "secret"})


async def test_second_client_on_same_dir_hits_cache(tmp_path: Path) -> None:
    with fake_llm(lambda messages: "hi there") as fake:
        first, second = Usage(), Usage()
        await LLMClient(fake.model, cache=tmp_path).complete(MESSAGES, first)
        answer = await LLMClient(fake.model, cache=tmp_path).complete(MESSAGES, second)
    assert answer.text == "hi there" and answer.cached
    assert (first.llm_calls, first.cache_hits, second.llm_calls, second.cache_hits) == (1, 0, 0, 1)
    assert fake.calls == 1 and first.prompt_tokens > 0 and second.prompt_tokens == 0


async def test_cache_false_always_calls() -> None:
    with fake_llm(lambda messages: "x") as fake:
        client = LLMClient(fake.model, cache=False)
        for _ in range(2):
            await client.complete(MESSAGES, Usage())
    assert fake.calls == 2


async def test_default_cache_dir_comes_from_environment(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_RERANK_CACHE_DIR", str(tmp_path / "envcache"))
    client = LLMClient("fake/x", cache=True)
    assert isinstance(client._cache, ResponseCache)
    assert client._cache.directory == tmp_path / "envcache"


async def test_transient_errors_are_retried_and_counted() -> None:
    answers: list[Exception | str] = [rate_limit(), rate_limit(), "ok"]

    def respond(messages: object) -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with fake_llm(respond) as fake:
        usage = Usage()
        completion = await LLMClient(fake.model, cache=False, max_retries=3).complete(
            MESSAGES, usage)
    assert completion.text == "ok" and usage.retries == 2 and usage.llm_calls == 1


async def test_retries_give_up_with_the_cause() -> None:
    def respond(messages: object) -> str:
        raise rate_limit()

    with fake_llm(respond) as fake:
        usage = Usage()
        with pytest.raises(LLMCallError, match="after 3 attempt") as info:
            await LLMClient(fake.model, cache=False, max_retries=2).complete(MESSAGES, usage)
    assert fake.calls == 3 and usage.retries == 2 and usage.llm_calls == 0
    assert type(info.value.__cause__).__name__ == "RateLimitError"


async def test_auth_errors_are_not_retried() -> None:
    litellm = import_litellm()

    def respond(messages: object) -> str:
        raise litellm.AuthenticationError("bad key", llm_provider="fake", model="m")

    with fake_llm(respond) as fake, pytest.raises(LLMCallError, match="permanent"):
        await LLMClient(fake.model, cache=False, max_retries=5).complete(MESSAGES, Usage())
    assert fake.calls == 1


def test_transient_classification_and_retry_after() -> None:
    litellm = import_litellm()
    assert classify(rate_limit()) == "transient"
    assert classify(litellm.Timeout("t", model="m", llm_provider="p")) == "transient"
    assert classify(litellm.BadRequestError("b", model="m", llm_provider="p")) == "permanent"
    assert classify(ValueError("not an API error")) == "permanent"
    assert retry_after_seconds(rate_limit("2.5")) == 2.5
    assert retry_after_seconds(rate_limit(None)) is None


def test_backoff_honours_retry_after_and_caps() -> None:
    class State:
        attempt_number = 3

        class outcome:
            @staticmethod
            def exception() -> Exception:
                return rate_limit("7")

    assert wait_retry_after(wait_fixed(1), cap=30)(State()) == 7  # type: ignore[arg-type]
    assert wait_retry_after(wait_fixed(1), cap=5)(State()) == 5  # type: ignore[arg-type]


async def test_max_concurrency_bounds_in_flight_calls() -> None:
    with fake_llm(lambda messages: "x", latency=0.05) as fake:
        client = LLMClient(fake.model, cache=False, max_concurrency=3)
        started = time.perf_counter()
        await asyncio.gather(*(
            client.complete([{"role": "user", "content": str(i)}], Usage()) for i in range(12)))
        elapsed = time.perf_counter() - started
    assert fake.peak_in_flight == 3
    assert elapsed >= 4 * 0.05


async def test_known_models_are_costed() -> None:
    usage = Usage()
    client = LLMClient("openai/gpt-4o-mini", cache=False,
                       completion_kwargs={"mock_response": "[1] > [2]"})
    await client.complete(MESSAGES, usage)
    assert usage.cost_usd > 0 and usage.llm_calls == 1


def test_bad_client_options() -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        LLMClient("m", cache=False, max_concurrency=0)
    with pytest.raises(ValueError, match="max_retries"):
        LLMClient("m", cache=False, max_retries=-1)


async def test_budget_stops_a_run() -> None:
    with fake_llm(lambda messages: "[1] > [2]") as fake:
        reranker = ListwiseReranker(fake.model, cache=False, window_size=4, step=2, max_calls=2)
        with pytest.raises(BudgetExceeded, match="max_calls=2"):
            await reranker.arank("q", [f"d{i}" for i in range(10)])


def test_cache_is_shared_across_processes(tmp_path: Path) -> None:
    import subprocess
    import sys

    writer = (
        "import asyncio, sys\n"
        "from llm_rerank.llm import LLMClient\nfrom llm_rerank.models import Usage\n"
        "client = LLMClient('openai/gpt-4o-mini', cache=sys.argv[1],\n"
        "                   completion_kwargs={'mock_response': 'from another process'})\n"
        "asyncio.run(client.complete([{'role': 'user', 'content': 'hello'}], Usage()))\n"
    )
    subprocess.run([sys.executable, "-c", writer, str(tmp_path)], check=True, timeout=120)
    usage = Usage()
    client = LLMClient("openai/gpt-4o-mini", cache=tmp_path,
                       completion_kwargs={"mock_response": "from another process"})
    answer = asyncio.run(client.complete(MESSAGES, usage))
    assert answer.cached and answer.text == "from another process"
    assert (usage.llm_calls, usage.cache_hits) == (0, 1)
