"""Multi-part queries on the bundled sample: criteria reranking against whole-query listwise
and pointwise, per judge and on the one-part passages; ``--local`` also decomposes every
query with the embedded model.

Usage: python benchmarks/bench_multipart.py [--seed 0] [--local]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass, replace
from typing import Any

import harness
from harness import markdown_table, write_fragment

from llm_rerank.data import MultipartSample, load_multipart
from llm_rerank.strategies.criteria import CriteriaReranker
from llm_rerank.testing import JudgeServer

LOCAL_MODEL = "local/smollm2-135m"


@dataclass
class System:
    label: str
    strategy: str
    options: dict[str, Any]
    given_criteria: bool = False  # each query's true parts as its criteria


SYSTEMS = [
    System("listwise, whole query", "listwise", {}),
    System("pointwise, whole query", "pointwise", {}),
    System("criteria, whole query as the one criterion", "criteria", {"criteria": None}),
    System("criteria auto", "criteria", {"criteria": "auto"}),
    System("criteria auto + coverage", "criteria", {"criteria": "auto", "coverage": True}),
    System("criteria given", "criteria", {}, given_criteria=True),
    System("criteria given + coverage", "criteria", {"coverage": True}, given_criteria=True),
    System("criteria given + refine listwise", "criteria", {"refine": "listwise"},
           given_criteria=True),
    System("listwise with given criteria in the prompt", "listwise", {}, given_criteria=True),
]

JUDGES = [("perfect", {"noise": 0.0, "position_bias": 0.0}),
          ("noise 1.0 + position bias 1.0", {"noise": 1.0, "position_bias": 1.0})]


METRICS = ["ndcg@10", "aspect_recall@10", "alpha_ndcg@10", "aspect_recall@3", "alpha_ndcg@3"]


def evaluate(sample: MultipartSample, system: System, url: str) -> list[object]:
    ranker = harness.judge_reranker(system.strategy, url, **system.options)
    batch = [(r.query, r.documents, None,
              [text for _, text in sample.parts[r.query_id]] if system.given_criteria else None)
             for r in sample.requests]
    results = harness.run_batch(ranker, batch, desc=system.label)
    found = harness.scores(harness.rankings(sample.requests, results), sample.qrels, METRICS,
                   sample.aspect_qrels)
    calls = statistics.fmean(r.usage.llm_calls for r in results)
    tokens = statistics.fmean(r.usage.prompt_tokens + r.usage.completion_tokens
                              for r in results)
    return [system.label, *found.values(), f"{calls:.1f}", f"{tokens:.0f}"]


def first_stage(sample: MultipartSample) -> list[object]:
    found = harness.scores(harness.input_order(sample.requests), sample.qrels, METRICS,
                           sample.aspect_qrels)
    return ["first stage (shuffled)", *found.values(), "0", "0"]


def one_part_only(sample: MultipartSample) -> MultipartSample:
    """The sample without the passages that answer two parts or more: the top has to
    be assembled from passages that each answer one part."""
    requests = []
    for request in sample.requests:
        grades = sample.aspect_qrels[request.query_id]
        keep = [d for d in request.documents
                if sum(g.get(d.id or "", 0) > 0 for g in grades.values()) <= 1]
        requests.append(replace(request, documents=keep))
    return replace(sample, requests=requests)


def local_decomposition(sample: MultipartSample) -> str:
    reranker = CriteriaReranker(LOCAL_MODEL, cache=False, parse_retries=1)
    rows, fell_back, seconds, calls, same_count = [], 0, [], 0, 0
    for request in sample.requests:
        started = time.perf_counter()
        result = reranker.decompose(request.query)
        seconds.append(time.perf_counter() - started)
        calls += result.usage.llm_calls
        fell_back += result.fell_back
        same_count += len(result.criteria) == len(sample.parts[request.query_id])
        produced = "; ".join(c.text for c in result.criteria)
        rows.append([request.query_id, len(sample.parts[request.query_id]),
                     "fell back" if result.fell_back else len(result.criteria),
                     produced.replace("|", "/")])
    table = markdown_table(["query", "true parts", "parts produced", "what it produced"], rows)
    return (f"### Decomposition with the embedded model (`{LOCAL_MODEL}`)\n\n"
            f"`criteria=\"auto\"` on the {len(sample.requests)} sample queries: it fell back to "
            f"the whole query as the one criterion on **{fell_back} of "
            f"{len(sample.requests)}** queries, and produced as many parts as the sample "
            f"defines on {same_count}; the texts are below, to be read (a part count that "
            f"matches does not mean the parts do); {calls} calls (a re-ask after an unusable "
            f"answer counts), median {statistics.median(seconds):.1f} s a query on this CPU "
            f"(the first includes loading the model).\n\n{table}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", action="store_true",
                        help=f"also decompose the queries with {LOCAL_MODEL} (slow)")
    parser.add_argument("--seed", type=int, default=0, help="the judge's seed")
    args = parser.parse_args()
    sample = load_multipart()
    header = ["system", "nDCG@10", "aspect recall@10", "alpha-nDCG@10", "aspect recall@3",
              "alpha-nDCG@3", "calls/query", "tokens/query"]
    sections = []
    hard = one_part_only(sample)
    variants = [("the whole sample", sample),
                (f"one-part passages only ({sum(len(r.documents) for r in hard.requests)} "
                 "passages: those answering two parts or more removed)", hard)]
    for name, knobs in JUDGES:
        for variant, data in variants:
            with JudgeServer(sample.requests, sample.qrels, aspects=sample.aspects(),
                             seed=args.seed, **knobs) as server:
                rows = [first_stage(data)] + [evaluate(data, s, server.url) for s in SYSTEMS]
            sections.append(f"### Judge: {name}; {variant}\n\n"
                            f"{markdown_table(header, rows)}\n")
            print(sections[-1], flush=True)
    parts = sum(len(p) for p in sample.parts.values())
    body = (
        f"The bundled multi-part sample: {len(sample.requests)} queries with {parts} parts "
        f"in all (2-4 each), {sum(len(r.documents) for r in sample.requests)} passages "
        "graded per part (2 full, 1 partial, 0 none); nDCG@10 uses the overall grade "
        "`ceil(3 * mean part grade / 2)`, aspect recall and alpha-nDCG (alpha 0.5) the "
        "per-part grades (a part is covered at grade >= 1). Means over the queries; tokens "
        "are prompt + completion by the judge's tokenizer. **The per-part judgments are "
        "simulated**: the judge answers each criterion from the sample's per-part grades "
        "(noise N(0, 1) added to each 0-2 part grade, or to the 0-3 overall grade for "
        "whole-query prompts; position bias +1.0 for the first passage of a multi-passage "
        "prompt, fading to 0 for the last; one-passage prompts have no position). No claim "
        "about real models follows from these figures. `auto` asks the judge to split the "
        "query: it answers the sample's true parts, so auto and given criteria differ only "
        "by the decomposition call. Listwise: window 20, step 10. In the one-part variant "
        "nDCG@10 keeps the query's full qrels, so the removed passages cap it below 1.\n\n"
        + "\n".join(sections))
    if args.local:
        body += "\n" + local_decomposition(sample)
    write_fragment("multipart", "Multi-part queries: criteria, coverage and aspect metrics",
                   body)


if __name__ == "__main__":
    main()
