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
from .options import llm_options, parse_options

if TYPE_CHECKING:
    from ..eval.io import RerankRequest
    from ..models import Usage
    from ..reranker import Reranker

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
        parser.add_argument(f"--{side}-label", dest=f"label_{side}",
                            help=f"name of side {upper} in the report")
        parser.add_argument(f"--{side}-save", dest=f"save_{side}", metavar="RUN",
                            help=f"write reranker {upper}'s ranking as a TREC run")
    parser.add_argument("--no-cache", action="store_true", help="LLM sides: no response cache")
    parser.add_argument("--cache-dir", help="LLM sides: response cache directory")
    parser.add_argument("--concurrent-queries", type=int, default=8,
                        help="queries ranked at the same time per side (default 8)")
    parser.set_defaults(func=run)


def split_spec(spec: str) -> tuple[str, str | None]:
    """``"listwise:openai/gpt-4o-mini"`` -> ``("listwise", "openai/gpt-4o-mini")``; a bare
    strategy (``"cross-encoder"``) keeps its default model."""
    strategy, sep, model = spec.partition(":")
    if not strategy or (sep and not model):
        raise InvalidInput(f"reranker spec {spec!r} is not STRATEGY:MODEL")
    return strategy, model or None


def build_reranker(spec: str, option_pairs: list[str], api_base: str | None,
                   args: argparse.Namespace) -> Reranker:
    """A reranker from a spec and its side's options (cache options apply to LLM sides)."""
    from ..reranker import LLMReranker, get_reranker, reranker_class

    strategy, model = split_spec(spec)
    options = parse_options(option_pairs)
    if model is not None:
        options["model"] = model
    if issubclass(reranker_class(strategy), LLMReranker):
        options.update(llm_options(api_base=api_base, no_cache=args.no_cache,
                                   cache_dir=args.cache_dir))
    elif api_base:
        raise InvalidInput(f"strategy {strategy!r} takes no API base")
    try:
        return get_reranker(strategy, **options)
    except TypeError as exc:
        raise InvalidInput(f"reranker {spec!r}: {exc}") from exc


async def rerank_run(reranker: Reranker, requests: list[RerankRequest], concurrency: int,
                     label: str) -> tuple[dict[str, dict[str, float]], Usage, float]:
    """Rerank every request: the run (ranks as scores), the summed usage, the wall time."""
    import time

    from ..eval.trec import run_from_rankings
    from ..models import Usage
    from .progress import Progress

    progress = Progress(len(requests), label)
    started = time.perf_counter()
    ranked = await reranker.arank_batch(
        [(request.query, request.documents) for request in requests],
        max_concurrent_queries=concurrency, on_result=lambda position, results: progress.advance(),
    )
    wall_time = time.perf_counter() - started
    total = sum((results.usage for results in ranked), Usage())
    progress.close(f"{label}: reranked {len(requests)} queries in {wall_time:.1f} s, "
                   f"{total.llm_calls} LLM calls, ${total.cost_usd:.4f}")
    rankings = {
        request.query_id: [r.document.id if r.document.id is not None else str(r.index)
                           for r in results]
        for request, results in zip(requests, ranked, strict=True)
    }
    return run_from_rankings(rankings), total, wall_time


def run(args: argparse.Namespace) -> int:
    from ..compare import compare_runs, summary_text
    from ..eval.io import read_requests
    from ..eval.trec import read_qrels, read_run, write_run
    from ..reranker import run_sync

    if args.concurrent_queries < 1:
        raise InvalidInput("--concurrent-queries must be >= 1")
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
            rerankers[side] = (spec, build_reranker(spec, getattr(args, f"option_{side}"),
                                                    getattr(args, f"api_base_{side}"), args))
    sides: dict[str, tuple[str, Any, Any, float | None]] = {}
    for side in ("a", "b"):
        label = getattr(args, f"label_{side}")
        if side not in rerankers:
            path = positional.pop(0)
            sides[side] = (label or Path(path).stem, read_run(path), None, None)
            continue
        spec, reranker = rerankers[side]
        label = label or spec
        assert requests is not None
        ranked, usage, wall_time = run_sync(
            rerank_run(reranker, requests, args.concurrent_queries, label))
        if getattr(args, f"save_{side}"):
            write_run(getattr(args, f"save_{side}"), ranked, tag=reranker.name)
        sides[side] = (label, ranked, usage, wall_time)
    (label_a, run_a, usage_a, wall_a), (label_b, run_b, usage_b, wall_b) = sides["a"], sides["b"]
    qrels = read_qrels(args.qrels) if args.qrels else None
    report = compare_runs(run_a, run_b, qrels, args.metrics, args.k, usage_a=usage_a,
                          usage_b=usage_b, wall_time_a=wall_a, wall_time_b=wall_b,
                          label_a=label_a, label_b=label_b)
    if args.html:
        from ..report import write_html

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
    return 0
