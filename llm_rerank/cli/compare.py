"""``llm-rerank compare``: agreement and metric deltas of two rankings, with an HTML report.

Each side is a run file (TREC run or JSONL rankings) or a reranker spec STRATEGY:MODEL
(split at the first ':'; e.g. listwise:openai/gpt-4o-mini, cross-encoder:./my-model) that
reranks the queries of -i/--input. With -i and run files, -i supplies query and passage
text for the HTML report.

Examples:
  llm-rerank compare bm25.trec listwise.trec --qrels qrels.txt --html report.html
  llm-rerank compare --a listwise:openai/judge --a-api-base http://127.0.0.1:8000/v1 \\
      --b cross-encoder:./minilm -i dl19.jsonl --qrels qrels.txt --html report.html
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput
from .options import is_llm_strategy, llm_options, parse_options
from .outcome import STRICT_HELP

if TYPE_CHECKING:
    from ..eval.io import RerankRequest
    from ..reranker import Reranker
    from .outcome import Outcome

DEFAULT_METRICS = ["ndcg@10", "mrr@10"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare two runs or two rerankers (tau, RBO, overlap, metric deltas)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("runs", nargs="*", metavar="RUN",
                        help="run files for the sides not given by --a/--b")
    parser.add_argument("-i", "--input", help="reranking input JSONL (queries and candidates)")
    parser.add_argument("--qrels", help="TREC qrels, for metric values and deltas")
    parser.add_argument("--metrics", nargs="+", default=DEFAULT_METRICS, metavar="METRIC",
                        help="metrics when --qrels is given "
                             f"(default: {' '.join(DEFAULT_METRICS)})")
    parser.add_argument("--k", type=int, default=10, help="depth of overlap@k and top lists")
    parser.add_argument("--html", help="write the HTML report here")
    parser.add_argument("--title", help="title of the HTML report")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    for side in ("a", "b"):
        upper = side.upper()
        parser.add_argument(f"--{side}", dest=f"spec_{side}", metavar="STRATEGY:MODEL",
                            help=f"rerank -i with this reranker as side {upper}")
        parser.add_argument(f"--{side}-option", dest=f"option_{side}", action="append",
                            default=[], metavar="KEY=VALUE",
                            help=f"an option of reranker {upper} (value read as JSON)")
        parser.add_argument(f"--{side}-api-base", dest=f"api_base_{side}",
                            help=f"endpoint of reranker {upper}")
        parser.add_argument(f"--{side}-api-key", dest=f"api_key_{side}",
                            help=f"API key of reranker {upper} (default: the provider's "
                                 "environment variable)")
        parser.add_argument(f"--{side}-label", dest=f"label_{side}",
                            help=f"name of side {upper} in the report")
        parser.add_argument(f"--{side}-save", dest=f"save_{side}", metavar="RUN",
                            help=f"write reranker {upper}'s ranking as a TREC run")
    parser.add_argument("--no-cache", action="store_true", help="LLM sides: no response cache")
    parser.add_argument("--cache-dir", help="LLM sides: response cache directory")
    parser.add_argument("--concurrent-queries", type=int, default=8,
                        help="queries ranked at the same time per side (default 8)")
    parser.add_argument("--strict", action="store_true", help=STRICT_HELP)
    parser.set_defaults(func=run)


def split_spec(spec: str) -> tuple[str, str | None]:
    """``"listwise:openai/gpt-4o-mini"`` -> ``("listwise", "openai/gpt-4o-mini")``; a bare
    strategy (``"cross-encoder"``) keeps its default model."""
    strategy, sep, model = spec.partition(":")
    if not strategy or (sep and not model):
        raise InvalidInput(f"reranker spec {spec!r} is not STRATEGY:MODEL")
    return strategy, model or None


def build_reranker(spec: str, side: str, args: argparse.Namespace) -> Reranker:
    """Side ``side``'s reranker from its spec and options (cache options: LLM sides only)."""
    from ..registry import get_reranker

    strategy, model = split_spec(spec)
    dedicated = {"model": f"--{side} STRATEGY:MODEL", "api_base": f"--{side}-api-base",
                 "api_key": f"--{side}-api-key", "cache": "--no-cache or --cache-dir",
                 "cache_dir": "--cache-dir"}
    options = parse_options(getattr(args, f"option_{side}"), dedicated, f"--{side}-option")
    if model is not None:
        options["model"] = model
    api_base, api_key = getattr(args, f"api_base_{side}"), getattr(args, f"api_key_{side}")
    if is_llm_strategy(strategy):
        options.update(llm_options(api_base=api_base, api_key=api_key, no_cache=args.no_cache,
                                   cache_dir=args.cache_dir))
    elif api_base or api_key:
        flag = f"--{side}-api-base" if api_base else f"--{side}-api-key"
        raise InvalidInput(f"{flag} does not apply to strategy {strategy!r}, which calls no LLM")
    try:
        return get_reranker(strategy, **options)
    except TypeError as exc:
        raise InvalidInput(f"reranker {spec!r}: {exc}") from exc


