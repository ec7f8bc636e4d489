"""``ListwiseReranker(preset="balanced")`` against sliding and top-down on DL19 and NovelEval:
nDCG@10 under noisy, position-biased judges (per bias and seed), then wall time per query.

Usage: python benchmarks/bench_listwise_preset.py [--data DIR] [--bias 0.5 1.0]
       [--seeds 0 1 2] [--latency-ms 300] [--timing-queries N]
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import harness
from harness import log, markdown_table, write_fragment

from llm_rerank import ListwiseReranker
from llm_rerank.eval import Qrels, RerankRequest, load_noveleval, load_trec_dl19

NOISE = 1.0
QUALITY_CONCURRENCY = 64
TARGET_GAIN, TARGET_RATIO = 0.03, 0.5
METHODS: dict[str, dict[str, Any]] = {
    "sliding": {}, "topdown": {"method": "topdown"}, "balanced": {"preset": "balanced"}}


def listwise(url: str, options: dict[str, Any], **extra: Any) -> ListwiseReranker:
    """A listwise reranker on the judge at its DEFAULT concurrency unless ``extra`` sets it."""
    ranker = harness.judge_reranker("listwise", url, **options, **extra)
    if "max_concurrency" not in extra:  # the harness sets 64; the timing run wants defaults
        ranker = ListwiseReranker(ranker.model or "", api_base=url, api_key="x", cache=False,
                                  **options)
    assert isinstance(ranker, ListwiseReranker)
    return ranker


def quality(requests: list[RerankRequest], qrels: Qrels, seeds: list[int], bias: float,
            started: float, name: str) -> dict[str, list[tuple[float, float, float]]]:
    """Per method, one (nDCG@10, calls per query, rounds per query) per judge seed."""
    batch = [(r.query, list(r.documents)) for r in requests]
    outcomes: dict[str, list[tuple[float, float, float]]] = {m: [] for m in METHODS}
    for seed in seeds:
        with harness.judge_server(requests, qrels, noise=NOISE, position_bias=bias,
                          seed=seed) as server:
            for method, options in METHODS.items():
                rr = listwise(server.url, options, max_concurrency=QUALITY_CONCURRENCY)
                results = harness.run_batch(rr, batch, desc=f"{method} seed {seed}", top_n=10)
                score = harness.mean_score(requests, results, qrels)
                calls = statistics.mean(res.usage.llm_calls for res in results)
                rounds = statistics.mean(res[0].details["rounds"] for res in results)
                outcomes[method].append((score, calls, rounds))
                log(started, f"{name}, seed {seed}, {method}: nDCG@10 {score:.4f}, "
                             f"{calls:.1f} calls, {rounds:.1f} rounds")
    return outcomes


def quality_section(name: str, outcomes: dict[str, list[tuple[float, float, float]]],
                    seeds: list[int]) -> tuple[str, bool]:
    base = statistics.mean(s for s, _, _ in outcomes["sliding"])
    rows: list[list[object]] = []
    for method, runs in outcomes.items():
        mean = statistics.mean(s for s, _, _ in runs)
        rows.append([method, *[s for s, _, _ in runs], mean, f"{mean - base:+.4f}",
                     f"{statistics.mean(c for _, c, _ in runs):.1f}",
                     f"{max(r for _, _, r in runs):g}"])
    preset, sliding = outcomes["balanced"], outcomes["sliding"]
    gain = statistics.mean(s for s, _, _ in preset) - base
    calls, budget = max(c for _, c, _ in preset), 2 * max(c for _, c, _ in sliding)
    rounds = max(r for _, _, r in preset)
    ok = gain >= TARGET_GAIN and calls <= budget and rounds <= 3
    paired = min(p[0] - s[0] for p, s in zip(preset, sliding, strict=True))
    verdict = (f"- {'PASS' if ok else 'FAIL'}: {name}: balanced {gain:+.4f} nDCG@10 over "
               f"sliding on the mean of judge seeds {seeds} (must be >= +{TARGET_GAIN}); "
               f"at least {paired:+.4f} on every seed; {calls:g} calls per query (at most "
               f"2x sliding's: {budget:g}), {rounds:g} rounds (at most 3)")
    table = markdown_table(["method", *[f"nDCG@10 seed {s}" for s in seeds], "mean",
                            "vs sliding", "calls per query", "rounds"], rows)
    return f"**{name}**\n\n{table}\n\n{verdict}", ok


def timing_section(walls: dict[str, list[float]], latency_ms: float,
                   queries: int) -> tuple[str, bool]:
    rows: list[list[object]] = []
    ratios: dict[str, float] = {}
    for method, values in walls.items():
        ratios[method] = statistics.mean(
            t / s for t, s in zip(values, walls["sliding"], strict=True))
        concurrency = listwise("http://unused", METHODS[method]).options.max_concurrency
        rows.append([method, concurrency, f"{statistics.mean(values):.2f}",
                     f"{ratios[method]:.2f}"])
    ok = ratios["topdown"] <= TARGET_RATIO
    verdict = (f"- {'PASS' if ok else 'FAIL'}: topdown at its defaults takes "
               f"{ratios['topdown']:.2f}x sliding's wall time per query (mean of per-query "
               f"ratios; must be <= {TARGET_RATIO}); balanced {ratios['balanced']:.2f}x")
    text = (f"Wall time per query, DL19, the first {queries} queries one at a time, the "
            f"perfect judge answering after {latency_ms:g} ms, each method at its default "
            "options (`max_concurrency` not given: the column shows what it defaults to)."
            "\n\n" + markdown_table(["method", "max_concurrency (default)", "wall s per query",
                                     "x sliding"], rows) + "\n\n" + verdict)
    return text, ok


def main() -> None:
    parser = harness.arguments(__doc__, queries=False)
    parser.add_argument("--bias", type=float, nargs="+", default=[0.5, 1.0],
                        help="the judge's position biases (default 0.5 and 1.0, the latter "
                             "as bench_topdown.py)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="judge seeds (default 0 1 2)")
    parser.add_argument("--latency-ms", type=float, default=300.0,
                        help="the judge's latency for the timing run (default 300)")
    parser.add_argument("--timing-queries", type=int, default=43,
                        help="DL19 queries in the timing run (default all 43)")
    args = parser.parse_args()
    folder = harness.data_dir(args.data)
    started = time.perf_counter()
    sections, checks = [], []
    for bias in args.bias:
        for name, (requests, qrels) in (("TREC DL19, BM25 top-100, 43 queries",
                                         load_trec_dl19(folder)),
                                        ("NovelEval, 21 queries x 20 passages",
                                         load_noveleval(folder))):
            title = f"{name}, position bias {bias:g}"
            outcomes = quality(requests, qrels, args.seeds, bias, started, title)
            text, ok = quality_section(title, outcomes, args.seeds)
            sections.append(text)
            checks.append(ok)
    dl19, dl19_qrels = load_trec_dl19(folder)
    timing_requests = dl19[: args.timing_queries]
    with harness.judge_server(timing_requests, dl19_qrels, latency_ms=args.latency_ms) as server:
        walls = asyncio.run(harness.interleaved_walls(
            {method: listwise(server.url, options) for method, options in METHODS.items()},
            harness.batch_of(timing_requests)))
    log(started, "timing done")
    timing, timing_ok = timing_section(walls, args.latency_ms, len(timing_requests))
    body = (
        "`ListwiseReranker(model, preset=\"balanced\")`: top-down partitioning (window 20, "
        "k = top_n = 10) with round 1's window shown in 2 opposite orders and the final "
        "window in 6 (3 rotations, each beside its reverse), the answers combined by Borda + "
        "Kemeny swaps; round 2 as plain topdown (each chunk beside the pivot in 2 opposite "
        "orders). Against `method=\"sliding\"` (RankGPT: window 20, step 10, 1 pass) and "
        f"`method=\"topdown\"`. `{harness.JUDGE_MODEL}` through LiteLLM against `llm-rerank "
        "judge-server` in a separate process, cache off. Judge: noise "
        f"{NOISE:g} (N(0, 1) added to each grade), position_bias b in "
        f"{' and '.join(f'{b:g}' for b in args.bias)} (+b grade for the first passage of a "
        "prompt, fading to +0 for the last), judge seeds "
        f"{args.seeds}. Quality runs: all queries at once, `max_concurrency="
        f"{QUALITY_CONCURRENCY}`. Rounds: sequential rounds of calls per query "
        "(`details[\"rounds\"]`, the largest over the seeds). On NovelEval every query has "
        "20 candidates: one window, so sliding takes 1 call, topdown 1, balanced 2 (the "
        "window in two opposite orders).\n\n"
        + "\n\n".join(sections)
        + "\n\n### Top-down at its defaults\n\n" + timing
        + f"\n\nOverall: {'PASS' if all(checks) and timing_ok else 'FAIL'}. Total run time "
        f"{(time.perf_counter() - started) / 60:.1f} min."
    )
    write_fragment("listwise_preset", "A listwise preset that beats RankGPT at low cost", body)


if __name__ == "__main__":
    main()
