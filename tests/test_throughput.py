"""Client throughput: LiteLLM's settings keep behaviour, prices, the context-window lookup,
worker processes, and runs that never import LiteLLM."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from graded_docs import GRADES, docs, prompt

from llm_rerank import (
    InvalidInput,
    LLMCallError,
    PointwiseReranker,
    RankedResults,
    Usage,
    get_reranker,
)
from llm_rerank.budget import Budget
from llm_rerank.eval.io import RerankRequest
from llm_rerank.failures import classify, retry_after_seconds
from llm_rerank.llm import LLMClient
from llm_rerank.models import Document
from llm_rerank.reranker import RankingContext, Reranker, Scored
from llm_rerank.testing import JudgeServer, fake_llm
from llm_rerank.transports import litellm as litellm_transport
from llm_rerank.transports.litellm import estimate_cost, import_litellm, register_price

QUERY = "how do solar panels make electricity"
HANDLER = "EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER"


def dataset(queries: int = 4, size: int = 12) -> tuple[list[RerankRequest],
                                                        dict[str, dict[str, int]]]:
    requests, qrels = [], {}
    for q in range(queries):
        documents = [Document(id=f"q{q}d{n}", text=f"Passage {n} of query {q} about the sun.")
                     for n in range(size)]
        requests.append(RerankRequest(f"q{q}", f"{QUERY} {q}", documents))
        qrels[f"q{q}"] = {f"q{q}d{n}": (n * 5) % 4 for n in range(size)}
    return requests, qrels


def batch_of(requests: list[RerankRequest]) -> list[tuple[str, list[Document]]]:
    return [(r.query, r.documents) for r in requests]


def ids(results: RankedResults) -> list[str | None]:
    return [r.document.id for r in results]


# --- LiteLLM's own HTTP handler: errors, Retry-After, usage, logprobs and cost unchanged ----

def test_openai_calls_go_through_litellms_own_http_handler() -> None:
    LLMClient("openai/judge", cache=False)
    assert os.environ[HANDLER] == "true"
    script = ("import os; from llm_rerank import llm, transports; "
              f"print(os.environ.get('{HANDLER}')); llm.LLMClient('openai/x', cache=False); "
              "transports.litellm.import_litellm(); "
              f"print(os.environ['{HANDLER}'])")
    environment = {k: v for k, v in os.environ.items() if k != HANDLER}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env=environment, check=True)
    assert done.stdout.split() == ["None", "true"]  # set where the transport is built
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env={**environment, HANDLER: "false"}, check=True)
    assert done.stdout.split() == ["false", "false"]  # a value the user set is kept


async def test_usage_cost_and_logprobs_come_through_the_handler() -> None:
    requests, qrels = dataset(1, 3)
    register_price("openai/judge-usage-test", 2e-06, 8e-06)
    with JudgeServer(requests, qrels) as server:
        reranker = PointwiseReranker("openai/judge-usage-test", api_base=server.url,
                                     api_key="x", cache=False)
        results = await reranker.arank(requests[0].query, requests[0].documents)
        seen = server.stats()
    usage = results.usage
    assert {r.details["source"] for r in results} == {"logprobs"}
    assert (usage.prompt_tokens, usage.completion_tokens) == (seen.prompt_tokens,
                                                             seen.completion_tokens)
    expected = usage.prompt_tokens * 2e-06 + usage.completion_tokens * 8e-06
    assert usage.cost_usd == pytest.approx(expected)


async def test_errors_and_retry_after_come_through_the_handler() -> None:
    requests, qrels = dataset(1, 2)
    messages = [{"role": "user", "content": f"Search query: {QUERY} 0\n\n[1] a\n[2] b"}]
    with JudgeServer(requests, qrels, error_rate=1.0) as server:
        client = LLMClient("openai/judge", api_base=server.url, api_key="x", cache=False,
                           max_retries=0)
        with pytest.raises(LLMCallError) as limited:
            await client.complete(messages, Usage())
    assert limited.value.transient and limited.value.status_code in (429, 503)
    cause = limited.value.__cause__
    assert cause is not None and classify(cause) == "transient"
    assert retry_after_seconds(cause) == 0.0
    with JudgeServer(requests, qrels) as server:
        client = LLMClient("openai/judge", api_base=server.url, api_key="x", cache=False)
        with pytest.raises(LLMCallError) as refused:  # the judge cannot read this prompt: 400
            await client.complete([{"role": "user", "content": "hello"}], Usage())
    assert refused.value.status_code == 400 and not refused.value.transient
    assert refused.value.attempts == 1


def test_a_missing_key_is_refused_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """The handler would send a call without a key; the OpenAI SDK refused it at once."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    requests, qrels = dataset(1, 2)
    with JudgeServer(requests, qrels) as server:
        reranker = PointwiseReranker("openai/judge", api_base=server.url, cache=False)
        with pytest.raises(LLMCallError) as refused:
            reranker.rank(requests[0].query, requests[0].documents)
        assert server.stats().requests == 0
    assert not refused.value.transient and refused.value.attempts == 1
    assert str(refused.value).count("OPENAI_API_KEY") == 2  # the error and the hint