async def rerank_run(reranker: Reranker, requests: list[RerankRequest], concurrency: int,
                     label: str) -> tuple[dict[str, dict[str, float]], Outcome, float]:
    """Rerank every request: the run (ranks as scores), the outcome, the wall time."""
    import time

    from ..eval.trec import run_from_rankings
    from .outcome import Outcome
    from .progress import progress_bar

    progress = progress_bar(len(requests), label)
    started = time.perf_counter()
    ranked = await reranker.arank_batch(
        [(request.query, request.documents) for request in requests],
        max_concurrent_queries=concurrency, on_result=lambda position, results: progress.update(),
        progress=False,  # the command draws its own bar
    )
    wall_time = time.perf_counter() - started
    outcome = Outcome()
    for results in ranked:
        outcome.add(results)
    progress.close()
    print(f"{label}: {outcome.summary('reranked')} in {wall_time:.1f} s", file=sys.stderr)
    rankings = {
        request.query_id: [r.document.id if r.document.id is not None else str(r.index)
                           for r in results]
        for request, results in zip(requests, ranked, strict=True)
    }
    return run_from_rankings(rankings), outcome, wall_time


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse unwritable output paths before any reranking."""
    from ..files import check_output_path

    if args.html:
        check_output_path(args.html, "--html")
    for side in ("a", "b"):
        if path := getattr(args, f"save_{side}"):
            if getattr(args, f"spec_{side}") is None:
                raise InvalidInput(f"--{side}-save needs --{side} STRATEGY:MODEL (a run file "
                                   "side has nothing to save)")
            check_output_path(path, f"--{side}-save")


def run(args: argparse.Namespace) -> int:
    from ..aio import run_sync
    from ..eval.compare import compare_runs, summary_text
    from ..eval.io import read_requests
    from ..eval.trec import read_qrels, read_run, write_run

    if args.concurrent_queries < 1:
        raise InvalidInput(f"--concurrent-queries must be >= 1, got {args.concurrent_queries}")
    check_outputs(args)
    positional = list(args.runs)
    wanted = (args.spec_a is None) + (args.spec_b is None)
    if len(positional) != wanted:
        raise InvalidInput(
            f"give two sides: {wanted} run file(s) expected besides --a/--b, got {len(positional)}"
        )
    requests = read_requests(args.input) if args.input else None
    rerankers: dict[str, tuple[str, Reranker]] = {}
    for side in ("a", "b"):  # build both before ranking, so bad options fail fast
        spec = getattr(args, f"spec_{side}")
        if spec is not None:
            if requests is None:
                raise InvalidInput(f"--{side} {spec} needs -i/--input with the queries to rerank")
            rerankers[side] = (spec, build_reranker(spec, side, args))
    sides: dict[str, tuple[str, Any, Any, float | None]] = {}
    failed = False
    for side in ("a", "b"):
        label = getattr(args, f"label_{side}")
        if side not in rerankers:
            path = positional.pop(0)
            sides[side] = (label or Path(path).stem, read_run(path), None, None)
            continue
        spec, reranker = rerankers[side]
        label = label or spec
        assert requests is not None
        ranked, outcome, wall_time = run_sync(
            rerank_run(reranker, requests, args.concurrent_queries, label))
        failed = failed or outcome.failed
        if getattr(args, f"save_{side}"):
            write_run(getattr(args, f"save_{side}"), ranked, tag=reranker.name)
        sides[side] = (label, ranked, outcome.usage, wall_time)
    (label_a, run_a, usage_a, wall_a), (label_b, run_b, usage_b, wall_b) = sides["a"], sides["b"]
    qrels = read_qrels(args.qrels) if args.qrels else None
    report = compare_runs(run_a, run_b, qrels, args.metrics, args.k, usage_a=usage_a,
                          usage_b=usage_b, wall_time_a=wall_a, wall_time_b=wall_b,
                          label_a=label_a, label_b=label_b)
    if args.html:
        from ..eval.report import write_html

        queries = {r.query_id: r.query for r in requests} if requests else None
        texts = ({d.id: d.text for r in requests for d in r.documents if d.id is not None}
                 if requests else None)
        write_html(args.html, report, title=args.title, queries=queries, texts=texts)
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(summary_text(report))
        if args.html:
            print(f"report: {args.html}", file=sys.stderr)
    if args.strict and failed:
        print("llm-rerank: error: --strict: a reranker had failed calls or parse failures "
              "(see the summary above)", file=sys.stderr)
        return 1
    return 0
