"""Every strategy with an embedded (in-process, llama.cpp) model on TREC DL19: nDCG@10 of
the reranked BM25 top-k against BM25's own order on the same queries, and what it cost
(calls, tokens, wall time per query) and what went wrong (parse failures, repairs, queries
with errors or a stop reason, and for pointwise where each score came from).

Queries are ranked one after the other (the model serializes calls anyway), each timed.
Each query's figures are added to a JSON store (``--store``) as soon as it is ranked, and
a query already in the store is not ranked again: runs of different strategies, models and
query counts can be made one at a time, and an interrupted run resumes. The fragment
``embedded`` is rendered from the whole store, one table per model, each row with the
commands that produced it.

Usage: python benchmarks/bench_embedded.py --model local/smollm2-135m
           [--strategies pointwise,listwise] [--queries N] [--top-k 20] [--cache DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import RESULTS, command_line, data_dir, markdown_table, write_fragment

from llm_rerank import get_reranker
from llm_rerank.eval import evaluate, load_trec_dl19
from llm_rerank.eval.io import RerankRequest
from llm_rerank.eval.trec import Qrels
from llm_rerank.local import PASSAGE_CHOICE_GRAMMAR, PERMUTATION_GRAMMAR, passage_choice_grammar
from llm_rerank.models import RankedResults


@dataclass(frozen=True)
class Strategy:
    label: str
    name: str
    options: dict[str, Any]


STRATEGIES = {
    "pointwise": Strategy("pointwise (3 labels, logprobs auto)", "pointwise", {}),
    "listwise": Strategy("listwise sliding, window 20", "listwise",
                         {"window_size": 20, "step": 10}),
    # as the demo runs a local model: the answer held to ``[3] > [1]`` by a grammar, and short
    "listwise-grammar": Strategy("listwise sliding, window 20, grammar", "listwise", {
        "window_size": 20, "step": 10,
        "completion_kwargs": {"grammar": PERMUTATION_GRAMMAR, "max_tokens": 6 * 20 + 8}}),
    "balanced": Strategy("listwise preset=balanced", "listwise", {"preset": "balanced"}),
    "pairwise": Strategy("pairwise heapsort k=10", "pairwise", {"method": "heapsort", "k": 10}),
    "pairwise-grammar": Strategy("pairwise heapsort k=10, grammar", "pairwise", {
        "method": "heapsort", "k": 10,
        "completion_kwargs": {"grammar": PASSAGE_CHOICE_GRAMMAR}}),
    "setwise": Strategy("setwise heapsort c=3 k=10", "setwise", {"num_children": 3, "k": 10}),
    # a parent and its 3 children: passages A to D
    "setwise-grammar": Strategy("setwise heapsort c=3 k=10, grammar", "setwise", {
        "num_children": 3, "k": 10,
        "completion_kwargs": {"grammar": passage_choice_grammar(4)}}),
    "criteria": Strategy("criteria auto", "criteria", {"criteria": "auto"}),
}


def ndcg10(rankings: dict[str, list[str]], qrels: Qrels) -> float:
    """Mean nDCG@10 of ``rankings`` (best first) with ``llm_rerank.eval.evaluate``."""
    run = {qid: {doc: float(len(ids) - i) for i, doc in enumerate(ids)}
           for qid, ids in rankings.items()}
    return evaluate(run, qrels, ["ndcg@10"]).mean["ndcg@10"]


def references(requests: list[RerankRequest], qrels: Qrels) -> dict[str, float]:
    """nDCG@10 of BM25's order and of the best order of the same candidates (by qrels)."""
    bm25 = {r.query_id: [str(d.id) for d in r.documents] for r in requests}
    best = {qid: sorted(ids, key=lambda doc: -qrels.get(qid, {}).get(doc, 0))
            for qid, ids in bm25.items()}
    return {"bm25": ndcg10(bm25, qrels), "ceiling": ndcg10(best, qrels)}


def measure(reranker: Any, request: RerankRequest) -> dict[str, Any]:
    """One query ranked cold: its order and what it cost (wall time, and this process's CPU
    time, all its threads: on a shared machine the CPU time compares models better)."""
    started, cpu = time.perf_counter(), time.process_time()
    result: RankedResults = asyncio.run(reranker.arank(request.query, request.documents))
    usage = result.usage
    return {
        "ranking": [str(x.document.id) for x in result],
        "calls": usage.llm_calls, "cache_hits": usage.cache_hits,
        "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
        "wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu,
        "parse_failures": usage.parse_failures, "repairs": usage.repairs,
        "errors": len(result.errors), "stopped": bool(result.stopped),
        "sources": dict(Counter(str(x.details["source"]) for x in result.results
                                if "source" in x.details)),
    }


