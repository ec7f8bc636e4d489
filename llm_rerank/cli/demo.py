"""``llm-rerank demo``: the whole pipeline offline, on the bundled sample data.

Reranks 3 multi-part queries (10 first-stage candidates each) with the embedded local
model (``local/smollm2-135m``, tiny: expect poor quality) or any LiteLLM model, then shows
each query's first-stage and reranked order, nDCG@10 before and after, and the usage.
The default strategy is pairwise, the one that ranked the sample best with the embedded
model (measured for every strategy; see the README's "The embedded model"): the 135M model
can often tell which of two passages answers better, but it cannot order a list (listwise
returns the input order) and its relevance labels are noisy (pointwise). With ``-s criteria``
the demo ranks one query of the multi-part sample against its parts and shows each
passage's verdict per part.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput
from ..wording import counted
from .options import add_strategy_option, is_llm_strategy, llm_options, refuse_llm_flags

if TYPE_CHECKING:
    from ..models import Usage
    from ..prompts import PromptTemplate

DEFAULT_MODEL = "local/smollm2-135m"
DEFAULT_STRATEGY = "pairwise"  # the best on the sample with DEFAULT_MODEL (README table)
TEXT_WIDTH = 34
NDCG_DEPTH = 10
LOCAL_TOKENS_PER_ID = 6
REAL_MODEL_HINT = """\
Point the demo at a real model (any LiteLLM model string):
  llm-rerank demo -m openai/gpt-4o-mini            # needs OPENAI_API_KEY
  llm-rerank demo -m ollama/llama3.1 --api-base http://localhost:11434
Your own data, JSONL like llm_rerank/data/sample.jsonl:
  llm-rerank rerank -m MODEL -i llm_rerank/data/sample.jsonl -o run.trec --format trec"""
TINY_MODEL_NOTE = """\
(a 135M-parameter model on the CPU, there to show the pipeline offline: it can often tell
which of two passages answers better, so pairwise comparisons rank this sample best with
it, one comparison at a time, in both orders; it cannot order a whole list, its labels are
noisy, and it is no judge for real data)"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("demo", help="rerank bundled sample queries offline",
                                   description=__doc__)
    parser.add_argument("-m", "--model", default=DEFAULT_MODEL,
                        help=f"a LiteLLM model string (default: {DEFAULT_MODEL}, embedded)")
    add_strategy_option(parser, DEFAULT_STRATEGY, "; criteria ranks one multi-part sample query "
                        "by per-part verdicts")
    parser.add_argument("--api-base", help="endpoint URL, e.g. http://localhost:11434")
    parser.add_argument("--api-key", help="API key (default: the provider's environment variable)")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    parser.add_argument("--limit", type=int, help="rerank only the first N sample queries")
    parser.set_defaults(func=run)


def shorten(text: str, width: int = TEXT_WIDTH) -> str:
    """``text`` on one line, cut to ``width`` characters.

    >>> shorten("Tides are caused mainly by the Moon's gravity", 20)
    'Tides are caused m…'
    """
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 2].rstrip() + "…"


def usage_line(usage: Usage) -> str:
    """Calls, cache hits, tokens and parse failures, counted in words.

    >>> from llm_rerank.models import Usage
    >>> usage_line(Usage(llm_calls=1, prompt_tokens=90, completion_tokens=1))
    '1 LLM call, 0 cache hits, 90 prompt + 1 completion token, 0 parse failures'
    """
    return (f"{counted(usage.llm_calls, 'LLM call')}, {counted(usage.cache_hits, 'cache hit')}, "
            f"{usage.prompt_tokens} prompt + "
            f"{counted(usage.completion_tokens, 'completion token')}, "
            f"{counted(usage.parse_failures, 'parse failure')}")


def strategy_template(name: str) -> PromptTemplate | None:
    """The default template of strategy ``name`` (``None`` for one that calls no LLM).

    >>> strategy_template("setwise").kind, strategy_template("cross-encoder")
    ('setwise', None)
    """
    from ..llm_reranker import LLMReranker
    from ..prompts import PromptTemplate
    from ..registry import reranker_class

    strategy = reranker_class(name)
    if not issubclass(strategy, LLMReranker):
        return None
    return PromptTemplate.load(strategy.default_template)


