"""``llm-rerank rerank --engine ray``: the same reranking spread over Ray actors.

Reads the JSONL input (RankGPT or candidates rows) or a Parquet file of
``{"query_id"?, "query", "documents"}`` rows, reranks it with
``llm_rerank.integrations.ray.rerank_dataset`` on the cluster at ``--ray-address`` (default: a
local Ray), and writes the same JSONL or TREC output as the local engine, in input order.
A failed query is reported on stderr (exit status 1); the others are written.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import InvalidInput


def input_rows(path: str) -> Any:
    """The input as a Ray dataset: Parquet read by Ray, JSONL by the local reader."""
    import ray

    if path.lower().endswith(".parquet"):
        dataset = ray.data.read_parquet(path)
        missing = {"query", "documents"} - set(dataset.schema().names)
        if missing:
            raise InvalidInput(f"-i {path}: Parquet input needs the columns query and "
                               f"documents; missing: {', '.join(sorted(missing))}")
        return dataset
    from ..eval.io import read_requests

    return ray.data.from_items([
        {"query_id": r.query_id, "query": r.query,
         "documents": [{"id": d.id, "text": d.text} for d in r.documents]}
        for r in read_requests(path)])


def run_on_ray(args: argparse.Namespace, options: dict[str, Any]) -> int:
    try:
        import ray
    except ImportError:
        raise InvalidInput("--engine ray needs the 'ray' extra; install it from the llm_rerank "
                           "clone: pip install -e '.[ray]'") from None
    from ..eval.io import write_results
    from ..files import output_stream
    from ..integrations.ray import rerank_dataset
    from ..models import RankedResults

    if not ray.is_initialized():
        ray.init(address=args.ray_address, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    ranked = rerank_dataset(input_rows(args.input), args.strategy, top_n=args.top_n,
                            concurrency=args.actors,
                            max_concurrent_queries=args.concurrent_queries,
                            with_results=True, **options)
    done = failed = 0
    with output_stream(args.output) as out:
        for position, row in enumerate(ranked.iter_rows()):
            query_id = str(row.get("query_id") or position)
            if row["error"] is not None:
                failed += 1
                print(f"llm-rerank: query {query_id}: {row['error']}", file=sys.stderr)
                continue
            done += 1
            results = RankedResults.model_validate_json(row["results"])
            write_results(out, [(query_id, results)], args.format, args.tag or args.strategy)
    print(f"llm-rerank: reranked {done} of {done + failed} queries on Ray ({args.actors} "
          "actor(s))", file=sys.stderr)
    return 1 if failed else 0