# --- prices and the context window -------------------------------------------------------

def test_a_registered_price_is_counted_and_checked() -> None:
    assert estimate_cost("openai/unpriced-model-x", 1000, 100) == 0.0
    register_price("openai/unpriced-model-x", 1e-06, 3e-06)
    assert estimate_cost("openai/unpriced-model-x", 1000, 100) == pytest.approx(0.0013)
    with pytest.raises(InvalidInput, match="input_cost_per_token"):
        register_price("openai/unpriced-model-x", -1.0, 0.0)
    with pytest.raises(InvalidInput, match="output_cost_per_token"):
        register_price("openai/unpriced-model-x", 0.0, "free")  # type: ignore[arg-type]


def test_the_price_option_registers_the_price() -> None:
    get_reranker("pointwise", model="openai/priced-by-option", cache=False,
                 price=(1e-06, 2e-06))
    assert estimate_cost("openai/priced-by-option", 10, 10) == pytest.approx(3e-05)
    with pytest.raises(InvalidInput, match="price"):
        get_reranker("pointwise", model="openai/priced-by-option", cache=False,
                     price=(-1.0, 2e-06))


def test_the_context_window_is_looked_up_once_and_kept_in_the_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lookups: list[str] = []

    def lookup(model: str) -> dict[str, Any] | None:
        lookups.append(model)
        return None  # a model LiteLLM does not know

    monkeypatch.setattr(litellm_transport, "_model_info", lookup)
    monkeypatch.setattr(litellm_transport, "_windows", {})
    client = LLMClient("openai/unknown-window", cache=tmp_path)
    assert [client.context_window() for _ in range(3)] == [None] * 3
    monkeypatch.setattr(litellm_transport, "_windows", {})
    again = LLMClient("openai/unknown-window", cache=tmp_path)  # another run, same cache
    assert again.context_window() is None
    uncached = LLMClient("openai/unknown-window", cache=False)
    assert uncached.context_window() is None and uncached.context_window() is None
    assert lookups == ["openai/unknown-window"] * 2  # the first client and the uncached one


WARM_RUN = textwrap.dedent("""
    import sys
    from llm_rerank.cli import main
    status = main(sys.argv[1:])
    print(status, "litellm" in sys.modules)
""")


