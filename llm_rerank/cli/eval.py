"""``llm-rerank eval``: TREC metrics of a run against qrels, with trec_eval's conventions.

The run is a TREC run file or a JSONL ranking (``rerank`` output, or an input file, whose
candidate order is then evaluated). Queries missing from the qrels are not evaluated.

Example: llm-rerank eval --run out.jsonl --qrels qrels.txt --metrics ndcg@10 map --per-query

Multi-part queries: --aspects FILE (qid criterion docid grade) adds alpha_ndcg@K and
aspect_recall@K.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

DEFAULT_METRICS = ["ndcg@10", "mrr@10", "recall@20", "map"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("eval", help="TREC metrics of a run against qrels",
                                   description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="TREC run or JSONL rankings")
    parser.add_argument("--qrels", required=True, help="TREC qrels: qid 0 docid grade")
    parser.add_argument("--metrics", nargs="+", default=DEFAULT_METRICS, metavar="METRIC",
                        help="ndcg@K, mrr@K, recall@K, map, p@K; with --aspects also "
                             "alpha_ndcg@K, aspect_recall@K "
                             f"(default: {' '.join(DEFAULT_METRICS)})")
    parser.add_argument("--aspects", help="per-part qrels of multi-part queries: qid criterion "
                                          "docid grade (for alpha_ndcg@K, aspect_recall@K)")
    parser.add_argument("--relevance-level", type=int, default=1,
                        help="lowest grade that counts as relevant for binary metrics (default 1)")
    parser.add_argument("--per-query", action="store_true", help="also show each query's values")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)


def format_table(report: Any, per_query: bool) -> str:
    """An aligned text table: one row per query (optional), then the mean row."""
    header = ["query", *report.metrics]
    rows = [[qid, *(f"{values[m]:.4f}" for m in report.metrics)]
            for qid, values in report.per_query.items()] if per_query else []
    mean = [f"{report.mean[m]:.4f}" for m in report.metrics]
    rows.append([f"mean ({report.num_queries})", *mean])
    widths = [max(len(row[col]) for row in [header, *rows]) for col in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[0]) if col == 0 else cell.rjust(widths[col])
                       for col, cell in enumerate(row)) for row in [header, *rows]]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import sys

    from ..errors import InvalidInput
    from ..eval.io import read_aspect_qrels
    from ..eval.metrics import ASPECT_KINDS, evaluate, parse_metrics
    from ..eval.trec import read_qrels, read_run

    needing = [m.name for m in parse_metrics(args.metrics) if m.kind in ASPECT_KINDS]
    if needing and not args.aspects:
        raise InvalidInput(f"{', '.join(needing)} need per-part judgments: give --aspects FILE "
                           "(lines 'qid criterion docid grade')")
    aspects = read_aspect_qrels(args.aspects) if args.aspects else None
    report = evaluate(read_run(args.run), read_qrels(args.qrels), args.metrics,
                      relevance_level=args.relevance_level, aspects=aspects)
    if args.json:
        data = report.model_dump()
        if not args.per_query:
            del data["per_query"]
        print(json.dumps(data, indent=2))
        return 0
    print(format_table(report, args.per_query))
    if report.queries_without_qrels:
        print(f"note: {len(report.queries_without_qrels)} run queries have no qrels and were "
              f"not evaluated: {' '.join(report.queries_without_qrels[:10])}"
              f"{' ...' if len(report.queries_without_qrels) > 10 else ''}", file=sys.stderr)
    return 0
