"""Issue 8, the production call path: budgets, clean failure, timeouts, retries, repairs,
cache keys, secrets and registries. Each test names the defect it pins."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from graded_docs import BEST_FIRST, GRADES, docs, prompt
from pydantic import BaseModel

from llm_rerank import (
    BudgetExceeded,
    InvalidInput,
    ListwiseReranker,
    LLMCallError,
    PairwiseReranker,
    PointwiseReranker,
    RerankError,
    SetwiseReranker,
    Usage,
    get_reranker,
    register_reranker,
)
from llm_rerank.budget import Budget
from llm_rerank.cache import ResponseCache, cache_key
from llm_rerank.failures import classify, retry_after_seconds
from llm_rerank.llm import LLMClient
from llm_rerank.reranker import RankingContext, Reranker, Scored
from llm_rerank.testing import fake_llm
from llm_rerank.transports.litellm import import_litellm

MESSAGES = [{"role": "user", "content": "hello"}]


def litellm_error(kind: str, status: int, message: str = "boom",
                  headers: dict[str, str] | None = None) -> Exception:
    litellm = import_litellm()
    response = httpx.Response(status, headers=headers or {},
                              request=httpx.Request("POST", "http://x"))
    cls = getattr(litellm, kind)
    if kind in ("RateLimitError", "ServiceUnavailableError", "InternalServerError",
                "AuthenticationError", "BadRequestError", "NotFoundError"):
        return cls(message, llm_provider="fake", model="m", response=response)
    return cls(message=message, llm_provider="fake", model="m")


def grade_of(text: str, index: int) -> int:
    return int(text.split("grade ")[index + 1].split()[0].rstrip("]"))


def pointwise_answer(messages: list[dict[str, str]]) -> str:
    grade = int(prompt(messages).split("grade ")[1].split()[0])
    return "very likely" if grade > 13 else "likely" if grade > 6 else "unlikely"


def pairwise_answer(messages: list[dict[str, str]]) -> str:
    text = prompt(messages)
    a = int(text.split("Passage A: doc ")[1].split("grade ")[1].split()[0])
    b = int(text.split("Passage B: doc ")[1].split("grade ")[1].split()[0])
    return "Passage A" if a >= b else "Passage B"


# --- budgets -------------------------------------------------------------------------------

@pytest.mark.parametrize("strategy, options, respond", [
    ("pointwise", {}, pointwise_answer),
    ("pairwise", {"method": "allpair"}, pairwise_answer),
    ("pairwise", {"method": "heapsort"}, pairwise_answer),
    ("pairwise", {"method": "sliding"}, pairwise_answer),
])
def test_max_calls_holds_exactly_under_concurrency(strategy: str, options: dict[str, Any],
                                                   respond: Any) -> None:
    """Defect: max_calls=5 made 20 pointwise calls, 380 allpair and N+1 heapsort/sliding."""
    with fake_llm(respond) as fake:
        reranker = get_reranker(strategy, model=fake.model, cache=False, max_calls=5,
                                on_budget="keep_order", max_concurrency=16, **options)
        results = reranker.rank("q", docs(GRADES))
    assert fake.calls == 5
    assert sorted(r.index for r in results) == list(range(20))
    assert results.stopped == "budget" and "max_calls=5" in (results.budget_note or "")


def test_failed_attempts_count_against_the_budget() -> None:
    """Defect: an always-429 provider with max_calls=2 got 18 requests."""
    def respond(messages: object) -> str:
        raise litellm_error("RateLimitError", 429, headers={"retry-after": "0"})

    with fake_llm(respond) as fake:
        reranker = ListwiseReranker(fake.model, cache=False, max_calls=2)
        with pytest.raises(BudgetExceeded):
            reranker.rank("q", docs(GRADES))
    assert fake.calls == 2


def test_budget_exceeded_carries_the_partial_ranking() -> None:
    """Defect: BudgetExceeded returned no partial ranking."""
    with fake_llm(lambda m: "[2] > [1]") as fake:
        reranker = ListwiseReranker(fake.model, cache=False, max_calls=3, window_size=4, step=2)
        with pytest.raises(BudgetExceeded) as raised:
            reranker.rank("q", docs(GRADES))
    partial = raised.value.results
    assert partial is not None and partial.stopped == "budget"
    assert sorted(r.index for r in partial) == list(range(20)) and fake.calls == 3


def test_token_budget_holds_within_one_calls_estimate() -> None:
    """Defect: there was no token limit."""
    with fake_llm(pointwise_answer) as fake:
        reranker = PointwiseReranker(fake.model, cache=False, max_budget_tokens=400,
                                     on_budget="keep_order")
        results = reranker.rank("q", docs(GRADES))
    spent = results.usage.prompt_tokens + results.usage.completion_tokens
    assert 0 < fake.calls < 20 and results.stopped == "budget"
    one_call = max(len(str(r["messages"])) for r in fake.requests)  # generous bound
    assert spent <= 400 + one_call


def test_cost_budget_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect: there was no cost limit."""
    with fake_llm(pointwise_answer) as fake:
        import_litellm().register_model({fake.model: {
            "input_cost_per_token": 0.001, "output_cost_per_token": 0.002,
            "litellm_provider": "fake", "mode": "chat", "max_input_tokens": 100_000}})
        reranker = PointwiseReranker(fake.model, cache=False, max_cost_usd=0.2,
                                     on_budget="keep_order", use_logprobs=False)
        results = reranker.rank("q", docs(GRADES))
    assert results.stopped == "budget" and 0 < fake.calls < 20
    assert results.usage.cost_usd <= 0.2 + 0.1