def reranker_options(args: argparse.Namespace, window: int) -> dict[str, Any]:
    """Options of the demo's reranker; a windowed strategy (listwise) ranks each query in a
    single window. A cross-encoder takes only its model (``-m``), which has no default here.

    A local model's answers are capped at what a permutation of the window needs
    (``[10] > [3] > ...``, about 5 tokens an id), and, where the strategy's template asks
    for a permutation or a passage choice, constrained to that shape by a grammar: a tiny
    model otherwise rambles instead of ranking (unconstrained, Gemma 3 270M, a base model,
    answered about half of its pairwise prompts on DL19 with something unreadable).
    """
    from ..registry import reranker_class

    options: dict[str, Any] = {"model": args.model}
    if not is_llm_strategy(args.strategy):
        if args.model == DEFAULT_MODEL:
            raise InvalidInput(f"strategy {args.strategy!r} needs a cross-encoder model: "
                               f"llm-rerank demo -s {args.strategy} -m NAME_OR_PATH (a "
                               "sentence-transformers CrossEncoder, e.g. "
                               "cross-encoder/ms-marco-MiniLM-L6-v2)")
        refuse_llm_flags(args, ("api_base", "api_key", "no_cache"))
        return options
    fields = getattr(reranker_class(args.strategy), "Options", None)
    if fields is not None and {"window_size", "step"} <= set(fields.model_fields):
        options.update(window_size=window, step=window)
    if args.model.startswith("local/"):
        from ..local import PERMUTATION_GRAMMAR, passage_choice_grammar

        kwargs: dict[str, Any] = {"max_tokens": LOCAL_TOKENS_PER_ID * window + 8}
        template = strategy_template(args.strategy)
        if template is not None and template.answer == "permutation":
            kwargs["grammar"] = PERMUTATION_GRAMMAR
        elif template is not None and template.answer == "passage_choice":
            children = fields.model_fields.get("num_children") if fields else None
            kwargs["grammar"] = passage_choice_grammar(
                2 if children is None else int(children.default) + 1)  # a parent + children
        options["completion_kwargs"] = kwargs
    options.update(llm_options(api_base=args.api_base, api_key=args.api_key,
                               no_cache=args.no_cache))
    return options