def test_a_warm_cache_rerun_never_imports_litellm(tmp_path: Path) -> None:
    requests, qrels = dataset(2, 6)
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({
        "query_id": r.query_id, "query": r.query,
        "candidates": [{"id": d.id, "text": d.text} for d in r.documents]}) + "\n"
        for r in requests))
    with JudgeServer(requests, qrels) as server:
        argv = ["rerank", "-s", "listwise", "-m", "openai/judge", "--api-base", server.url,
                "--api-key", "x", "--cache-dir", str(tmp_path / "cache"), "-i", str(source),
                "-o", str(tmp_path / "out.jsonl")]
        runs = [subprocess.run([sys.executable, "-c", WARM_RUN, *argv], capture_output=True,
                               text=True, timeout=120, check=True) for _ in range(2)]
        assert server.stats().requests == 2  # one listwise call per query, then none
    assert runs[0].stdout.split() == ["0", "True"]
    assert runs[1].stdout.split() == ["0", "False"]


# --- worker processes ----------------------------------------------------------------------

class WhereRanked(Reranker):
    """Input order, each result saying which process ranked it."""

    name = "where"

    async def _order(self, ctx: RankingContext) -> list[Scored]:
        return [Scored(i, details={"pid": os.getpid()}) for i in range(len(ctx.documents))]


def test_workers_rank_in_other_processes_and_keep_the_input_order() -> None:
    batch = [(f"q{i}", [f"d{i}", "x"]) for i in range(6)]
    out = WhereRanked().rank_batch(batch, workers=2)
    assert [r.query for r in out] == [f"q{i}" for i in range(6)]
    pids = {r[0].details["pid"] for r in out}
    assert len(pids) == 2 and os.getpid() not in pids


def test_workers_give_the_results_of_one_process() -> None:
    requests, qrels = dataset(5, 10)
    with JudgeServer(requests, qrels) as server:
        reranker = PointwiseReranker("openai/judge", api_base=server.url, api_key="x",
                                     cache=False, max_concurrency=8)
        one = reranker.rank_batch(batch_of(requests), workers=1)
        calls_one = server.stats().requests
        seen: list[int] = []
        two = run_async(reranker.arank_batch(batch_of(requests), workers=2,
                                             on_result=lambda i, r: seen.append(i)))
        calls_two = server.stats().requests - calls_one
    assert [ids(r) for r in two] == [ids(r) for r in one]
    assert [[x.score for x in r] for r in two] == [[x.score for x in r] for r in one]
    assert calls_one == calls_two == 50 and sorted(seen) == list(range(5))


