"""Wall time against the critical path at 100 ms judge latency: one query alone, the DL19
batch per ``max_concurrency``, pointwise, and a cold against a warm cache.

Usage: python benchmarks/bench_speed.py [--data DIR] [--latency-ms 100] [--queries N]
"""

from __future__ import annotations

import asyncio
import math
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness
from harness import JudgeProcess, markdown_table, write_fragment

from llm_rerank import RankedResults, Reranker
from llm_rerank.eval import RerankRequest

LISTWISE_CALLS = 9
SINGLE_QUERY_RUNS = 5


@dataclass
class Timing:
    wall_s: float
    cpu_s: float
    calls: int
    cache_hits: int
    peak_concurrency: int


async def timed(judge: JudgeProcess, reranker: Reranker,
                requests: Sequence[RerankRequest]) -> Timing:
    """Rank ``requests`` together (one ``arank_batch``), timing wall and client CPU."""
    judge.reset_stats()
    batch = [(r.query, r.documents) for r in requests]
    wall, cpu = time.perf_counter(), time.process_time()
    results: list[RankedResults] = await reranker.arank_batch(
        batch, max_concurrent_queries=len(batch))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Timing(wall, cpu, sum(r.usage.llm_calls for r in results),
                  sum(r.usage.cache_hits for r in results), judge.stats()["peak_concurrency"])


def listwise(url: str, concurrency: int, cache: bool | Path = False) -> Reranker:
    return harness.judge_reranker("listwise", url, cache=cache, max_concurrency=concurrency,
                                  window_size=20, step=10)


def pointwise(url: str, concurrency: int) -> Reranker:
    return harness.judge_reranker("pointwise", url, max_concurrency=concurrency)


def batch_row(label: str, concurrency: int, timing: Timing, sequential: int,
              latency_s: float) -> tuple[list[object], float]:
    rounds = max(sequential, math.ceil(timing.calls / concurrency))
    critical = rounds * latency_s
    ratio = timing.wall_s / critical
    return [label, concurrency, timing.calls, f"{timing.wall_s:.2f}",
            f"{critical:.2f} ({rounds} rounds)", f"{ratio:.2f}x", timing.peak_concurrency,
            f"{timing.cpu_s:.2f}", f"{timing.cpu_s / timing.calls * 1000:.1f}"], ratio


