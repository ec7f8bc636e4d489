"""Pointwise through a real OpenAI-compatible server: how many documents are scored from
the server's logprobs, through both transports, with and without the label grammar.

Start the server first (llama-cpp-python's, the embedded SmolLM2-135M GGUF):

    python -m llama_cpp.server --model "$(python -c 'from llm_rerank.testing.llama_server \
        import bundled_gguf; print(bundled_gguf())')" --model_alias smollm2-135m \
        --host 127.0.0.1 --port 8765 --n_ctx 2048

then run this script once per code version sharing ``--rows`` (the table shows every row
saved there) and ``--cache``: ``PYTHONPATH=<old checkout> python
benchmarks/bench_real_server.py --version before ...`` and ``python
benchmarks/bench_real_server.py --version after ...``. With a shared response cache both
versions read the same answers (temperature 0): the "after" rows that the "before" run
answered show only the change in reading, and their wall time is the cache's. An
installation without the ``constrain`` option runs the unconstrained rows only.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from harness import data_dir, markdown_table, write_fragment

from llm_rerank import PointwiseReranker
from llm_rerank.eval.datasets import load_trec_dl19
from llm_rerank.eval.metrics import ndcg


def run(args: argparse.Namespace, transport: str, constrain: str | None) -> dict[str, Any]:
    requests, qrels = load_trec_dl19(data_dir(args.data))
    requests = [r for r in requests if r.query_id in qrels][: args.queries]
    options: dict[str, Any] = {"constrain": constrain} if constrain else {}
    reranker = PointwiseReranker(
        args.model, api_base=args.api_base, api_key="sk-local", transport=transport,
        cache=args.cache or False, timeout=600, max_concurrency=2, max_passage_words=args.max_words,
        on_error="keep_order", **options)
    sources: dict[str, int] = {}
    usage: dict[str, int] = {"calls": 0, "cache_hits": 0, "repairs": 0, "parse_failures": 0,
                             "prompt_tokens": 0}
    reranked, bm25 = [], []
    started = time.perf_counter()
    for request in requests:
        documents = request.documents[: args.passages]
        results = reranker.rank(request.query, documents)
        assert sorted(r.index for r in results) == list(range(len(documents)))
        for result in results:
            sources[result.details["source"]] = sources.get(result.details["source"], 0) + 1
        for name, value in (("calls", results.usage.llm_calls),
                            ("cache_hits", results.usage.cache_hits),
                            ("repairs", results.usage.repairs),
                            ("parse_failures", results.usage.parse_failures),
                            ("prompt_tokens", results.usage.prompt_tokens)):
            usage[name] += value
        judged = qrels[request.query_id]
        reranked.append(ndcg([str(r.document.id) for r in results], judged, k=10))
        bm25.append(ndcg([str(d.id) for d in documents], judged, k=10))
    documents_ranked = sum(sources.values())
    return {"version": args.version, "transport": transport, "constrain": constrain or "none",
            "documents": documents_ranked,
            "logprobs_share": sources.get("logprobs", 0) / documents_ranked,
            "text": sources.get("text", 0), "parse_failed": sources.get("parse_failed", 0),
            "errors": sources.get("error", 0), **usage,
            "wall_s": time.perf_counter() - started,
            "ndcg10": sum(reranked) / len(reranked), "bm25_ndcg10": sum(bm25) / len(bm25)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--api-base", required=True, help="e.g. http://127.0.0.1:8765/v1")
    parser.add_argument("--model", default="openai/smollm2-135m")
    parser.add_argument("--data", help="data folder holding trec-dl19/ ($LLM_RERANK_DATA)")
    parser.add_argument("--queries", type=int, default=5)
    parser.add_argument("--passages", type=int, default=10, help="BM25 top passages reranked")
    parser.add_argument("--max-words", type=int, default=60, help="passages cut to this length")
    parser.add_argument("--version", default="after", help="the label of this code version")
    parser.add_argument("--transports", default="litellm,direct")
    parser.add_argument("--constraints", default="none,grammar",
                        help="'none' and/or 'grammar' (where the option exists)")
    parser.add_argument("--cache", help="response cache folder shared by the runs")
    parser.add_argument("--rows", default="/tmp/bench_real_server_rows.json",
                        help="JSON file the rows of every version accumulate in")
    args = parser.parse_args()
    known = "constrain" in PointwiseReranker.Options.model_fields
    constraints = [None if name == "none" else name for name in args.constraints.split(",")
                   if name == "none" or known]
    path = Path(args.rows)
    rows: list[dict[str, Any]] = json.loads(path.read_text()) if path.exists() else []
    for constrain in constraints:
        for transport in args.transports.split(","):
            rows.append(run(args, transport, constrain))
            path.write_text(json.dumps(rows, indent=1))
    header = ["code", "transport", "constrain", "docs", "from logprobs", "text", "parse failed",
              "calls", "cache hits", "repairs", "prompt tokens", "wall s", "nDCG@10",
              "BM25 nDCG@10"]
    table = markdown_table(header, [
        [r["version"], r["transport"], r["constrain"], r["documents"],
         f"{r['logprobs_share']:.0%}", r["text"], r["parse_failed"], r["calls"],
         r["cache_hits"], r["repairs"],
         r["prompt_tokens"], f"{r['wall_s']:.0f}", r["ndcg10"], r["bm25_ndcg10"]]
        for r in rows])
    write_fragment("real_server", "Pointwise through a real server (llama-cpp-python, SmolLM2)",
                   f"""\
llama-cpp-python's OpenAI-compatible server with the embedded SmolLM2-135M GGUF on
127.0.0.1, {args.queries} DL19 queries x BM25 top {args.passages} passages (cut to
{args.max_words} words), pointwise with the default labels. "from logprobs" is
the share of documents whose score came from the server's logprobs
(`details["source"] == "logprobs"`); "text" fell back to the label in the answer text;
"parse failed" had no usable label after the re-ask; "calls" reached the server, "cache
hits" were answered by the response cache shared by the runs. nDCG@10 is over the same
{args.passages}-passage slice, against its BM25 order. Rows labelled "before" ran the code
before the logprob reading and the grammar option (first answer token only).

{table}
""")


if __name__ == "__main__":
    main()
