"""``llm-rerank rerank``: rerank every query of a JSONL file into JSONL or a TREC run.

Reruns are cheap: answers come back from the response cache, so an interrupted run
resumes where it stopped.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import InvalidInput
from .options import add_model_options, reranker_options

if TYPE_CHECKING:
    from ..eval.io import RerankRequest
    from ..models import RankedResults
    from ..reranker import Reranker


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("rerank", help="rerank a JSONL file of queries and candidates",
                                   description=__doc__)
    add_model_options(parser)
    parser.add_argument("-i", "--input", required=True, help="input JSONL (RankGPT or candidates)")
    parser.add_argument("-o", "--output", default="-", help="output file (default: stdout)")
    parser.add_argument("--format", choices=["jsonl", "trec"], default="jsonl")
    parser.add_argument("--top-n", type=int, help="keep only the best N per query")
    parser.add_argument("--tag", default=None, help="run tag in TREC output (default: strategy)")
    parser.add_argument("--concurrent-queries", type=int, default=8,
                        help="queries ranked at the same time (default 8)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..eval.io import read_requests
    from ..reranker import get_reranker, run_sync

    requests = read_requests(args.input)
    try:
        reranker = get_reranker(args.strategy, **reranker_options(args))
    except TypeError as exc:
        raise InvalidInput(f"strategy {args.strategy!r}: {exc}") from exc
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
    try:
        run_sync(_rerank_all(reranker, requests, args, out))
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


async def _rerank_all(reranker: Reranker, requests: list[RerankRequest],
                      args: argparse.Namespace, out: TextIO) -> None:
    from ..eval.io import write_results
    from ..models import Usage
    from .progress import Progress

    if args.concurrent_queries < 1:
        raise InvalidInput("--concurrent-queries must be >= 1")
    progress = Progress(len(requests), "rerank")
    tag = args.tag or reranker.name
    total = Usage()
    finished: dict[int, RankedResults] = {}
    next_to_write = 0

    def record(position: int, results: RankedResults) -> None:
        nonlocal total, next_to_write
        finished[position] = results
        total = total + results.usage
        progress.advance(f"calls={total.llm_calls} hits={total.cache_hits}")
        while next_to_write in finished:  # write in input order as soon as possible
            write_results(out, [(requests[next_to_write].query_id, finished.pop(next_to_write))],
                          args.format, tag)
            next_to_write += 1
        out.flush()

    await reranker.arank_batch([(r.query, r.documents) for r in requests], args.top_n,
                               args.concurrent_queries, on_result=record)
    progress.close(
        f"reranked {len(requests)} queries: {total.llm_calls} LLM calls, "
        f"{total.cache_hits} cache hits, {total.prompt_tokens} prompt tokens, "
        f"{total.parse_failures} parse failures, ${total.cost_usd:.4f}"
    )