def median_timing(timings: list[Timing]) -> Timing:
    """The run with the median wall time (its CPU time and counters with it)."""
    return sorted(timings, key=lambda t: t.wall_s)[len(timings) // 2]


async def measure(judge: JudgeProcess, requests: list[RerankRequest], concurrencies: list[int],
                  repeats: int) -> dict[str, Any]:
    url = judge.url
    await timed(judge, listwise(url, 8), requests[-1:])  # warm up imports and connections
    singles = [await timed(judge, listwise(url, 8), [r]) for r in requests[:SINGLE_QUERY_RUNS]]
    point_single = [await timed(judge, pointwise(url, 64), [r])
                    for r in requests[:SINGLE_QUERY_RUNS]]
    batches = {}
    for concurrency in concurrencies:
        runs = [await timed(judge, listwise(url, concurrency), requests) for _ in range(repeats)]
        batches[concurrency] = median_timing(runs)
    point_batch = await timed(judge, pointwise(url, 64), requests)
    with tempfile.TemporaryDirectory(prefix="llm-rerank-cache-") as cache_dir:
        cold = await timed(judge, listwise(url, 64, Path(cache_dir)), requests)
        warm = await timed(judge, listwise(url, 64, Path(cache_dir)), requests)
    return {"singles": singles, "point_single": point_single, "batches": batches,
            "point_batch": point_batch, "cold": cold, "warm": warm}


def main() -> None:
    parser = harness.arguments(__doc__)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each listwise batch; the median is shown (default 3)")
    args = parser.parse_args()
    requests, qrels = harness.dl19(args)
    latency = args.latency_ms / 1000
    started = time.perf_counter()
    with harness.judge_server(requests, qrels, latency_ms=args.latency_ms) as judge:
        found = asyncio.run(measure(judge, requests, args.concurrency, args.repeats))
    total = time.perf_counter() - started

    single = statistics.median(t.wall_s for t in found["singles"])
    single_cpu = statistics.median(t.cpu_s for t in found["singles"])
    point = statistics.median(t.wall_s for t in found["point_single"])
    point_cpu = statistics.median(t.cpu_s for t in found["point_single"])
    point_rounds = math.ceil(100 / 64)
    single_rows = [
        ["listwise 20/10 (9 sequential calls)", 8, f"{single:.3f}",
         f"{LISTWISE_CALLS * latency:.3f} (9 rounds)",
         f"{single / (LISTWISE_CALLS * latency):.2f}x", f"{single_cpu:.2f}"],
        ["pointwise (100 parallel calls)", 64, f"{point:.3f}",
         f"{point_rounds * latency:.3f} ({point_rounds} rounds)",
         f"{point / (point_rounds * latency):.2f}x", f"{point_cpu:.2f}"],
    ]
    rows, verdicts = [], []
    for concurrency, timing in found["batches"].items():
        row, ratio = batch_row("listwise 20/10", concurrency, timing, LISTWISE_CALLS, latency)
        rows.append(row)
        verdicts.append(f"- {'PASS' if ratio <= 1.25 else 'FAIL'}: listwise batch of "
                        f"{len(requests)} queries, max_concurrency={concurrency}: {ratio:.2f}x "
                        "its critical path (must be within 1.25x)")
    point_row, _ = batch_row("pointwise", 64, found["point_batch"], 1, latency)
    rows.append(point_row)
    cold, warm = found["cold"], found["warm"]
    cache_rows = [[name, f"{t.wall_s:.2f}", t.calls, t.cache_hits, f"{t.cpu_s:.2f}"]
                  for name, t in (("cold cache (empty temp dir)", cold),
                                  ("warm cache (same dir, rerun)", warm))]
    body = (
        f"Simulated judge with {args.latency_ms:g} ms latency per answer, in a separate process; "
        f"TREC DL19, 100 BM25 candidates per query; client CPU is `time.process_time()` of the "
        f"benchmark process. Cache off unless stated. Run time {total:.0f} s.\n\n"
        f"**One query alone** (median of {SINGLE_QUERY_RUNS} queries):\n\n"
        + markdown_table(["strategy", "max_concurrency", "wall s", "critical path s",
                          "ratio", "client CPU s"], single_rows)
        + f"\n\n**The {len(requests)}-query batch**, `arank_batch(max_concurrent_queries="
        f"{len(requests)})`, listwise rows the median of {args.repeats} runs; critical path = "
        "max(sequential calls per query, ceil(total calls / max_concurrency)) x latency:\n\n"
        + markdown_table(["strategy", "max_concurrency", "calls", "wall s", "critical path s",
                          "ratio", "server peak concurrency", "client CPU s",
                          "client CPU ms per call"], rows)
        + "\n\nWall time is close to critical path + client CPU time: the calls of one round "
        "come back together, and the client handles them one after another on one core (about "
        "3-4 ms each, mostly LiteLLM) before the next round can go out. So the ratio holds "
        "while the client's CPU time is small beside the critical path (low max_concurrency, "
        "long rounds) and grows as more concurrency shortens the critical path below the "
        "CPU time: 387 listwise calls cost about 1.3-1.5 s of client CPU, more than the 0.9 s "
        "critical path at max_concurrency 64. Server peak concurrency is the most requests "
        "the judge held at once (from `/stats`).\n\n"
        "**Cold vs warm cache**, listwise batch, max_concurrency 64, temporary cache dir:\n\n"
        + markdown_table(["run", "wall s", "LLM calls", "cache hits", "client CPU s"], cache_rows)
        + "\n\nMust show (the 43-query batch within 1.25x of its critical path):\n\n"
        + "\n".join(verdicts)
    )
    write_fragment("speed", "Speed: wall time against the critical path", body)


if __name__ == "__main__":
    main()
