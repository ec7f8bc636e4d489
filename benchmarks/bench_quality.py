"""nDCG@10 and cost (calls, tokens) of every strategy on DL19 and NovelEval under three
judges (perfect, noisy, noisy + biased), beside the input order and the judge's ceilings.
Writes fragments ``quality`` and ``cost``, and the DL19 listwise perfect run (``--trec-out``).

Usage: python benchmarks/bench_quality.py [--data DIR] [--queries N] [--trec-out PATH]
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
from harness import JUDGES, MAX_CONCURRENCY, log, markdown_table, write_fragment

from llm_rerank import LLMReranker, RankedResults
from llm_rerank.eval import Qrels, RerankRequest, load_noveleval, load_trec_dl19, write_results
from llm_rerank.prompts import truncate_words
from llm_rerank.strategies.pointwise import DEFAULT_LABELS
from llm_rerank.testing.judge import Knowledge

MAX_PASSAGE_WORDS = 300  # the strategies' default; the judge sees passages cut to this
TIKTOKEN_MODEL = "gpt-3.5-turbo"


@dataclass(frozen=True)
class Strategy:
    label: str
    name: str
    options: dict[str, Any]
    datasets: tuple[str, ...] = ("dl19", "noveleval")


STRATEGIES = [
    Strategy("listwise 20/10, 1 pass", "listwise", {"window_size": 20, "step": 10}),
    Strategy("pointwise, 3 labels, logprobs", "pointwise", {"use_logprobs": "auto"}),
    Strategy("pointwise, 3 labels, text only", "pointwise", {"use_logprobs": False}),
    Strategy("pairwise heapsort k=10", "pairwise", {"method": "heapsort", "k": 10}),
    Strategy("pairwise sliding k=10", "pairwise", {"method": "sliding", "k": 10}),
    Strategy("setwise heapsort c=3 k=10", "setwise", {"num_children": 3, "k": 10}),
    Strategy("pairwise allpair", "pairwise", {"method": "allpair"}, ("noveleval",)),
]


# Setwise paper (Zhuang et al. 2024), Flan-T5-large, BM25 top-100 of DL19: calls / prompt tokens.
PAPER_COST = {
    "pointwise, 3 labels, logprobs": ("100", "16k", "pointwise (yes/no)"),
    "pairwise heapsort k=10": ("230", "105k", "pairwise heapsort"),
    "setwise heapsort c=3 k=10": ("125", "40k", "setwise heapsort"),
    "listwise 20/10, 1 pass": ("245", "119k", "listwise 20/10 x5 passes"),
}


@dataclass
class Outcome:
    """One strategy under one judge on one data set."""

    ndcg: float
    calls: float
    prompt_tokens: float
    completion_tokens: float
    wall_s: float
    parse_failures: int
    tiktoken_prompt: float | None = None
    tiktoken_completion: float | None = None
    results: list[RankedResults] = field(default_factory=list)


@dataclass
class Dataset:
    key: str
    title: str
    requests: list[RerankRequest]
    qrels: Qrels


def mean_ndcg(ranked: dict[str, list[str]], qrels: Qrels) -> float:
    return harness.scores(ranked, qrels)["ndcg@10"]


def judge_grades(dataset: Dataset) -> dict[str, list[int]]:
    """The grade the judge sees for each candidate: its truncated text looked up as the
    judge looks it up (duplicate passages with different grades get the first one's)."""
    knowledge = Knowledge(dataset.requests, dataset.qrels)
    return {r.query_id: [knowledge.grade(r.query, truncate_words(d.text, MAX_PASSAGE_WORDS))
                         for d in r.documents] for r in dataset.requests}


def sorted_by(dataset: Dataset, keys: dict[str, list[float]]) -> dict[str, list[str]]:
    """Each query's candidates sorted by ``keys`` descending, ties in input order."""
    ranked = {}
    for request in dataset.requests:
        key = keys[request.query_id]
        order = sorted(range(len(request.documents)), key=lambda i: -key[i])
        ranked[request.query_id] = [str(request.documents[i].id) for i in order]
    return ranked


def reference_rows(dataset: Dataset) -> dict[str, float]:
    """nDCG@10 of the input order, the judge's ceiling and the label-set ceiling."""
    grades = judge_grades(dataset)
    max_grade = Knowledge(dataset.requests, dataset.qrels).max_grade
    steps = len(DEFAULT_LABELS) - 1
    labels = {qid: [float(min(steps, max(0, round(g / max_grade * steps)))) for g in values]
              for qid, values in grades.items()}
    as_float = {qid: [float(g) for g in values] for qid, values in grades.items()}
    ideal = sorted_by(dataset, {r.query_id: [float(dataset.qrels.get(r.query_id, {}).get(
        str(d.id), 0)) for d in r.documents] for r in dataset.requests})
    return {
        "input": mean_ndcg(harness.input_order(dataset.requests), dataset.qrels),
        "ceiling": mean_ndcg(sorted_by(dataset, as_float), dataset.qrels),
        "label_ceiling": mean_ndcg(sorted_by(dataset, labels), dataset.qrels),
        "ideal": mean_ndcg(ideal, dataset.qrels),
    }


def count_tiktoken(reranker: LLMReranker, tally: Counter[str]) -> None:
    """Wrap the reranker's call path to count each call's tokens with tiktoken (offline:
    LiteLLM ships the cl100k encoding)."""
    import litellm

    counter: Callable[..., int] = litellm.token_counter
    original = reranker.llm.complete

    async def complete(messages: Any, usage: Any, **params: Any) -> Any:
        completion = await original(messages, usage, **params)
        tally["prompt"] += counter(model=TIKTOKEN_MODEL, messages=messages)
        tally["completion"] += counter(model=TIKTOKEN_MODEL, text=completion.text,
                                    count_response_tokens=True)
        return completion

    reranker.llm.complete = complete  # type: ignore[method-assign]


def run_strategy(strategy: Strategy, url: str, dataset: Dataset, tiktoken: bool) -> Outcome:
    ranker = harness.judge_reranker(strategy.name, url, **strategy.options)
    assert isinstance(ranker, LLMReranker)
    tally: Counter[str] = Counter()
    if tiktoken:
        count_tiktoken(ranker, tally)
    started = time.perf_counter()
    results = harness.run_batch(ranker, harness.batch_of(dataset.requests), desc=strategy.label)
    count = len(results)
    return Outcome(
        ndcg=mean_ndcg(harness.rankings(dataset.requests, results), dataset.qrels),
        calls=harness.per_query(results, "llm_calls"),
        prompt_tokens=harness.per_query(results, "prompt_tokens"),
        completion_tokens=harness.per_query(results, "completion_tokens"),
        wall_s=time.perf_counter() - started,
        parse_failures=sum(res.usage.parse_failures for res in results),
        tiktoken_prompt=tally["prompt"] / count if tiktoken else None,
        tiktoken_completion=tally["completion"] / count if tiktoken else None,
        results=results,
    )


def thousands(value: float) -> str:
    return f"{value / 1000:.1f}k" if value >= 1000 else f"{value:.0f}"


def quality_body(datasets: list[Dataset], outcomes: dict[tuple[str, str, str], Outcome],
                 references: dict[str, dict[str, float]]) -> str:
    header = ["strategy"] + [f"{d.title}: {j}" for d in datasets for j in JUDGES]
    rows: list[list[object]] = []
    for strategy in STRATEGIES:
        row: list[object] = [strategy.label]
        for dataset in datasets:
            for judge in JUDGES:
                found = outcomes.get((strategy.label, dataset.key, judge))
                row.append(found.ndcg if found else "not run")
        rows.append(row)
    for key, label in [("input", "BM25 order (NovelEval: corpus order)"),
                       ("ceiling", "judge's ceiling (sorted by the grades it sees)"),
                       ("label_ceiling", "ceiling of the 3-label set (pointwise)"),
                       ("ideal", "ideal order by the qrels (reference)")]:
        rows.append([f"*{label}*"] + [references[d.key][key] for d in datasets for _ in JUDGES])
    return markdown_table(header, rows)


def checks(outcomes: dict[tuple[str, str, str], Outcome],
           references: dict[str, dict[str, float]]) -> list[str]:
    lines = []
    ceiling, label_ceiling = references["dl19"]["ceiling"], references["dl19"]["label_ceiling"]

    def check(label: str, target: float, target_name: str, extra: str = "",
              passed_extra: bool = True) -> None:
        found = outcomes.get((label, "dl19", "perfect"))
        if found is None:
            lines.append(f"- NOT RUN: {label}")
            return
        passed = abs(found.ndcg - target) <= 0.01 and passed_extra
        lines.append(f"- {'PASS' if passed else 'FAIL'}: {label}, perfect judge, DL19: nDCG@10 "
                     f"{found.ndcg:.4f} vs {target_name} {target:.4f} "
                     f"(difference {found.ndcg - target:+.4f}, must be within 0.01){extra}")

    listwise = outcomes.get(("listwise 20/10, 1 pass", "dl19", "perfect"))
    nine = listwise is not None and listwise.calls == 9
    check("listwise 20/10, 1 pass", ceiling, "judge's ceiling",
          f"; {listwise.calls:g} calls per query (must be 9)" if listwise else "", nine)
    for label in ["pairwise heapsort k=10", "pairwise sliding k=10", "setwise heapsort c=3 k=10"]:
        check(label, ceiling, "judge's ceiling")
    check("pointwise, 3 labels, text only", label_ceiling, "label-set ceiling")
    logprobs = outcomes.get(("pointwise, 3 labels, logprobs", "dl19", "perfect"))
    if logprobs is not None:
        passed = logprobs.ndcg >= label_ceiling - 0.01
        lines.append(f"- {'PASS' if passed else 'FAIL'}: pointwise with logprobs, perfect judge, "
                     f"DL19: nDCG@10 {logprobs.ndcg:.4f} reaches the label-set ceiling "
                     f"{label_ceiling:.4f} (at least -0.01); the judge's ceiling is {ceiling:.4f}")
    return lines


def cost_body(datasets: list[Dataset], outcomes: dict[tuple[str, str, str], Outcome]) -> str:
    header = ["strategy", "calls", "prompt tokens (judge)", "completion tokens (judge)",
              "prompt tokens (tiktoken)", "completion tokens (tiktoken)",
              "Setwise paper: method", "paper: calls", "paper: prompt tokens"]
    rows: list[list[object]] = []
    for strategy in STRATEGIES:
        found = outcomes.get((strategy.label, "dl19", "perfect"))
        if found is None:
            continue
        paper = PAPER_COST.get(strategy.label, ("", "", ""))
        rows.append([strategy.label, f"{found.calls:.1f}", thousands(found.prompt_tokens),
                     f"{found.completion_tokens:.0f}",
                     thousands(found.tiktoken_prompt or 0.0),
                     f"{found.tiktoken_completion or 0.0:.0f}", paper[2], paper[0], paper[1]])
    text = ("Per query (mean), TREC DL19, 100 BM25 candidates, perfect judge, passages cut to "
            f"{MAX_PASSAGE_WORDS} words.\n\n" + markdown_table(header, rows))
    novel = [d for d in datasets if d.key == "noveleval"]
    if novel:
        rows = []
        for strategy in STRATEGIES:
            found = outcomes.get((strategy.label, "noveleval", "perfect"))
            if found is not None:
                rows.append([strategy.label, f"{found.calls:.1f}", thousands(found.prompt_tokens),
                             f"{found.completion_tokens:.0f}"])
        text += ("\n\nPer query (mean), NovelEval, 20 candidates, perfect judge.\n\n"
                 + markdown_table(["strategy", "calls", "prompt tokens (judge)",
                                   "completion tokens (judge)"], rows))
    return text


def main() -> None:
    parser = harness.arguments(__doc__)
    parser.add_argument("--seed", type=int, default=0, help="the judge's seed")
    parser.add_argument("--trec-out", default="/work/runs/dl19_listwise_perfect.trec",
                        help="where to write the DL19 listwise perfect-judge run ('' skips)")
    parser.add_argument("--no-fragment", action="store_true", help="print, do not write")
    args = parser.parse_args()
    folder = harness.data_dir(args.data)
    datasets = [Dataset("dl19", "DL19", *load_trec_dl19(folder)),
                Dataset("noveleval", "NovelEval", *load_noveleval(folder))]
    if args.queries:
        for dataset in datasets:
            dataset.requests = dataset.requests[: args.queries]
    references = {d.key: reference_rows(d) for d in datasets}
    outcomes: dict[tuple[str, str, str], Outcome] = {}
    started = time.perf_counter()
    for dataset in datasets:
        for judge, knobs in JUDGES.items():
            with harness.judge_server(dataset.requests, dataset.qrels, seed=args.seed,
                                      **knobs) as server:
                for strategy in STRATEGIES:
                    if dataset.key not in strategy.datasets:
                        continue
                    tiktoken = dataset.key == "dl19" and judge == "perfect"
                    outcome = run_strategy(strategy, server.url, dataset, tiktoken)
                    outcomes[(strategy.label, dataset.key, judge)] = outcome
                    log(started, f"{dataset.key} / {judge} / {strategy.label}: nDCG@10 "
                                 f"{outcome.ndcg:.4f}, {outcome.calls:.1f} calls/query, "
                                 f"{outcome.wall_s:.1f}s, {outcome.parse_failures} parse failures")
    listwise = outcomes.get(("listwise 20/10, 1 pass", "dl19", "perfect"))
    if args.trec_out and listwise is not None and not args.queries:
        path = Path(args.trec_out)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as stream:
            write_results(stream, [(r.query_id, res) for r, res in
                                   zip(datasets[0].requests, listwise.results, strict=True)],
                          "trec", "llm_rerank_listwise_perfect")
        print(f"wrote {path}", file=sys.stderr)
    total = time.perf_counter() - started
    sizes = ", ".join(f"{d.title} {len(d.requests)} queries" for d in datasets)
    failures = sum(o.parse_failures for o in outcomes.values())
    quality = (
        f"nDCG@10 (trec_eval conventions) over {sizes}. Judges: **perfect** (noise 0), "
        "**noisy** (noise 1.0: N(0, 1) added to each grade), **noisy + biased** (noise 1.0, "
        "position_bias 1.0: +1.0 grade for the first passage of a prompt, fading linearly to "
        f"+0 for the last); judge seed {args.seed}. Every strategy runs through LiteLLM "
        f"(`{harness.JUDGE_MODEL}`) against `llm-rerank judge-server` in a separate process, "
        "cache off, "
        f"`max_concurrency={MAX_CONCURRENCY}`, all queries at once with `arank_batch`.\n\n"
        + quality_body(datasets, outcomes, references)
        + "\n\nPairwise `allpair` (N(N-1) = 9,900 calls per query on DL19) runs on NovelEval "
        "only. The judge's ceiling sorts the candidates by the grade the judge finds for each "
        f"passage cut to {MAX_PASSAGE_WORDS} words (DL19 has duplicate passages judged "
        "differently; the judge gives a lone duplicate the first copy's grade), ties in input "
        "order. The label-set ceiling merges those grades onto the 3 labels as the judge does "
        "(label = round(grade / max grade x 2)); pointwise with logprobs can pass it because "
        "the judge's logprobs carry the unrounded grade. NovelEval has no first-stage order: "
        "its input is corpus order. Pairwise asks both orders; an inconsistent pair is a tie, "
        "settled for the document with more decided wins so far, so a relevant document keeps "
        "climbing past a close rival; the price is calls (sliding is the most expensive "
        "method). Position bias cannot touch pointwise (one passage per prompt). "
        f"Parse failures in all runs: {failures}. Total run time {total / 60:.1f} min.\n\n"
        "Must show:\n\n" + "\n".join(checks(outcomes, references))
    )
    cost = (
        cost_body(datasets, outcomes)
        + "\n\n*Judge* tokens are counted by the simulated judge's tokenizer (one token per "
        "word or punctuation mark), as reported in the responses' `usage`; *tiktoken* counts "
        f"the same messages with `litellm.token_counter(model=\"{TIKTOKEN_MODEL}\")` (cl100k, "
        "offline), the nearer figure to a real model. The paper's figures are for Flan-T5-large "
        "with its own prompts (its pointwise is yes/no, its listwise runs 5 passes), so compare "
        "orders of magnitude. Ours ask both orders of every pairwise comparison (memoized within "
        "a query), and pairwise/setwise heapsort stop after the top 10."
    )
    if args.no_fragment:
        print(quality + "\n\n" + cost)
        return
    write_fragment("quality", "Ranking quality under the simulated judge", quality)
    write_fragment("cost", "Cost per query: calls and tokens", cost)


if __name__ == "__main__":
    main()