def test_a_batch_budget_is_shared_by_its_queries() -> None:
    with fake_llm(pointwise_answer) as fake:
        reranker = PointwiseReranker(fake.model, cache=False, on_budget="keep_order")
        batch = [("q1", docs(GRADES)), ("q2", docs(GRADES))]
        results = reranker.rank_batch(batch, budget=Budget(max_calls=7))
    assert fake.calls == 7 and all(sorted(r.index for r in res) == list(range(20))
                                   for res in results)


def test_budget_reservations_are_exact_under_asyncio() -> None:
    async def spend(budget: Budget) -> bool:
        await asyncio.sleep(0)
        return budget.reserve() is not None

    async def main() -> int:
        budget = Budget(max_calls=5, parent=Budget(max_calls=100))
        return sum(await asyncio.gather(*(spend(budget) for _ in range(50))))

    assert asyncio.run(main()) == 5


# --- clean failure -------------------------------------------------------------------------

def test_a_failing_query_cancels_its_siblings() -> None:
    """Defect: after rank_batch raised, the other queries kept calling the provider."""
    started: list[float] = []
    failed_at: list[float] = []

    def respond(messages: list[dict[str, str]]) -> str:
        started.append(time.monotonic())
        if "poison" in prompt(messages):
            failed_at.append(time.monotonic())
            raise litellm_error("BadRequestError", 400, "bad")
        return "likely"

    with fake_llm(respond, latency=0.05) as fake:
        reranker = PointwiseReranker(fake.model, cache=False, max_concurrency=2)
        batch = [("q", ["poison", *docs(GRADES)])] + [(f"q{i}", docs(GRADES)) for i in range(5)]
        with pytest.raises(LLMCallError):
            reranker.rank_batch(batch)
        calls_at_failure = fake.calls
        time.sleep(0.3)
    assert fake.calls == calls_at_failure
    assert not [t for t in started if t > failed_at[0] + 0.06]  # none after the failure


def test_return_exceptions_keeps_results_and_errors_in_place() -> None:
    def respond(messages: list[dict[str, str]]) -> str:
        if "poison" in prompt(messages):
            raise litellm_error("BadRequestError", 400, "bad")
        return "likely"

    with fake_llm(respond) as fake:
        reranker = PointwiseReranker(fake.model, cache=False)
        out = reranker.rank_batch([("a", ["x", "y"]), ("b", ["poison", "z"]), ("c", ["w", "v"])],
                                  return_exceptions=True)
    assert [type(o).__name__ for o in out] == ["RankedResults", "LLMCallError", "RankedResults"]


