"""Pairwise PRP under a position-biased judge: both orders against one order (challenger or
incumbent shown first), per position bias, heapsort and sliding.

Usage: python benchmarks/bench_pairwise_bias.py [--data DIR] [--queries N] [--bias 0 1 2 4]
       [--sliding-bias 1]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import harness
from harness import log, markdown_table, scores, subset, write_fragment

from llm_rerank import Document, RankedResults
from llm_rerank.prompts import prompts_dir

NOISE = 0.5


def tie_share(results: list[RankedResults]) -> float:
    """Share of the comparisons that ended in a tie (each comparison counted from both sides)."""
    ties = sum(r.details.get("ties", 0) for res in results for r in res)
    comparisons = sum(r.details.get("comparisons", 0) for res in results for r in res)
    return ties / comparisons if comparisons else 0.0


def incumbent_first_template(folder: Path) -> Path:
    """The bundled PRP prompt with its two passages shown in the other order (Passage B,
    holding the second argument, first). The judge's bias toward the first-shown passage
    then favours B: a judge biased toward the second passage, without new prompt text."""
    source = (prompts_dir() / "pairwise" / "prp.j2").read_text(encoding="utf-8")
    first, second = "Passage A: {{ passage_a }}", "Passage B: {{ passage_b }}"
    if source.count(first) != 1 or source.count(second) != 1:
        sys.exit("pairwise/prp.j2 changed: cannot build the swapped prompt")
    path = folder / "prp_incumbent_first.j2"
    path.write_text(source.replace(first, "\0").replace(second, first).replace("\0", second),
                    encoding="utf-8")
    return path


@dataclass(frozen=True)
class Variant:
    label: str
    both_orders: bool
    swapped: bool


VARIANTS = [
    Variant("both orders", True, False),
    Variant("one order, challenger shown first", False, False),
    Variant("one order, incumbent shown first", False, True),
]


def run(url: str, method: str, variant: Variant, template: Path,
        batch: list[tuple[str, list[Document]]]) -> list[RankedResults]:
    ranker = harness.judge_reranker("pairwise", url, method=method, k=10,
                                    both_orders=variant.both_orders,
                                    template=template if variant.swapped else None)
    return harness.run_batch(ranker, batch, desc=f"{method}, {variant.label}")


def verdict(method: str, bias: float, scores: dict[str, float]) -> list[str]:
    both = scores["both orders"]
    ones = {label: score for label, score in scores.items() if label != "both orders"}
    average = statistics.mean(ones.values())
    lines = [f"- {'PASS' if both > score else 'FAIL'}: {method}, position_bias {bias:g}: both "
             f"orders {both:.4f} vs {label} {score:.4f} ({both - score:+.4f})"
             for label, score in ones.items()]
    lines.append(f"- {'PASS' if both > average else 'FAIL'}: {method}, position_bias {bias:g}: "
                 f"both orders {both:.4f} vs one order averaged over the two bias directions "
                 f"{average:.4f} ({both - average:+.4f})")
    return lines


def main() -> None:
    parser = harness.arguments(__doc__)
    parser.add_argument("--bias", type=float, nargs="+", default=[0.0, 1.0, 2.0, 4.0],
                        help="position_bias values for heapsort (default 0 1 2 4)")
    parser.add_argument("--sliding-bias", type=float, nargs="*", default=[1.0],
                        help="position_bias values for sliding (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="the judge's seed")
    args = parser.parse_args()
    requests, qrels = harness.dl19(args)
    batch = harness.batch_of(requests)
    bm25 = scores(harness.input_order(requests), qrels)["ndcg@10"]
    settings = [("heapsort", b) for b in args.bias] + [("sliding", b) for b in args.sliding_bias]
    rows: list[list[object]] = []
    verdicts: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="prp-") as folder:
        template = incumbent_first_template(Path(folder))
        for bias in sorted({b for _, b in settings}):
            with harness.judge_server(requests, qrels, noise=NOISE, position_bias=bias,
                              seed=args.seed) as server:
                for method in [m for m, b in settings if b == bias]:
                    found = {}
                    # Without bias the two one-order variants differ only by noise draws.
                    for variant in VARIANTS if bias > 0 else VARIANTS[:2]:
                        results = run(server.url, method, variant, template, batch)
                        score = harness.mean_score(requests, results, qrels)
                        calls = harness.per_query(results, "llm_calls")
                        found[variant.label] = score
                        rows.append([method, f"{bias:g}", variant.label, score, f"{calls:.0f}",
                                     f"{tie_share(results):.0%}"])
                        log(started, f"{method}, bias {bias:g}, {variant.label}: nDCG@10 "
                                     f"{score:.4f}, {calls:.0f} calls/query")
                    if bias > 0:
                        verdicts += verdict(method, bias, found)
    rows.sort(key=lambda row: (row[0] != "heapsort", float(str(row[1]))))
    total = time.perf_counter() - started
    body = (
        f"Pairwise PRP, k=10, on TREC DL19 BM25 top-100, {subset(requests)}; judge noise {NOISE} "
        "(N(0, 0.5^2) added to each 0-3 grade) plus the position bias below, added to the "
        f"grade of the passage shown first; seed {args.seed}; BM25 order nDCG@10 {bm25:.4f}. "
        "One order asks about (challenger, incumbent) once: with the bundled prompt the "
        "challenger is shown first (Passage A), so the bias favours it; *incumbent shown "
        "first* uses the same prompt with its two passages swapped (Passage B first), i.e. a "
        "judge biased toward the second passage. Both orders ask both and count an "
        "inconsistent pair as a tie, settled for the document with more net wins (decided "
        "comparisons won minus lost) so far, then by the input (BM25) order; *ties* is the "
        "share of comparisons that ended in one. The challenger is the child in a heapsort "
        "sift-down "
        "and the document carried up in a sliding pass. "
        f"Run time {total / 60:.1f} min.\n\n"
        + markdown_table(["method", "position bias", "pairwise", "nDCG@10", "calls per query",
                          "ties"], rows)
        + "\n\nHow to read it. One order depends on the bias direction: a bias toward the "
        "challenger (usually the better document: the maximum carried up in sliding, a child "
        "beside a root that just came from the bottom of the heap) even helps it, a bias "
        "toward the incumbent stalls the sort. Both orders do not depend on the direction: "
        "pairs whose grades differ by less than the bias become ties, and a tie goes to the "
        "document that has won more decided comparisons so far, so a strong document keeps "
        "climbing past a close rival instead of stopping at the first tie (with ties settled "
        "by input order alone, an earlier version's sliding scored 0.6299 at bias 1). Once "
        "the bias exceeds the grade range (4 > 3) a one-order answer carries no information, "
        "while both orders fall back to the decided comparisons and BM25 order.\n\n"
        "Must show (both-order beats one-order under position bias), per bias direction and "
        "averaged over both:\n\n"
        + "\n".join(verdicts)
    )
    write_fragment("pairwise_bias", "Pairwise under position bias: both orders vs one", body)


if __name__ == "__main__":
    main()
