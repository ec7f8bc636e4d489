"""The production call path under pressure: budgets, failing batches, rate limits, garbage.

1. Budgets: every strategy with ``max_calls=5`` on 20 documents (a fake provider counts the
   requests that reach it); token and cost limits against the simulated judge.
2. Clean failure: N subprocesses each run a batch whose first query fails; each must exit
   on its own within 10 s of the exception, and the fake provider must see no call start
   after it.
3. Rate limits: the 43-query DL19 listwise batch against the judge answering 30% of
   requests with 429/503, default options, R runs with different judge seeds.
4. Garbage: nDCG@10 of that batch with 10% garbage answers (and 20% errors) against a clean run.
5. Offline: ``llm-rerank demo`` and a ``rank()`` against a local endpoint in a clean
   environment under a socket guard: connections or lookups beyond loopback, LiteLLM warnings.

Usage: python benchmarks/bench_call_path.py [--data DIR] [--runs 20] [--exit-runs 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from common import data_dir, markdown_table, write_fragment
from judge_process import judge_server

from llm_rerank import BudgetExceeded, get_reranker
from llm_rerank.eval import load_trec_dl19, ndcg
from llm_rerank.testing import fake_llm
from llm_rerank.transports.litellm import import_litellm

ROOT = Path(__file__).resolve().parent.parent
PRICE = {"input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07}  # gpt-4o-mini's


def register_judge_price() -> None:
    import_litellm().register_model({"openai/judge": {
        **PRICE, "litellm_provider": "openai", "mode": "chat", "max_input_tokens": 128_000,
        "cache_creation_input_token_cost": 0.0, "cache_read_input_token_cost": 0.0}})


def answer_for(messages: list[dict[str, str]]) -> str:
    text = next(m["content"] for m in messages if m["role"] == "user")
    if "Passage:" in text:
        return "likely"
    if "Passage A:" in text:
        return "Passage A"
    return "[2] > [1] > [3]"


def budgets() -> str:
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
    table = markdown_table(["strategy", "max_calls", "requests the provider saw",
                            "stopped", "all 20 documents back once"], rows)
    return (f"**Call budgets** (`max_calls=5`, `on_budget=\"keep_order\"`, 20 documents, "
            f"`max_concurrency=16`; a fake provider counts requests):\n\n{table}\n\n"
            f"With `on_budget=\"raise\"` (pointwise): {raised}.\n")


async def spend_limits(url: str, requests: list[Any]) -> str:
    rows: list[list[object]] = []
    request = requests[0]
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
    table = markdown_table(["limit", "calls", "tokens spent", "cost $", "tokens per call",
                            "stopped"], rows)
    return (f"**Token and cost limits** (pointwise, DL19 query {request.query_id}, 100 "
            f"documents, 32 calls in flight, judge priced like gpt-4o-mini: "
            f"${PRICE['input_cost_per_token'] * 1e6:.2f} / "
            f"${PRICE['output_cost_per_token'] * 1e6:.2f} per million tokens). "
            f"A limit holds within one call's estimate: the estimate "
            f"(LiteLLM's tokenizer) is reserved before each call and settled after it with the "
            f"judge's own count.\n\n{table}\n")


EXIT_SCRIPT = textwrap.dedent("""
    import sys, time
    from llm_rerank import PointwiseReranker
    from llm_rerank.transports.litellm import import_litellm
    from llm_rerank.testing import fake_llm
    starts = []

    def respond(messages):
        starts.append(time.monotonic())
        if "poison" in messages[-1]["content"]:
            raise import_litellm().BadRequestError("bad", llm_provider="fake", model="m")
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


def exits(runs: int) -> str:
    script = Path(tempfile.mkdtemp(prefix="exit-")) / "failing_batch.py"
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
    return (f"**A failing batch stops cleanly**: {runs} subprocess runs, each a batch of 11 "
            f"queries (8 calls in flight, 50 ms per answer) whose first query fails with a 400. "
            f"Runs that raised and exited cleanly: {runs - failures}/{runs}; slowest exit after "
            f"the exception (0.5 s of it spent checking for late calls): {worst:.2f} s; calls "
            f"started after the exception: {late_calls} (of {calls} in all). {verdict} (every "
            f"run exits within 10 s, no call after the exception).\n")


async def listwise_batch(url: str, requests: list[Any], **options: Any) -> tuple[bool, float,
                                                                                 int, int]:
    reranker = get_reranker("listwise", model="openai/judge", api_base=url, api_key="x",
                            cache=False, max_concurrency=64, **options)
    try:
        ranked = await reranker.arank_batch([(r.query, r.documents) for r in requests],
                                            max_concurrent_queries=len(requests))
    except Exception:
        return False, float("nan"), 0, 0
    return True, 0.0, sum(r.usage.retries for r in ranked), sum(
        r.usage.parse_failures for r in ranked)