FAILING_BATCH = textwrap.dedent("""
    import sys
    from llm_rerank import PointwiseReranker
    from llm_rerank.transports.litellm import import_litellm
    from llm_rerank.testing import fake_llm

    def respond(messages):
        if "poison" in messages[-1]["content"]:
            raise import_litellm().BadRequestError("bad", llm_provider="fake", model="m")
        return "likely"

    with fake_llm(respond, latency=0.05) as fake:
        reranker = PointwiseReranker(fake.model, cache=False)
        batch = [("q", ["poison"] + ["d"] * 5)] + [(f"q{i}", [f"d{j}" for j in range(30)])
                                                  for i in range(8)]
        try:
            reranker.rank_batch(batch)
        except Exception as exc:
            print("raised", type(exc).__name__, fake.calls, flush=True)
    # no explicit cleanup: the process must exit by itself
""")


def test_process_exits_after_a_failed_batch(tmp_path: Path) -> None:
    """Defect: a process could hang at exit on the daemon loop after a failed batch."""
    script = tmp_path / "failing_batch.py"
    script.write_text(FAILING_BATCH)
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("raised LLMCallError")


# --- timeouts and deadlines ----------------------------------------------------------------

@pytest.mark.parametrize("timeout", [0, -1, float("nan"), "1"])
def test_timeout_must_be_positive(timeout: object) -> None:
    """Defect: timeout=0 meant no timeout and timeout=-1 failed every call."""
    with pytest.raises(InvalidInput, match="timeout"):
        ListwiseReranker("openai/x", cache=False, timeout=timeout)


def test_default_timeout_is_documented_and_set() -> None:
    """Defect: there was no default timeout."""
    reranker = ListwiseReranker("openai/x", cache=False)
    assert reranker.llm.timeout == reranker.options.timeout == 60.0


async def test_a_stalled_provider_times_out_and_is_retried() -> None:
    with fake_llm(lambda m: "late", latency=30) as fake:
        client = LLMClient(fake.model, cache=False, timeout=0.2, max_retries=1)
        started = time.monotonic()
        with pytest.raises(LLMCallError) as raised:
            await client.complete(MESSAGES, Usage())
    assert raised.value.transient and raised.value.attempts == 2
    assert time.monotonic() - started < 5


def test_deadline_keeps_the_order_of_what_was_not_reached() -> None:
    with fake_llm(lambda m: "[2] > [1]", latency=0.15) as fake:
        reranker = ListwiseReranker(fake.model, cache=False, deadline_s=0.4)
        results = reranker.rank("q", docs(list(range(100))))
    assert results.stopped == "deadline" and 1 <= fake.calls < 9
    assert sorted(r.index for r in results) == list(range(100))


# --- retries -------------------------------------------------------------------------------

def test_unreadable_retry_after_falls_back_to_backoff() -> None:
    """Defect: 'Retry-After: soon' turned into a permanent error with no retry."""
    error = litellm_error("RateLimitError", 429, headers={"retry-after": "soon"})
    assert retry_after_seconds(error) is None
    answers: list[Any] = [error, "[1] > [2]"]

    def respond(messages: object) -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    with fake_llm(respond) as fake:
        results = ListwiseReranker(fake.model, cache=False).rank("q", ["a", "b"])
    assert fake.calls == 2 and results.usage.retries == 1


def test_a_bug_inside_a_provider_is_not_retried_nor_absorbed() -> None:
    """Defect: a TypeError in a provider came back as APIConnectionError, was retried, and
    keep_order swallowed it."""
    def respond(messages: object) -> str:
        raise TypeError("unsupported operand")

    with fake_llm(respond) as fake:
        reranker = ListwiseReranker(fake.model, cache=False, on_error="keep_order")
        with pytest.raises(Exception) as raised:
            reranker.rank("q", ["a", "b"])
    assert fake.calls == 1
    assert not isinstance(raised.value, LLMCallError)
    assert classify(raised.value) == "bug"