def summarize(label: str, requests: list[RerankRequest], qrels: Qrels,
              measured: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One table row: means per query of the measured ``requests`` (counts are totals)."""
    done = [r for r in requests if r.query_id in measured]
    records = [measured[r.query_id] for r in done]
    count = len(records)
    sources: Counter[str] = Counter()
    for record in records:
        sources.update(record["sources"])

    def mean(field: str) -> float:
        return statistics.mean(record[field] for record in records)

    return {
        "strategy": label, "queries": count,
        "ndcg": ndcg10({r.query_id: measured[r.query_id]["ranking"] for r in done}, qrels),
        "bm25": ndcg10({r.query_id: [str(d.id) for d in r.documents] for r in done}, qrels),
        "calls": mean("calls"), "prompt_tokens": mean("prompt_tokens"),
        "completion_tokens": mean("completion_tokens"), "wall_s": mean("wall_s"),
        "cpu_s": mean("cpu_s"), "cache_hits": sum(r["cache_hits"] for r in records),
        "parse_failures": sum(r["parse_failures"] for r in records),
        "repairs": sum(r["repairs"] for r in records),
        "with_errors": sum(1 for r in records if r["errors"]),
        "stopped": sum(1 for r in records if r["stopped"]), "sources": dict(sources),
    }


def render(store: dict[str, Any], requests: list[RerankRequest], qrels: Qrels) -> str:
    header = ["strategy", "queries", "nDCG@10", "BM25 same queries", "delta", "calls/q",
              "prompt tok/q", "compl. tok/q", "wall s/q", "CPU s/q", "parse fail", "repairs",
              "q with errors", "q stopped", "score sources"]
    reference = references(requests, qrels)
    parts = [f"All {len(requests)} queries: BM25's order {reference['bm25']:.4f}, the best order "
             f"of the same candidates (by the qrels) {reference['ceiling']:.4f}.\n"]
    for model, runs in store.items():
        rows = [summarize(run["strategy"], requests, qrels, run["queries"])
                for run in runs.values()]
        table = [[r["strategy"], r["queries"], r["ndcg"], r["bm25"],
                  f"{r['ndcg'] - r['bm25']:+.4f}", f"{r['calls']:.1f}",
                  f"{r['prompt_tokens']:.0f}", f"{r['completion_tokens']:.0f}",
                  f"{r['wall_s']:.1f}", f"{r['cpu_s']:.1f}", r["parse_failures"],
                  r["repairs"], r["with_errors"], r["stopped"],
                  ", ".join(f"{k} {v}" for k, v in sorted(r["sources"].items())) or "-"]
                 for r in rows if r["queries"]]
        commands = "\n".join(sorted({f"    {command}" for run in runs.values()
                                      for command in run["commands"]}))
        parts.append(f"### `{model}`\n\n{markdown_table(header, table)}\n\nCommands:\n\n"
                     f"{commands}\n")
    return "\n".join(parts)


INTRO = """TREC DL19, BM25's top 20 per query, each strategy with each embedded model (in-process
llama.cpp on the CPU; `local/smollm2-135m` is SmolLM2-135M-Instruct Q4_1, `local/gemma3-270m`
Gemma 3 270M Q4_K_M, a base model run with Gemma's chat format). A row's queries are DL19's
first N in file order; its nDCG@10 is compared with BM25's order of the same queries and
candidates. Per query: calls, prompt and completion tokens (as llama.cpp counts them), wall
time and this process's CPU time (all its threads). Counts over the row's queries: parse
failures, repairs, queries whose results carry errors or a stop reason, and for pointwise
and criteria the `details["source"]` of each score (logprobs, text, parse_failed, error).
"grammar" rows hold the answer to its shape with a llama.cpp grammar (`[3] > [1] > ...` for
listwise, `Passage A`.. for pairwise and setwise), as `llm-rerank demo` does for a local
model. Every query was ranked cold (a fresh response cache per model; no strategy shares
prompts with another). Data: `$LLM_RERANK_DATA/trec-dl19`. Each model serializes its calls,
so wall time is calls x prompt size; the machine had 2 cores, shared at times with other
jobs: CPU time compares rows better than wall time.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help="comma-separated; empty: only the fragment")
    parser.add_argument("--queries", type=int, default=None, help="the first N queries")
    parser.add_argument("--top-k", type=int, default=20, help="BM25 candidates per query")
    parser.add_argument("--cache", default=None, help="response cache folder (default: "
                        "/tmp/llm-rerank-embedded/<model>)")
    parser.add_argument("--store", default=str(RESULTS / "embedded.json"))
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    everything, qrels = load_trec_dl19(data_dir(args.data) / "trec-dl19")
    everything = [RerankRequest(r.query_id, r.query, r.documents[: args.top_k])
                  for r in everything]
    requests = everything[: args.queries]
    cache = args.cache or str(Path("/tmp/llm-rerank-embedded") / args.model.replace("/", "_"))
    store_path = Path(args.store)
    store = json.loads(store_path.read_text()) if store_path.is_file() else {}
    for key in filter(None, args.strategies.split(",")):
        strategy = STRATEGIES[key]
        run = store.setdefault(args.model, {}).setdefault(
            f"{key}/{args.top_k}", {"strategy": strategy.label, "commands": [], "queries": {}})
        if command_line() not in run["commands"]:
            run["commands"].append(command_line())
        todo = [r for r in requests if r.query_id not in run["queries"]]
        print(f"{args.model} {strategy.label}: {len(todo)} of {len(requests)} queries to run",
              flush=True)
        reranker = get_reranker(strategy.name, model=args.model, cache=cache,
                                **strategy.options)
        for request in todo:
            record = measure(reranker, request)
            run["queries"][request.query_id] = record
            print(f"  {request.query_id}: {record['wall_s']:.1f} s "
                  f"({record['cpu_s']:.1f} s CPU), {record['calls']} calls", flush=True)
            save(store_path, store, everything, qrels, args.top_k)
    save(store_path, store, everything, qrels, args.top_k)


def save(path: Path, store: dict[str, Any], requests: list[RerankRequest], qrels: Qrels,
         top_k: int) -> None:
    """Write the store and render the fragment from it."""
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(store, indent=1))
    write_fragment("embedded", f"Embedded models on TREC DL19 (top {top_k})",
                   INTRO + "\n" + render(store, requests, qrels))


if __name__ == "__main__":
    main()
