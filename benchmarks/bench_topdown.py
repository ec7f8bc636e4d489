"""Top-down listwise against the sliding window (nDCG@10, calls, rounds, wall time), and
``num_permutations`` self-consistency over judge seeds, on DL19 under the simulated judge.

Usage: python benchmarks/bench_topdown.py [--data DIR] [--queries N] [--latency-ms 300]
       [--seeds 0 1 2] [--m 1 3 5] [--setwise-queries N]
"""

from __future__ import annotations

import asyncio
import statistics
import time

import harness
from harness import MAX_CONCURRENCY, log, markdown_table, per_query, subset, write_fragment

from llm_rerank import Document, RankedResults, Reranker
from llm_rerank.eval import Qrels, RerankRequest

NOISE, BIAS = 1.0, 1.0
METHODS = ("sliding", "topdown")
Batch = list[tuple[str, list[Document]]]


def listwise(url: str, method: str, m: int = 1) -> Reranker:
    return harness.judge_reranker("listwise", url, method=method, num_permutations=m)


def rounds(results: list[RankedResults]) -> float:
    return statistics.mean(res[0].details.get("rounds", 0) for res in results)


def run(rr: Reranker, batch: Batch) -> list[RankedResults]:
    return harness.run_batch(rr, batch, top_n=10)


def quality(requests: list[RerankRequest], qrels: Qrels, batch: Batch,
            started: float) -> tuple[list[list[object]], dict[tuple[str, str], float]]:
    rows: list[list[object]] = []
    scores: dict[tuple[str, str], float] = {}
    for judge in ("perfect", "noisy + biased"):
        with harness.judge_server(requests, qrels, **harness.JUDGES[judge]) as server:
            for method in METHODS:
                results = run(listwise(server.url, method), batch)
                score = harness.mean_score(requests, results, qrels)
                scores[(judge, method)] = score
                rows.append([method, judge, score, f"{per_query(results, 'llm_calls'):.1f}",
                             f"{rounds(results):.1f}",
                             sum(res.usage.parse_failures for res in results)])
                log(started, f"{method}, {judge}: nDCG@10 {score:.4f}")
    return rows, scores


def consistency(requests: list[RerankRequest], qrels: Qrels, batch: Batch, seeds: list[int],
                ms: list[int], setwise_queries: int, started: float,
                ) -> dict[tuple[str, int], list[tuple[float, float]]]:
    """(nDCG@10, calls per query) per (strategy, m), one entry per judge seed."""
    outcomes: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for seed in seeds:
        with harness.judge_server(requests, qrels, noise=NOISE, position_bias=BIAS,
                          seed=seed) as server:
            for m in ms:
                variants: list[tuple[str, Reranker, int]] = [
                    (f"listwise {method}", listwise(server.url, method, m), len(batch))
                    for method in METHODS]
                if setwise_queries:
                    variants.append(("setwise c=3 k=10", harness.judge_reranker(
                        "setwise", server.url, num_permutations=m, k=10), setwise_queries))
                for label, rr, count in variants:
                    results = run(rr, batch[:count])
                    score = harness.mean_score(requests[:count], results, qrels)
                    calls = per_query(results, "llm_calls")
                    outcomes.setdefault((label, m), []).append((score, calls))
                    log(started, f"seed {seed}, {label}, m={m}: nDCG@10 {score:.4f}, "
                                 f"{calls:.0f} calls/query")
    return outcomes