def test_missing_credentials_fail_at_once_naming_the_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect: missing credentials were labelled transient and retried 4 times."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    reranker = ListwiseReranker("openai/gpt-4o-mini", cache=False)
    started = time.monotonic()
    with pytest.raises(LLMCallError) as raised:
        reranker.rank("q", ["a", "b"])
    assert not raised.value.transient and raised.value.attempts == 1
    assert "OPENAI_API_KEY" in str(raised.value) and time.monotonic() - started < 5


@pytest.mark.parametrize("kind, status, expected", [
    ("RateLimitError", 429, "transient"), ("ServiceUnavailableError", 503, "transient"),
    ("InternalServerError", 500, "transient"), ("Timeout", 408, "transient"),
    ("BadRequestError", 400, "permanent"), ("AuthenticationError", 401, "permanent"),
    ("NotFoundError", 404, "permanent"),
])
def test_errors_are_classified_by_status_and_mapped_type(kind: str, status: int,
                                                         expected: str) -> None:
    assert classify(litellm_error(kind, status)) == expected


def test_default_retries_survive_heavy_rate_limiting() -> None:
    """Defect: at 20% injected 429/503 a listwise batch failed about 1 run in 6."""
    import random

    rng = random.Random(7)

    def respond(messages: list[dict[str, str]]) -> str:
        if rng.random() < 0.3:
            raise litellm_error("RateLimitError", 429, headers={"retry-after": "0"})
        return "[2] > [1] > [3]"

    with fake_llm(respond) as fake:
        reranker = ListwiseReranker(fake.model, cache=False, window_size=4, step=2)
        results = reranker.rank_batch([(f"q{i}", docs(GRADES)) for i in range(10)])
    assert len(results) == 10 and fake.calls > 90


# --- unusable answers ----------------------------------------------------------------------

def test_an_unusable_answer_is_repaired_and_never_cached(tmp_path: Path) -> None:
    """Defect: a garbage answer kept the window's order, was cached and replayed."""
    answers = ["I cannot rank these.", "[2] > [1]"]
    with fake_llm(lambda m: answers.pop(0) if answers else "[2] > [1]") as fake:
        reranker = ListwiseReranker(fake.model, cache=tmp_path)
        first = reranker.rank("q", ["a", "b"])
        second = reranker.rank("q", ["a", "b"])
    assert [r.document.text for r in first] == ["b", "a"]
    assert first.usage.repairs == 1 and first.usage.parse_failures == 0
    repair = fake.requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": "I cannot rank these."}
    assert "could not be read" in repair[-1]["content"]
    assert second.usage.cache_hits == 1 and second.usage.llm_calls == 0


def test_a_partial_listwise_answer_is_asked_again_and_not_cached(tmp_path: Path) -> None:
    """Defect: a truncated answer ("[3] > [") put its few ids first and the rest in window
    order, was cached and replayed; 10% such answers cost 0.04 nDCG@10 on DL19."""
    answers = ["[3] > [", "[3] > [2] > [1]"]
    with fake_llm(lambda m: answers.pop(0) if answers else "[3] > [2] > [1]") as fake:
        reranker = ListwiseReranker(fake.model, cache=tmp_path)
        first = reranker.rank("q", ["a", "b", "c"])
        again = reranker.rank("q", ["a", "b", "c"])
    assert [r.document.text for r in first] == ["c", "b", "a"]
    assert first.usage.repairs == 1 and fake.calls == 2
    assert "did not rank every passage" in fake.requests[1]["messages"][-1]["content"]
    assert again.usage.cache_hits == 1 and again.usage.llm_calls == 0


def test_a_partial_answer_is_used_when_no_whole_one_comes(tmp_path: Path) -> None:
    with fake_llm(lambda m: "[3] > [") as fake:
        reranker = ListwiseReranker(fake.model, cache=tmp_path)
        results = reranker.rank("q", ["a", "b", "c"])
        again = reranker.rank("q", ["a", "b", "c"])
    assert [r.document.text for r in results] == ["c", "a", "b"]
    assert results.usage.parse_failures == 0 and results.usage.repairs == 1
    assert fake.calls == 4 and again.usage.cache_hits == 0


