"""Rerank the same candidates with a cross-encoder and an LLM, then write an HTML comparison.

Needs the cross-encoder extra (``pip install -e '.[cross-encoder]'`` in the clone). Offline, point
the LLM side at the simulated judge, started in another terminal:

    llm-rerank judge-server --data $LLM_RERANK_DATA/trec-dl19/bm25_dl19_top100.jsonl \\
        --qrels $LLM_RERANK_DATA/trec-dl19/qrels.txt --port 8000 --noise 0.7
    python examples/llm_vs_cross_encoder.py --cross-encoder ./ms-marco-MiniLM-L-6-v2 \\
        --llm openai/judge --api-base http://127.0.0.1:8000/v1 --html report.html

Without ``--input``/``--qrels`` it reads TREC DL19 from ``$LLM_RERANK_DATA``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from llm_rerank import CrossEncoderReranker, ListwiseReranker, Reranker, Usage
from llm_rerank.eval.compare import compare_runs, summary_text
from llm_rerank.eval.io import RerankRequest, read_requests
from llm_rerank.eval.report import write_html
from llm_rerank.eval.trec import Run, read_qrels, run_from_rankings


def rerank(reranker: Reranker, requests: list[RerankRequest]) -> tuple[Run, Usage, float]:
    """Rank every query: the rankings as a run, what they cost, the wall time."""
    started = time.perf_counter()
    ranked = reranker.rank_batch([(r.query, r.documents) for r in requests])
    wall_time = time.perf_counter() - started
    run = run_from_rankings({
        request.query_id: [str(result.document.id) for result in results]
        for request, results in zip(requests, ranked, strict=True)
    })
    return run, sum((results.usage for results in ranked), Usage()), wall_time


def main() -> None:
    data = Path(os.environ.get("LLM_RERANK_DATA", "data")) / "trec-dl19"
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", default=str(data / "bm25_dl19_top100.jsonl"))
    parser.add_argument("--qrels", default=str(data / "qrels.txt"))
    parser.add_argument("--queries", type=int, help="only the first N queries")
    parser.add_argument("--cross-encoder", default="cross-encoder/ms-marco-MiniLM-L-6-v2",
                        help="model name or local directory")
    parser.add_argument("--llm", default="openai/judge", help="LiteLLM model string")
    parser.add_argument("--api-base", help="e.g. http://127.0.0.1:8000/v1 for the judge server")
    parser.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY", "unused"))
    parser.add_argument("--html", default="llm_vs_cross_encoder.html")
    args = parser.parse_args()

    requests = read_requests(args.input)[: args.queries]
    qrels = read_qrels(args.qrels)
    cross_encoder = CrossEncoderReranker(args.cross_encoder)
    llm = ListwiseReranker(args.llm, api_base=args.api_base, api_key=args.api_key,
                           window_size=20, step=10)

    run_ce, usage_ce, wall_ce = rerank(cross_encoder, requests)
    run_llm, usage_llm, wall_llm = rerank(llm, requests)
    report = compare_runs(run_ce, run_llm, qrels, metrics=["ndcg@10", "mrr@10"],
                          usage_a=usage_ce, usage_b=usage_llm,
                          wall_time_a=wall_ce, wall_time_b=wall_llm,
                          label_a=f"cross-encoder {args.cross_encoder}",
                          label_b=f"listwise {args.llm}")
    print(summary_text(report))
    write_html(args.html, report, title="LLM vs cross-encoder",
               queries={r.query_id: r.query for r in requests},
               texts={str(d.id): d.text for r in requests for d in r.documents})
    print(f"report: {args.html}")


if __name__ == "__main__":
    main()