def consistency_rows(outcomes: dict[tuple[str, int], list[tuple[float, float]]],
                     seeds: list[int]) -> tuple[list[list[object]], list[str]]:
    rows: list[list[object]] = []
    verdicts: list[str] = []
    for (label, m), runs in outcomes.items():
        scores = [score for score, _ in runs]
        rows.append([label, m, *scores, statistics.mean(scores), max(scores) - min(scores),
                     f"{statistics.mean(calls for _, calls in runs):.1f}"])
    for label in dict.fromkeys(label for label, _ in outcomes):
        if (label, 1) not in outcomes or (label, 3) not in outcomes:
            continue
        one = [score for score, _ in outcomes[(label, 1)]]
        three = [score for score, _ in outcomes[(label, 3)]]
        gain = statistics.mean(three) - statistics.mean(one)
        spread = max(max(one) - min(one), max(three) - min(three))
        paired = min(b - a for a, b in zip(one, three, strict=True))
        verdicts.append(
            f"- {'PASS' if gain > spread else 'FAIL'}: {label}: m=3 {statistics.mean(three):.4f}"
            f" vs m=1 {statistics.mean(one):.4f} (mean over judge seeds {seeds}), gain "
            f"{gain:+.4f} against a spread over the seeds of {spread:.4f} (the larger of m=1's "
            f"and m=3's); m=3 beats m=1 on every seed by at least {paired:+.4f}")
    top, slide = outcomes.get(("listwise topdown", 3)), outcomes.get(("listwise sliding", 1))
    if top and slide:
        verdicts.append(
            f"- Beside the targets: listwise topdown with m=3 ({top[0][1]:.0f} calls, 3 "
            f"rounds) {statistics.mean(s for s, _ in top):.4f} against sliding with m=1 "
            f"({slide[0][1]:.0f} calls, 9 rounds) {statistics.mean(s for s, _ in slide):.4f}")
    return rows, verdicts


def how_to_read(rows: list[list[object]], scores: dict[tuple[str, str], float],
                outcomes: dict[tuple[str, int], list[tuple[float, float]]],
                seeds: list[int]) -> str:
    """The paragraph under the checks, its figures taken from this run."""
    calls = {str(row[0]): row[3] for row in rows if row[1] == "perfect"}
    perfect = scores[("perfect", "topdown")] - scores[("perfect", "sliding")]
    noisy = scores[("noisy + biased", "topdown")] - scores[("noisy + biased", "sliding")]
    text = (
        "How to read it. Under the perfect judge topdown's nDCG@10 is "
        f"{perfect:+.4f} from sliding's, in 3 rounds instead of 9, with {calls['topdown']} "
        f"calls per query against {calls['sliding']} (round 2 asks all its windows at once). "
        "After round 1 (the first window, which picks the pivot) topdown asks every window "
        "twice, in opposite orders: each candidate outside the first window beside the "
        "pivot, the pivot first in one window and last in the other; the final window in "
        "first-stage order and reversed, the two answers combined. Under the noisy + biased "
        "judge topdown is "
        f"{noisy:+.4f} nDCG@10 from sliding on judge seed 0")
    one = [outcomes.get((f"listwise {method}", 1)) for method in METHODS]
    if one[0] and one[1]:
        gap = statistics.mean(s for s, _ in one[1]) - statistics.mean(s for s, _ in one[0])
        text += f", {gap:+.4f} on the mean over judge seeds {seeds} (m=1 below)"
    sliding, topdown = (outcomes.get((f"listwise {method}", 3)) for method in METHODS)
    if sliding and topdown:
        text += (f". With m=3 (below) sliding reaches {statistics.mean(s for s, _ in sliding):.4f}"
                 f" and topdown {statistics.mean(s for s, _ in topdown):.4f}")
    return text + "."