def run_async(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


def test_workers_split_the_calls_in_flight() -> None:
    requests, qrels = dataset(4, 10)
    with JudgeServer(requests, qrels, latency_ms=30) as server:
        reranker = PointwiseReranker("openai/judge", api_base=server.url, api_key="x",
                                     cache=False, max_concurrency=4)
        reranker.rank_batch(batch_of(requests), workers=2)
        assert server.stats().peak_concurrency <= 4


def test_workers_share_the_disk_cache(tmp_path: Path) -> None:
    requests, qrels = dataset(4, 8)
    with JudgeServer(requests, qrels) as server:
        reranker = PointwiseReranker("openai/judge", api_base=server.url, api_key="x",
                                     cache=tmp_path)
        first = reranker.rank_batch(batch_of(requests), workers=2)
        again = PointwiseReranker("openai/judge", api_base=server.url, api_key="x",
                                  cache=tmp_path).rank_batch(batch_of(requests))
        assert server.stats().requests == 32
    assert [ids(r) for r in again] == [ids(r) for r in first]
    assert sum(r.usage.cache_hits for r in again) == 32


def test_a_batch_budget_is_split_across_workers() -> None:
    requests, qrels = dataset(4, 10)
    budget = Budget(max_calls=7)
    with JudgeServer(requests, qrels) as server:
        reranker = PointwiseReranker("openai/judge", api_base=server.url, api_key="x",
                                     cache=False, on_budget="keep_order")
        out = reranker.rank_batch(batch_of(requests), workers=2, budget=budget)
        made = server.stats().requests
    assert made == budget.calls == 7
    assert all(sorted(r.index for r in res) == list(range(10)) for res in out)


def poisoned(messages: list[dict[str, str]]) -> str:
    if "poison" in prompt(messages):
        raise import_litellm().BadRequestError("bad", llm_provider="fake", model="m")
    return "likely"


def test_a_failing_query_raises_its_error_with_workers() -> None:
    with fake_llm(poisoned) as fake:
        reranker = PointwiseReranker(fake.model, cache=False)
        batch = [(f"q{i}", docs(GRADES[:5])) for i in range(3)] + [("q", ["poison", "z"])]
        with pytest.raises(LLMCallError) as failed:
            reranker.rank_batch(batch, workers=2)
    assert failed.value.status_code == 400 and failed.value.model == fake.model


def test_return_exceptions_keeps_errors_in_place_with_workers() -> None:
    with fake_llm(poisoned) as fake:
        reranker = PointwiseReranker(fake.model, cache=False)
        out = reranker.rank_batch([("a", ["x", "y"]), ("b", ["poison", "z"]), ("c", ["w", "v"]),
                                   ("d", ["poison", "u"])], workers=2, return_exceptions=True)
    assert [type(o).__name__ for o in out] == ["RankedResults", "LLMCallError",
                                               "RankedResults", "LLMCallError"]


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_bad_workers_are_refused(workers: object) -> None:
    with pytest.raises(InvalidInput, match="workers"):
        WhereRanked().rank_batch([("q", ["a"]), ("r", ["b"])], workers=workers)  # type: ignore[arg-type]


CLI = "import sys; from llm_rerank.cli import main; sys.exit(main())"


def test_cli_workers_and_price(tmp_path: Path) -> None:
    requests, qrels = dataset(3, 6)
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({
        "query_id": r.query_id, "query": r.query,
        "candidates": [{"id": d.id, "text": d.text} for d in r.documents]}) + "\n"
        for r in requests))
    outputs = []
    with JudgeServer(requests, qrels) as server:
        for workers in ("1", "2"):
            out = tmp_path / f"out{workers}.jsonl"
            subprocess.run([sys.executable, "-c", CLI, "rerank", "-s", "pointwise",
                            "-m", "openai/judge-cli-price", "--api-base", server.url,
                            "--api-key", "x", "--no-cache", "--workers", workers,
                            "--price", "1e-6,2e-6", "-i", str(source), "-o", str(out)],
                           check=True, capture_output=True, text=True, timeout=120)
            outputs.append([json.loads(line) for line in out.read_text().splitlines()])
    one, two = outputs
    assert [row["query_id"] for row in two] == ["q0", "q1", "q2"]
    assert [[c["id"] for c in row["candidates"]] for row in two] == \
        [[c["id"] for c in row["candidates"]] for row in one]
    assert all(row["usage"]["cost_usd"] > 0 for row in two)


def test_litellms_objects_are_frozen_once_imported() -> None:
    """Defect: every full garbage collection walked LiteLLM's ~375,000 objects, a 0.17 s
    stall of the event loop in the middle of a batch."""
    done = subprocess.run(
        [sys.executable, "-c", "import gc; from llm_rerank.transports.litellm import "
         "import_litellm; import_litellm(); print(gc.get_freeze_count())"],
        capture_output=True, text=True, timeout=120, check=True)
    assert int(done.stdout) > 100_000


def test_a_worker_batch_leaves_litellms_objects_frozen() -> None:
    """Defect: the batch froze the parent's heap while forking, then ``gc.unfreeze()`` thawed
    everything, LiteLLM's objects frozen at its import included."""
    import_litellm()
    frozen = gc.get_freeze_count()
    with fake_llm(lambda messages: "likely") as fake:
        PointwiseReranker(fake.model, cache=False).rank_batch(
            [(f"q{i}", ["x", "y"]) for i in range(4)], workers=2)
    assert gc.get_freeze_count() >= frozen > 100_000
