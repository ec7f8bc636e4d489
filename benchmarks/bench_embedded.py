"""Every strategy with an embedded (in-process, llama.cpp) model on TREC DL19: nDCG@10 of
the reranked BM25 top-k against BM25's own order on the same queries, and what it cost
(calls, tokens, wall time per query) and what went wrong (parse failures, repairs, queries
with errors or a stop reason, and for pointwise where each score came from).

Queries are ranked one after the other (the model serializes calls anyway), each timed.
Each run is added to a JSON store (``--store``), so runs of different strategies, models
and query counts can be made one at a time; the fragment ``embedded`` is rendered from the
whole store, one table per model, each row with the command that produced it.

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
from llm_rerank.local import PERMUTATION_GRAMMAR
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
    "setwise": Strategy("setwise heapsort c=3 k=10", "setwise", {"num_children": 3, "k": 10}),
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


def rank_all(model: str, strategy: Strategy, requests: list[RerankRequest],
             cache: str) -> tuple[list[RankedResults], list[float], list[float]]:
    """Each query's results, wall time and this process's CPU time (all its threads: on a
    shared machine the CPU time compares models better than the wall time)."""
    reranker = get_reranker(strategy.name, model=model, cache=cache, **strategy.options)
    results, walls, cpus = [], [], []
    for request in requests:
        started, cpu = time.perf_counter(), time.process_time()
        results.append(asyncio.run(reranker.arank(request.query, request.documents)))
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
        print(f"  {request.query_id}: {walls[-1]:.1f} s ({cpus[-1]:.1f} s CPU), "
              f"{results[-1].usage.llm_calls} calls", flush=True)
    return results, walls, cpus


def summarize(strategy: Strategy, requests: list[RerankRequest], qrels: Qrels,
              results: list[RankedResults], walls: list[float],
              cpus: list[float]) -> dict[str, Any]:
    """One table row's figures (means per query unless said otherwise)."""
    rankings = {r.query_id: [str(x.document.id) for x in res]
                for r, res in zip(requests, results, strict=True)}
    bm25 = {r.query_id: [str(d.id) for d in r.documents] for r in requests}
    sources = Counter(str(x.details.get("source")) for res in results for x in res.results
                      if "source" in x.details)
    count = len(results)
    return {
        "strategy": strategy.label, "queries": count,
        "ndcg": ndcg10(rankings, qrels), "bm25": ndcg10(bm25, qrels),
        "calls": sum(r.usage.llm_calls for r in results) / count,
        "cache_hits": sum(r.usage.cache_hits for r in results),
        "prompt_tokens": sum(r.usage.prompt_tokens for r in results) / count,
        "completion_tokens": sum(r.usage.completion_tokens for r in results) / count,
        "wall_s": statistics.mean(walls), "cpu_s": statistics.mean(cpus),
        "parse_failures": sum(r.usage.parse_failures for r in results),
        "repairs": sum(r.usage.repairs for r in results),
        "with_errors": sum(1 for r in results if r.errors),
        "stopped": sum(1 for r in results if r.stopped),
        "sources": dict(sources), "command": command_line(),
    }


def render(store: dict[str, dict[str, dict[str, Any]]]) -> str:
    header = ["strategy", "queries", "nDCG@10", "BM25 same queries", "delta", "calls/q",
              "prompt tok/q", "compl. tok/q", "wall s/q", "CPU s/q", "parse fail", "repairs",
              "q with errors", "q stopped", "score sources"]
    reference = store.pop("references", {})
    parts = ["| queries x candidates | BM25 order | best order of the candidates (qrels) |\n"
             "|---|---|---|\n" + "\n".join(f"| {key} | {r['bm25']:.4f} | {r['ceiling']:.4f} |"
                                         for key, r in sorted(reference.items())) + "\n"]
    for model, rows in store.items():
        table = [[r["strategy"], r["queries"], r["ndcg"], r["bm25"],
                  f"{r['ndcg'] - r['bm25']:+.4f}",
                  f"{r['calls']:.1f}", f"{r['prompt_tokens']:.0f}",
                  f"{r['completion_tokens']:.0f}", f"{r['wall_s']:.1f}",
                  f"{r['cpu_s']:.1f}" if "cpu_s" in r else "-", r["parse_failures"],
                  r["repairs"], r["with_errors"], r["stopped"],
                  ", ".join(f"{k} {v}" for k, v in sorted(r["sources"].items())) or "-"]
                 for r in rows.values()]
        commands = "\n".join(sorted({f"    {r['command']}" for r in rows.values()}))
        parts.append(f"### `{model}`\n\n{markdown_table(header, table)}\n\nCommands:\n\n"
                     f"{commands}\n")
    return "\n".join(parts)


INTRO = """TREC DL19, BM25's top 20 per query, each strategy with each embedded model (CPU,
llama.cpp). nDCG@10 is compared with BM25's order on the same queries (BM25's nDCG@10 on the
full top 100 of all 43 queries: 0.5058). Per query: calls, prompt and completion tokens (as
llama.cpp counts them), wall time, and CPU time (the process's, all threads; the 2 cores were
shared with other jobs, so wall times vary with their load: CPU time compares runs better).
Counts over all queries: parse failures, repairs, queries whose results carry errors or a
stop reason, and for pointwise and criteria the ``details["source"]`` of each score
(logprobs, text, parse_failed, error). Data: `$LLM_RERANK_DATA/trec-dl19`. Every run was
cold (each strategy run once per model; the per-model response cache holds only parsed
answers). Not run yet: listwise preset="balanced" and pairwise heapsort (both models), and
plain listwise for Gemma; all queries (only the first 3 of 43 were run).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help="comma-separated; empty: only the references and the fragment")
    parser.add_argument("--queries", type=int, default=None, help="the first N queries")
    parser.add_argument("--top-k", type=int, default=20, help="BM25 candidates per query")
    parser.add_argument("--cache", default=None, help="response cache folder (default: "
                        "/tmp/llm-rerank-embedded/<model>)")
    parser.add_argument("--store", default=str(RESULTS / "embedded.json"))
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    requests, qrels = load_trec_dl19(data_dir(args.data) / "trec-dl19")
    requests = [RerankRequest(r.query_id, r.query, r.documents[: args.top_k])
                for r in requests[: args.queries]]
    cache = args.cache or str(Path("/tmp/llm-rerank-embedded") / args.model.replace("/", "_"))
    store_path = Path(args.store)
    store = json.loads(store_path.read_text()) if store_path.is_file() else {}
    store.setdefault("references", {})[f"{len(requests)} x {args.top_k}"] = references(
        requests, qrels)
    for key in filter(None, args.strategies.split(",")):
        strategy = STRATEGIES[key]
        print(f"{args.model} {strategy.label} on {len(requests)} queries", flush=True)
        results, walls, cpus = rank_all(args.model, strategy, requests, cache)
        row = summarize(strategy, requests, qrels, results, walls, cpus)
        store.setdefault(args.model, {})[f"{key}/{len(requests)}/{args.top_k}"] = row
        save(store_path, store)
    save(store_path, store)


def save(path: Path, store: dict[str, Any]) -> None:
    """Write the store and render the fragment from it."""
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(store, indent=1))
    write_fragment("embedded", "Embedded models on TREC DL19 (top 20)",
                   INTRO + "\n" + render(dict(store)))


if __name__ == "__main__":
    main()