async def quality(url: str, requests: list[Any], qrels: Any) -> float:
    reranker = get_reranker("listwise", model="openai/judge", api_base=url, api_key="x",
                            cache=False, max_concurrency=64)
    ranked = await reranker.arank_batch([(r.query, r.documents) for r in requests],
                                        max_concurrent_queries=len(requests))
    values = [ndcg([res.document.id or "" for res in results], qrels.get(r.query_id, {}), 10)
              for r, results in zip(requests, ranked, strict=True)]
    return sum(values) / len(values)


def rate_limits(requests: list[Any], qrels: Any, runs: int) -> str:
    completed, retries = 0, 0
    started = time.perf_counter()
    for seed in range(runs):
        with judge_server(requests, qrels, error_rate=0.3, seed=seed) as judge:
            ok, _, retried, _ = asyncio.run(listwise_batch(judge.url, requests))
        completed += ok
        retries += retried
    seconds = time.perf_counter() - started
    verdict = "PASS" if completed == runs else "FAIL"
    return (f"**Rate limits**: the {len(requests)}-query DL19 listwise batch (20/10, 387 calls) "
            f"against the judge answering 30% of requests with 429 or 503 (`Retry-After: 0`), "
            f"default options (`max_retries=10`), one run per judge seed 0..{runs - 1}: "
            f"{completed}/{runs} runs completed every query; {retries / max(1, runs):.0f} retries "
            f"per run on average; {seconds:.0f} s in all. {verdict} (20/20 must complete).\n")


def garbage(requests: list[Any], qrels: Any) -> str:
    rows: list[list[object]] = []
    for label, options in [("clean", {}), ("10% garbage", {"garbage_rate": 0.1}),
                           ("10% garbage + 20% errors",
                            {"garbage_rate": 0.1, "error_rate": 0.2})]:
        with judge_server(requests, qrels, **options) as judge:  # type: ignore[arg-type]
            rows.append([label, asyncio.run(quality(judge.url, requests, qrels))])
    clean = float(rows[0][1])  # type: ignore[arg-type]
    for row in rows:
        row.append(f"{float(row[1]) - clean:+.4f}")  # type: ignore[arg-type]
    verdict = "PASS" if all(abs(float(r[1]) - clean) <= 0.01 for r in rows) else "FAIL"  # type: ignore[arg-type]
    table = markdown_table(["judge", "nDCG@10", "vs clean"], rows)
    return (f"**Unusable answers** (perfect judge otherwise; an unusable answer is asked again "
            f"once with the template's reminder, and never cached):\n\n{table}\n\n{verdict} "
            f"(within 0.01 of the clean run).\n")


def offline() -> str:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_offline import outside, run_clean

    from llm_rerank.eval.io import RerankRequest
    from llm_rerank.models import Document
    from llm_rerank.testing import JudgeServer

    rows: list[list[object]] = []
    folder = Path(tempfile.mkdtemp(prefix="offline-"))
    data = [RerankRequest("q1", "capital of France", [Document(id="a", text="Lyon."),
                                                      Document(id="b", text="Paris.")])]
    with JudgeServer(data, {"q1": {"b": 3}}) as server:
        done = run_clean(f"""
            from llm_rerank import ListwiseReranker
            rr = ListwiseReranker("openai/judge", api_base="{server.url}", api_key="x")
            print(rr.rank("capital of France", ["Lyon.", "Paris."])[0].document.text)
        """, folder)
    rows.append(["`ListwiseReranker.rank()` against a 127.0.0.1 endpoint", done.returncode,
                 len(outside(done)), done.stderr.lower().count("litellm")])
    done = run_clean("""
        from llm_rerank.cli import main
        raise SystemExit(main(["demo", "--no-cache"]))
    """, folder)
    rows.append(["`llm-rerank demo` (embedded model, 3 queries)", done.returncode,
                 len(outside(done)), done.stderr.lower().count("litellm")])
    table = markdown_table(["entry point", "exit status", "non-loopback connections or lookups",
                            "LiteLLM lines on stderr"], rows)
    return (f"**Nothing leaves the machine**: each entry point in a clean environment "
            f"(`PATH`, `HOME` and the cache directory only; no `LITELLM_*` variable) under a "
            f"socket guard that records any connection or DNS lookup beyond loopback "
            f"(`tests/test_offline.py`).\n\n{table}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--exit-runs", type=int, default=50)
    args = parser.parse_args()
    requests, qrels = load_trec_dl19(data_dir(args.data))
    register_judge_price()
    parts = [budgets()]
    with judge_server(requests, qrels) as judge:
        parts.append(asyncio.run(spend_limits(judge.url, requests)))
    parts.append(exits(args.exit_runs))
    parts.append(rate_limits(requests, qrels, args.runs))
    parts.append(garbage(requests, qrels))
    parts.append(offline())
    write_fragment("call_path", "Production call path: budgets, failures, rate limits, garbage",
                   "\n".join(parts))
    print(json.dumps({"done": True}))


if __name__ == "__main__":
    main()