def main() -> None:
    parser = harness.arguments(__doc__)
    parser.add_argument("--latency-ms", type=float, default=300.0,
                        help="the judge's latency for the timing run (default 300)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="judge seeds of the self-consistency runs (default 0 1 2)")
    parser.add_argument("--m", type=int, nargs="+", default=[1, 3, 5],
                        help="num_permutations values (default 1 3 5)")
    parser.add_argument("--setwise-queries", type=int, default=0,
                        help="also run setwise self-consistency on the first N queries")
    args = parser.parse_args()
    requests, qrels = harness.dl19(args)
    batch = harness.batch_of(requests)
    started = time.perf_counter()

    rows, scores = quality(requests, qrels, batch, started)
    with harness.judge_server(requests, qrels, latency_ms=args.latency_ms) as server:
        walls = asyncio.run(harness.interleaved_walls(
            {method: listwise(server.url, method) for method in METHODS}, batch))
    log(started, "timing done")
    wall = {method: statistics.mean(values) for method, values in walls.items()}
    ratio = statistics.mean(t / s for t, s in zip(walls["topdown"], walls["sliding"],
                                                  strict=True))
    for row in rows:
        row.append(f"{wall[str(row[0])]:.2f}" if row[1] == "perfect" else "")
    outcomes = consistency(requests, qrels, batch, args.seeds, args.m, args.setwise_queries,
                           started)
    sc_rows, sc_verdicts = consistency_rows(outcomes, args.seeds)

    checks = []
    for judge in ("perfect", "noisy + biased"):
        gap = scores[(judge, "topdown")] - scores[(judge, "sliding")]
        checks.append(f"- {'PASS' if gap >= -0.01 else 'FAIL'}: {judge} judge: topdown "
                      f"{scores[(judge, 'topdown')]:.4f} vs sliding "
                      f"{scores[(judge, 'sliding')]:.4f} ({gap:+.4f}; must be >= -0.01)")
    checks.append(f"- {'PASS' if ratio <= 0.5 else 'FAIL'}: wall time per query at "
                  f"{args.latency_ms:g} ms latency: topdown {wall['topdown']:.2f} s vs sliding "
                  f"{wall['sliding']:.2f} s, ratio {ratio:.2f} (mean of per-query ratios; must "
                  "be <= 0.5)")
    setwise = (f" Setwise (heapsort, c=3, k=10) on the first {args.setwise_queries} queries."
               if args.setwise_queries else "")
    body = (
        f"TREC DL19 BM25 top-100, {subset(requests)}; `{harness.JUDGE_MODEL}` through "
        "LiteLLM against "
        "`llm-rerank judge-server` in a separate process; cache off, "
        f"`max_concurrency={MAX_CONCURRENCY}`, `top_n=10` (so topdown's k=10); window 20 "
        "(sliding: step 10, 1 pass). Judges: perfect, and noisy + biased (noise "
        f"{NOISE:g}: N(0, 1) added to each 0-3 grade; position_bias {BIAS:g}: +1 grade for the "
        "first passage of a prompt, fading to +0 for the last), judge seed 0. Rounds: "
        "sequential rounds of calls per query (`details[\"rounds\"]`). Wall time: the perfect "
        f"judge answering after {args.latency_ms:g} ms, one query at a time, the two methods "
        "alternating query by query (mean seconds per query).\n\n"
        + markdown_table(["method", "judge", "nDCG@10", "calls per query", "rounds",
                          "parse failures", "wall s per query"], rows)
        + "\n\nMust show (topdown within 0.01 nDCG@10 of sliding at no more than half its wall "
        "time):\n\n" + "\n".join(checks)
        + "\n\n" + how_to_read(rows, scores, outcomes, args.seeds)
        + "\n\n### Permutation self-consistency\n\n"
        f"`num_permutations` m under the noisy + biased judge, judge seeds {args.seeds} "
        "(the seed changes every noise draw), permutation seed 0; order 0 is the input order, "
        f"the others seeded shuffles; Borda + Kemeny aggregation.{setwise} Spread: max - min "
        "over the judge seeds.\n\n"
        + markdown_table(["strategy", "m", *[f"nDCG@10 seed {s}" for s in args.seeds], "mean",
                          "spread", "calls per query"], sc_rows)
        + "\n\nMust show (m=3 beats m=1 by more than the spread over the judge seeds):\n\n"
        + "\n".join(sc_verdicts)
        + f"\n\nTotal run time {(time.perf_counter() - started) / 60:.1f} min."
    )
    write_fragment("topdown", "Top-down listwise and permutation self-consistency", body)


if __name__ == "__main__":
    main()