def test_garbage_is_not_cached_when_repair_fails(tmp_path: Path) -> None:
    with fake_llm(lambda m: "no idea") as fake:
        reranker = ListwiseReranker(fake.model, cache=tmp_path, parse_retries=0)
        reranker.rank("q", ["a", "b"])
        again = reranker.rank("q", ["a", "b"])
    assert fake.calls == 2 and again.usage.cache_hits == 0 and again.usage.parse_failures == 1


# --- cache keys and files ------------------------------------------------------------------

def test_cache_keys_are_canonical() -> None:
    """Defects: temperature=0 and 0.0 made different keys; a pydantic response_format raised
    TypeError; a lone surrogate raised UnicodeEncodeError."""
    assert cache_key("m", MESSAGES, {"temperature": 0}) == cache_key(
        "m", MESSAGES, {"temperature": 0.0})

    class Answer(BaseModel):
        ranking: list[int]

    assert len(cache_key("m", MESSAGES, {"response_format": Answer})) == 64
    assert len(cache_key("m", [{"role": "user", "content": "bad \ud800 text"}], {})) == 64
    with pytest.raises(InvalidInput, match="response_format"):
        cache_key("m", MESSAGES, {"response_format": object()})


async def test_samples_at_a_temperature_are_keyed_apart(tmp_path: Path) -> None:
    """Defect: answers sampled at temperature > 0 were cached as one."""
    counter = iter(range(100))
    with fake_llm(lambda m: f"answer {next(counter)}") as fake:
        client = LLMClient(fake.model, cache=tmp_path, temperature=0.8)
        texts = [(await client.complete(MESSAGES, Usage(), sample=i)).text for i in (0, 1, 0)]
    assert texts[0] != texts[1] and texts[2] == texts[0] and fake.calls == 2


def test_a_lone_surrogate_in_a_document_is_ranked(tmp_path: Path) -> None:
    with fake_llm(lambda m: "[2] > [1]") as fake:
        results = ListwiseReranker(fake.model, cache=tmp_path).rank("q", ["a \ud800", "b"])
    assert [r.index for r in results] == [1, 0]