def run(args: argparse.Namespace) -> int:
    from ..aio import run_sync
    from ..data import SAMPLE_CANDIDATES, SAMPLE_QRELS, load_sample
    from ..eval.metrics import ndcg
    from ..models import Usage
    from ..registry import get_reranker

    if args.model.startswith("local/"):
        from ..local import check_local_model

        check_local_model(args.model)
    if args.limit is not None and args.limit < 1:
        raise InvalidInput(f"--limit must be >= 1, got {args.limit}")
    template = strategy_template(args.strategy)
    if template is not None and template.kind == "criteria":
        return run_criteria(args)
    requests, qrels = load_sample()
    requests = requests[: args.limit]
    window = max(len(r.documents) for r in requests)
    try:
        reranker = get_reranker(args.strategy, **reranker_options(args, window))
    except TypeError as exc:
        raise InvalidInput(f"strategy {args.strategy!r}: {exc}") from exc
    print(f"Reranking {counted(len(requests), 'sample query', 'sample queries')} x {window} "
          "candidates: "
          f"{args.strategy} on {args.model}", flush=True)
    if args.model == DEFAULT_MODEL:
        print(TINY_MODEL_NOTE, flush=True)
    started = time.perf_counter()
    rankings = run_sync(reranker.arank_batch([(r.query, r.documents) for r in requests]))
    elapsed = time.perf_counter() - started

    total = Usage()
    before_scores, after_scores = [], []
    for request, results in zip(requests, rankings, strict=True):
        judgments = qrels.get(request.query_id, {})
        first_stage = [doc.id or "" for doc in request.documents]
        reranked = [r.document.id or "" for r in results]
        before, after = ndcg(first_stage, judgments, NDCG_DEPTH), ndcg(reranked, judgments,
                                                                          NDCG_DEPTH)
        before_scores.append(before)
        after_scores.append(after)
        total = total + results.usage

        def cell(doc_id: str, text: str, grades: dict[str, int] = judgments) -> str:
            return f"{doc_id} ({grades.get(doc_id, 0)}) {shorten(text)}"

        width = len(cell("x", "x" * TEXT_WIDTH)) + 4
        print(f"\n[{request.query_id}] {request.query}")
        print(f"  {'#':>2}  {'first stage (grade) text':<{width}}reranked")
        for rank, (doc, result) in enumerate(zip(request.documents, results, strict=True), start=1):
            left = cell(doc.id or "", doc.text)
            right = cell(result.document.id or "", result.document.text)
            print(f"  {rank:>2}  {left:<{width}}{right}")
        print(f"  nDCG@{NDCG_DEPTH}: {before:.3f} -> {after:.3f} ({after - before:+.3f})")
        for error in results.errors:
            print(f"  error (order kept): {error}")

    mean_before = sum(before_scores) / len(before_scores)
    mean_after = sum(after_scores) / len(after_scores)
    print(f"\nMean nDCG@{NDCG_DEPTH} over {counted(len(requests), 'query')}: first stage "
          f"{mean_before:.3f}, reranked {mean_after:.3f} ({mean_after - mean_before:+.3f})")
    print(f"Usage: {usage_line(total)}, ${total.cost_usd:.4f}, {elapsed:.1f} s")
    print(f"Sample data: {SAMPLE_CANDIDATES} (qrels: {SAMPLE_QRELS.name})")
    print("\n" + REAL_MODEL_HINT)
    return 0


CRITERIA_CANDIDATES = 6
VERDICT_MARKS = {"yes": "yes", "partly": "part", "no": "-", None: "?"}


def run_criteria(args: argparse.Namespace) -> int:
    """Rank the first multi-part sample query's first candidates against its parts with a
    strategy whose template asks per-criterion verdicts (``criteria``) and print each
    passage's verdict per part (one call per passage)."""
    from ..data import load_multipart
    from ..registry import get_reranker

    sample = load_multipart()
    request = sample.requests[0]
    parts = sample.parts[request.query_id]
    documents = request.documents[:CRITERIA_CANDIDATES]
    options = reranker_options(args, CRITERIA_CANDIDATES)
    if args.model.startswith("local/"):  # a tiny model keeps to the format only by grammar
        from ..local import verdict_grammar

        options["completion_kwargs"] = {"max_tokens": 6 * len(parts) + 4,
                                        "grammar": verdict_grammar(len(parts))}
    reranker = get_reranker(args.strategy, criteria=[text for _, text in parts], **options)
    print(f"Per-part verdicts: {args.strategy} on {args.model}, {len(documents)} passages",
          flush=True)
    started = time.perf_counter()
    results = reranker.rank(request.query, documents)
    elapsed = time.perf_counter() - started
    print(f"\n[{request.query_id}] {request.query}")
    for number, (_, text) in enumerate(parts, start=1):
        print(f"  C{number}: {text}")
    grades = sample.aspect_qrels.get(request.query_id, {})
    header = " ".join(f"C{n}".ljust(5) for n in range(1, len(parts) + 1))
    print(f"\n  {'#':>2}  {header} {'true':<{3 * len(parts)}} passage")
    for result in results:
        marks = " ".join(VERDICT_MARKS.get(row["label"], "?").ljust(5)
                         for row in result.details["criteria"])
        truth = " ".join(str(grades.get(part_id, {}).get(result.document.id or "", 0))
                         for part_id, _ in parts)
        print(f"  {result.rank:>2}  {marks} {truth:<{3 * len(parts)}} "
              f"{shorten(result.document.text, 60)}")
    usage = results.usage
    print(f"\n(true: the sample's grade per part, 2 full, 1 partial, 0 none)\n"
          f"Usage: {usage_line(usage)}, {elapsed:.1f} s")
    return 0
