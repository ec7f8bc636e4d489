"""``llm-rerank rerank``: rerank every query of a JSONL file into JSONL or a TREC run.

Reruns are cheap: answers come back from the response cache, so an interrupted run
resumes where it stopped. -o is written atomically: an existing file is replaced only
when the whole run succeeded. Under -O on_error=keep_order a failed LLM call keeps its
documents in input order; JSONL rows list such failures under "errors", TREC output
reports them on stderr, and --strict turns them into exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING, Any

from ..errors import InvalidInput
from .options import add_model_options, reranker_options
from .outcome import STRICT_HELP

if TYPE_CHECKING:
    from ..eval.io import RerankRequest
    from ..models import RankedResults
    from ..reranker import Reranker
    from .outcome import Outcome


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("rerank", help="rerank a JSONL file of queries and candidates",
                                   description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_options(parser)
    parser.add_argument("-i", "--input", required=True, help="input JSONL (RankGPT or candidates)")
    parser.add_argument("-o", "--output", default="-", help="output file (default: stdout)")
    parser.add_argument("--format", choices=["jsonl", "trec"], default="jsonl")
    parser.add_argument("--top-n", type=int, help="keep only the best N per query")
    parser.add_argument("--tag", default=None, help="run tag in TREC output (default: strategy)")
    parser.add_argument("--concurrent-queries", type=int, default=8,
                        help="queries ranked at the same time (default 8)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes sharing the queries, the calls in flight and the "
                             "cache: more than 1 when the client's CPU is the bound (default 1)")
    parser.add_argument("--strict", action="store_true", help=STRICT_HELP)
    # issue 17: the same reranking over Ray actors (llm_rerank/cli/ray_engine.py)
    parser.add_argument("--engine", choices=["local", "ray"], default="local",
                        help="'ray': spread the queries over Ray actors (input JSONL or "
                             ".parquet; extra 'ray')")
    parser.add_argument("--ray-address", help="the Ray cluster (default: start a local Ray)")
    parser.add_argument("--actors", type=int, default=2,
                        help="--engine ray: actors, each with the reranker built once "
                             "(default 2)")
    parser.set_defaults(func=run)


def check_flags(args: argparse.Namespace) -> None:
    """Refuse bad flag values before any file is read or written."""
    from ..eval.trec import trec_id_problem
    from ..files import check_output_path, same_file

    if args.concurrent_queries < 1:
        raise InvalidInput(f"--concurrent-queries must be >= 1, got {args.concurrent_queries}")
    if args.workers < 1:
        raise InvalidInput(f"--workers must be >= 1, got {args.workers}")
    if args.top_n is not None and args.top_n < 1:
        raise InvalidInput(f"--top-n must be >= 1, got {args.top_n}")
    if args.tag is not None and (problem := trec_id_problem(args.tag)):
        raise InvalidInput(f"--tag {args.tag!r} {problem}; a TREC run tag is one word")
    if args.output != "-":
        check_output_path(args.output, "-o")
        if same_file(args.output, args.input):
            raise InvalidInput(f"-o {args.output} is the input file; write to another file")


def check_trec_input(requests: list[RerankRequest]) -> None:
    """Refuse, before any LLM call, input whose ids a TREC run cannot hold."""
    from ..eval.trec import check_trec_ids

    seen: set[str] = set()
    for request in requests:
        if request.query_id in seen:
            raise InvalidInput(f"query id {request.query_id!r} appears on two input rows; a "
                               "TREC run would merge them: give each row its own query id")
        seen.add(request.query_id)
        check_trec_ids(request.query_id, [doc.id or "" for doc in request.documents])


def run(args: argparse.Namespace) -> int:
    from ..aio import run_sync
    from ..eval.io import read_requests
    from ..files import output_stream
    from ..registry import get_reranker

    check_flags(args)
    options = reranker_options(args)
    if args.engine == "ray":
        from .ray_engine import run_on_ray

        if args.actors < 1 or args.workers != 1:
            raise InvalidInput("--engine ray takes --actors N >= 1 (not --workers)")
        return run_on_ray(args, options)
    requests = read_requests(args.input)
    if args.format == "trec":
        check_trec_input(requests)
    try:
        reranker = get_reranker(args.strategy, **options)
    except TypeError as exc:
        raise InvalidInput(f"strategy {args.strategy!r}: {exc}") from exc
    with output_stream(args.output) as out:
        outcome = run_sync(_rerank_all(reranker, requests, args, out))
    if args.strict and outcome.failed:
        print("llm-rerank: error: --strict: the run had failed calls or parse failures "
              "(see the summary above)", file=sys.stderr)
        return 1
    return 0


async def _rerank_all(reranker: Reranker, requests: list[RerankRequest],
                      args: argparse.Namespace, out: IO[str]) -> Outcome:
    from ..eval.io import write_results
    from .outcome import Outcome, query_problems
    from .progress import progress_bar

    progress = progress_bar(len(requests), "rerank")
    tag = args.tag or reranker.name
    outcome = Outcome()
    finished: dict[int, RankedResults] = {}
    next_to_write = 0

    def record(position: int, results: RankedResults) -> None:
        nonlocal next_to_write
        finished[position] = results
        outcome.add(results)
        progress.set_postfix_str(f"calls={outcome.usage.llm_calls} "
                                 f"hits={outcome.usage.cache_hits}", refresh=False)
        progress.update()
        while next_to_write in finished:  # write in input order as soon as possible
            query_id, done = requests[next_to_write].query_id, finished.pop(next_to_write)
            write_results(out, [(query_id, done)], args.format, tag)
            if args.format == "trec" and (problems := query_problems(query_id, done)):
                progress.write(problems, file=sys.stderr)
            next_to_write += 1
        out.flush()

    await reranker.arank_batch([(r.query, r.documents, r.instructions, r.criteria)
                                for r in requests], args.top_n,
                               args.concurrent_queries, on_result=record, workers=args.workers,
                               progress=False)  # the command draws its own bar
    progress.close()
    print(outcome.summary("reranked"), file=sys.stderr)
    return outcome
