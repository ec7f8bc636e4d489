"""The production call path under pressure: budgets, failing batches, rate limits, garbage.

1. Budgets: every strategy with ``max_calls=5`` on 20 documents (a fake provider counts the
   requests that reach it); token and cost limits against the simulated judge.
2. Clean failure: N subprocesses each run a batch whose first query fails; each must exit
   on its own within 10 s of the exception, and the fake provider must see no call start
   after it.
3. Rate limits: the 43-query DL19 listwise batch against the judge answering 30% of
   requests with 429/503, default options, R runs with different judge seeds.
4. Garbage: nDCG@10 of that batch with 10% garbage answers (and 20% errors) against a clean run.
(Nothing leaving the machine is ``tests/test_offline.py``.)

Slow (``python -m pytest -m slow tests/test_call_path_slow.py``, a few minutes); 3 and 4 need
``$LLM_RERANK_DATA``. ``--write-results`` also writes the figures to
``benchmarks/results/call_path.md``.
"""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from llm_rerank import BudgetExceeded, get_reranker
from llm_rerank.eval import evaluate, load_trec_dl19, run_from_rankings
from llm_rerank.testing import JudgeServer, fake_llm

if TYPE_CHECKING:
    from conftest import Fragment

pytestmark = pytest.mark.slow
FRAGMENT = ("call_path", "Production call path: budgets, failures, rate limits, garbage")
EXIT_RUNS, RATE_LIMIT_RUNS = 20, 20
PRICE = {"input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07}  # gpt-4o-mini's


@pytest.fixture(scope="module")
def dl19(shared_data: Path) -> tuple[list[Any], dict[str, dict[str, int]]]:
    return load_trec_dl19(shared_data)


def register_judge_price() -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # as the package does
    import litellm

    litellm.register_model({"openai/judge": {
        **PRICE, "litellm_provider": "openai", "mode": "chat", "max_input_tokens": 128_000,
        "cache_creation_input_token_cost": 0.0, "cache_read_input_token_cost": 0.0}})


def answer_for(messages: list[dict[str, str]]) -> str:
    text = next(m["content"] for m in messages if m["role"] == "user")
    if "Passage:" in text:
        return "likely"
    if "Passage A:" in text:
        return "Passage A"
    return "[2] > [1] > [3]"


def test_call_budgets_hold_exactly(fragment: Fragment) -> None:
    rows: list[list[object]] = []
    documents = [f"document {i} about something" for i in range(20)]
    for label, strategy, options in [
        ("pointwise", "pointwise", {}), ("pairwise allpair", "pairwise", {"method": "allpair"}),
        ("pairwise heapsort", "pairwise", {"method": "heapsort"}),
        ("pairwise sliding", "pairwise", {"method": "sliding"}),
        ("setwise", "setwise", {}), ("listwise 4/2", "listwise", {"window_size": 4, "step": 2}),
    ]:
        with fake_llm(answer_for) as fake:
            reranker = get_reranker(strategy, model=fake.model, cache=False, max_calls=5,
                                    on_budget="keep_order", max_concurrency=16, **options)
            results = reranker.rank("a query", documents)
        complete = sorted(r.index for r in results) == list(range(20))
        rows.append([label, 5, fake.calls, results.stopped, "yes" if complete else "NO"])
    with fake_llm(answer_for) as fake:
        reranker = get_reranker("pointwise", model=fake.model, cache=False, max_calls=5)
        try:
            reranker.rank("a query", documents)
            raised = "no"
        except BudgetExceeded as exc:
            partial = exc.results
            raised = (f"BudgetExceeded, partial ranking of {len(partial)} documents"
                      if partial is not None else "BudgetExceeded, no partial ranking")
    table = fragment.table(["strategy", "max_calls", "requests the provider saw",
                            "stopped", "all 20 documents back once"], rows)
    fragment.add(f"**Call budgets** (`max_calls=5`, `on_budget=\"keep_order\"`, 20 documents, "
            f"`max_concurrency=16`; a fake provider counts requests):\n\n{table}\n\n"
            f"With `on_budget=\"raise\"` (pointwise): {raised}.\n")
    assert all(row[2] == 5 and row[3] == "budget" and row[4] == "yes" for row in rows), rows
    assert raised.startswith("BudgetExceeded, partial ranking of 20"), raised


def test_token_and_cost_limits_hold_within_one_call(
        fragment: Fragment, dl19: tuple[list[Any], dict[str, dict[str, int]]]) -> None:
    register_judge_price()
    with JudgeServer(*dl19) as judge:
        rows = asyncio.run(spend_limits(judge.url, dl19[0][0]))
    table = fragment.table(["limit", "calls", "tokens spent", "cost $", "tokens per call",
                            "stopped"], rows)
    request = dl19[0][0]
    fragment.add(
        f"**Token and cost limits** (pointwise, DL19 query {request.query_id}, 100 "
        f"documents, 32 calls in flight, judge priced like gpt-4o-mini: "
        f"${PRICE['input_cost_per_token'] * 1e6:.2f} / "
        f"${PRICE['output_cost_per_token'] * 1e6:.2f} per million tokens). "
        f"A limit holds within one call's estimate: the estimate "
        f"(LiteLLM's tokenizer) is reserved before each call and settled after it with the "
        f"judge's own count.\n\n{table}\n")
    (_, _, tokens, _, per_call, stopped), (_, _, _, cost, _, cost_stopped) = rows
    assert stopped == cost_stopped == "budget"
    assert int(tokens) <= 5_000 + float(per_call)
    assert float(cost) <= 0.0005 + float(per_call) * PRICE["input_cost_per_token"] * 2


async def spend_limits(url: str, request: Any) -> list[list[object]]:
    rows: list[list[object]] = []
    for label, options in [("max_budget_tokens=5000", {"max_budget_tokens": 5_000}),
                           ("max_cost_usd=0.0005", {"max_cost_usd": 0.0005})]:
        reranker = get_reranker("pointwise", model="openai/judge", api_base=url, api_key="x",
                                cache=False, on_budget="keep_order", max_concurrency=32,
                                **options)
        results = await reranker.arank(request.query, request.documents)
        tokens = results.usage.prompt_tokens + results.usage.completion_tokens
        per_call = tokens / max(1, results.usage.llm_calls)
        rows.append([label, results.usage.llm_calls, tokens, f"{results.usage.cost_usd:.5f}",
                     f"{per_call:.0f}", results.stopped])
    return rows


EXIT_SCRIPT = textwrap.dedent("""
    import sys, time
    from llm_rerank import PointwiseReranker
    from llm_rerank.testing import fake_llm
    starts = []

    def respond(messages):
        starts.append(time.monotonic())
        if "poison" in messages[-1]["content"]:
            import litellm  # already imported, configured, by the package
            raise litellm.BadRequestError("bad", llm_provider="fake", model="m")
        return "likely"

    with fake_llm(respond, latency=0.05) as fake:
        reranker = PointwiseReranker(fake.model, cache=False, max_concurrency=8)
        batch = [("q", ["poison"] + ["d"] * 5)] + [(f"q{i}", [f"d{j}" for j in range(40)])
                                                  for i in range(10)]
        try:
            reranker.rank_batch(batch)
        except Exception:
            failed = time.monotonic()
            time.sleep(0.5)
            late = sum(1 for t in starts if t > failed)
            print(f"raised {len(starts)} {late}", flush=True)
""")


def test_a_failing_batch_stops_cleanly(fragment: Fragment, tmp_path: Path) -> None:
    runs = EXIT_RUNS
    script = tmp_path / "failing_batch.py"
    script.write_text(EXIT_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"}
    exit_times, late_calls, calls, failures = [], 0, 0, 0
    for _ in range(runs):
        process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=env)
        assert process.stdout is not None
        line = process.stdout.readline()
        raised_at = time.monotonic()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            failures += 1
            continue
        exit_times.append(time.monotonic() - raised_at)
        if not line.startswith("raised") or process.returncode != 0:
            failures += 1
            continue
        _, made, late = line.split()
        calls, late_calls = calls + int(made), late_calls + int(late)
    worst = max(exit_times) if exit_times else float("nan")
    verdict = "PASS" if not failures and worst < 10 and late_calls == 0 else "FAIL"
    fragment.add(
            f"**A failing batch stops cleanly**: {runs} subprocess runs, each a batch of 11 "
            f"queries (8 calls in flight, 50 ms per answer) whose first query fails with a 400. "
            f"Runs that raised and exited cleanly: {runs - failures}/{runs}; slowest exit after "
            f"the exception (0.5 s of it spent checking for late calls): {worst:.2f} s; calls "
            f"started after the exception: {late_calls} (of {calls} in all). {verdict} (every "
            f"run exits within 10 s, no call after the exception).\n")
    assert (failures, late_calls) == (0, 0) and worst < 10, (failures, late_calls, worst)


async def listwise_batch(url: str, requests: list[Any]) -> list[Any]:
    reranker = get_reranker("listwise", model="openai/judge", api_base=url, api_key="x",
                            cache=False, max_concurrency=64)
    return await reranker.arank_batch([(r.query, r.documents) for r in requests],
                                      max_concurrent_queries=len(requests))


def test_rate_limited_batches_complete(
        fragment: Fragment, dl19: tuple[list[Any], dict[str, dict[str, int]]]) -> None:
    requests, qrels = dl19
    completed, retries, runs = 0, 0, RATE_LIMIT_RUNS
    started = time.perf_counter()
    for seed in range(runs):
        with JudgeServer(requests, qrels, error_rate=0.3, seed=seed) as judge:
            try:
                ranked = asyncio.run(listwise_batch(judge.url, requests))
            except Exception:  # a run that did not complete is what this test counts
                continue
        completed += 1
        retries += sum(r.usage.retries for r in ranked)
    seconds = time.perf_counter() - started
    verdict = "PASS" if completed == runs else "FAIL"
    fragment.add(
        f"**Rate limits**: the {len(requests)}-query DL19 listwise batch (20/10, 387 calls) "
        f"against the judge answering 30% of requests with 429 or 503 (`Retry-After: 0`), "
        f"default options (`max_retries=10`), one run per judge seed 0..{runs - 1}: "
        f"{completed}/{runs} runs completed every query; {retries / max(1, runs):.0f} retries "
        f"per run on average; {seconds:.0f} s in all. {verdict} ({runs}/{runs} must "
        "complete).\n")
    assert completed == runs
    assert retries > 0


def test_unusable_answers_cost_no_quality(
        fragment: Fragment, dl19: tuple[list[Any], dict[str, dict[str, int]]]) -> None:
    requests, qrels = dl19
    rows: list[list[object]] = []
    for label, knobs in [("clean", {}), ("10% garbage", {"garbage_rate": 0.1}),
                         ("10% garbage + 20% errors", {"garbage_rate": 0.1, "error_rate": 0.2})]:
        with JudgeServer(requests, qrels, **knobs) as judge:
            ranked = asyncio.run(listwise_batch(judge.url, requests))
        run = run_from_rankings({r.query_id: [x.document.id or "" for x in results]
                                 for r, results in zip(requests, ranked, strict=True)})
        rows.append([label, evaluate(run, qrels, ["ndcg@10"]).mean["ndcg@10"]])
    clean = float(rows[0][1])  # type: ignore[arg-type]
    gaps = [float(row[1]) - clean for row in rows]  # type: ignore[arg-type]
    for row, gap in zip(rows, gaps, strict=True):
        row.append(f"{gap:+.4f}")
    verdict = "PASS" if all(abs(gap) <= 0.01 for gap in gaps) else "FAIL"
    fragment.add(
        "**Unusable answers** (perfect judge otherwise; an unusable answer is asked again "
        "once with the template's reminder, and never cached):\n\n"
        f"{fragment.table(['judge', 'nDCG@10', 'vs clean'], rows)}\n\n{verdict} "
        "(within 0.01 of the clean run).\n")
    assert all(abs(gap) <= 0.01 for gap in gaps) and not math.isnan(clean), rows