def test_a_damaged_cache_names_its_path(tmp_path: Path) -> None:
    """Defect: a damaged cache file gave a bare sqlite3.DatabaseError."""
    directory = tmp_path / "cache"
    ResponseCache(directory).set("k", {"text": "x"})
    (directory / "cache.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(RerankError, match=str(directory)) as raised:
        ResponseCache(directory).get("k")
    assert isinstance(raised.value.__cause__, sqlite3.DatabaseError)
    assert "delete that directory" in str(raised.value)


# --- secrets -------------------------------------------------------------------------------

def test_api_keys_are_kept_out_of_reprs_errors_and_results() -> None:
    """Defects: repr(reranker.llm) showed the key; an error body echoing it was copied."""
    key = "sk-live-0123456789abcdef"

    def respond(messages: object) -> str:
        raise litellm_error("BadRequestError", 400, f"invalid key {key} for this model")

    with fake_llm(respond) as fake:
        reranker = ListwiseReranker(fake.model, cache=False, api_key=key, on_error="keep_order")
        results = reranker.rank("q", ["a", "b"])
        assert key not in repr(reranker.llm) and key not in repr(reranker)
        with pytest.raises(LLMCallError) as raised:
            ListwiseReranker(fake.model, cache=False, api_key=key).rank("q", ["a", "b"])
    assert results.errors and all(key not in e for e in results.errors)
    assert key not in str(raised.value) and "***" in str(raised.value)


# --- registries ----------------------------------------------------------------------------

def test_register_reranker_keeps_classes_defined_anywhere() -> None:
    """Defect: register_reranker turned the class into 'module:qualname', so classes defined
    in a function or a notebook failed."""
    class Reverse(Reranker):
        name = "reverse-local"

        async def _order(self, ctx: RankingContext) -> list[Scored]:
            return [Scored(i) for i in reversed(range(len(ctx.documents)))]

    register_reranker("reverse-local", Reverse)
    results = get_reranker("reverse-local").rank("q", ["a", "b", "c"])
    assert [r.index for r in results] == [2, 1, 0]


def test_strategies_load_from_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import EntryPoint

    import llm_rerank.registry as registry_module
    from llm_rerank import plugins

    point = EntryPoint(name="plugged", value="llm_rerank.strategies.setwise:SetwiseReranker",
                       group="llm_rerank.strategies")
    monkeypatch.setattr(plugins, "entry_points", lambda group: [point])
    assert "plugged" in registry_module.reranker_names()
    assert isinstance(get_reranker("plugged", model="openai/x", cache=False), SetwiseReranker)


def test_providers_register_by_prefix_through_one_hook() -> None:
    from llm_rerank import providers

    with fake_llm(lambda m: "[1] > [2]") as fake:
        handler = providers.ensure_provider(fake.model)
        providers.register_provider_factory("alias", lambda: handler)
        alias = fake.model.replace("fake/", "alias/")
        results = ListwiseReranker(alias, cache=False).rank("q", ["a", "b"])
    assert [r.index for r in results] == [0, 1] and fake.calls == 1


def test_llm_module_names_no_provider() -> None:
    for path in (Path(import_litellm.__code__.co_filename),
                 Path(LLMClient.complete.__code__.co_filename)):
        source = path.read_text()
        assert "local/" not in source and "from .local" not in source, path


# --- keep the old guarantees under the new path --------------------------------------------

def test_keep_order_flags_errors_without_losing_documents() -> None:
    def respond(messages: object) -> str:
        raise litellm_error("BadRequestError", 400, "nope")

    with fake_llm(respond) as fake:
        results = PairwiseReranker(fake.model, cache=False, on_error="keep_order").rank(
            "q", docs(GRADES[:6]))
    assert sorted(r.index for r in results) == list(range(6)) and results.errors


def test_perfect_judges_still_rank_under_the_new_path() -> None:
    def listwise(messages: list[dict[str, str]]) -> str:
        text = prompt(messages)
        lines = [line for line in text.splitlines() if line.startswith("[")]
        ranked = sorted(range(len(lines)), key=lambda i: -grade_of(lines[i], 0))
        return " > ".join(f"[{i + 1}]" for i in ranked)

    with fake_llm(listwise) as fake:
        results = ListwiseReranker(fake.model, cache=False).rank("q", docs(GRADES))
    assert [r.index for r in results][:5] == BEST_FIRST[:5]


CANCELLING_BATCH = """
from llm_rerank import PointwiseReranker
from llm_rerank.errors import LLMCallError
from llm_rerank.testing import fake_llm
from llm_rerank.transports.litellm import import_litellm

def respond(messages):
    if "poison" in messages[-1]["content"]:
        raise import_litellm().BadRequestError("bad", llm_provider="fake", model="m")
    return "likely"

with fake_llm(respond, latency=0.05) as fake:
    reranker = PointwiseReranker(fake.model, cache=False, max_concurrency=8)
    batch = [("q", ["poison", *(f"doc {i}" for i in range(8))])]
    batch += [(f"q{n}", [f"text {n} {i}" for i in range(8)]) for n in range(6)]
    for _ in range(3):
        try:
            reranker.rank_batch(batch)
        except LLMCallError:
            print("cancelled")
"""


def test_a_cancelled_batch_is_quiet() -> None:
    """Defect: a batch cancelled by a failing query printed "coroutine ... was never
    awaited" (LiteLLM builds the provider's coroutine in a thread; a call cancelled
    meanwhile dropped it) and, at exit, "Task was destroyed but it is pending!"."""
    done = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c",
                           CANCELLING_BATCH], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.stdout.split() == ["cancelled"] * 3, done.stderr
    assert "never awaited" not in done.stderr and "Task was destroyed" not in done.stderr, \
        done.stderr
