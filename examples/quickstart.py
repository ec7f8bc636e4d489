"""Every LLM strategy on the bundled sample, judged by the simulated judge: runs offline.

The simulated judge is an OpenAI-compatible server on 127.0.0.1 that answers from the
sample's relevance grades, reached through LiteLLM exactly like a hosted model. Swap
``MODEL``/``API_BASE`` for a real model (e.g. ``openai/gpt-4o-mini``) to rerank for real.

Usage: python examples/quickstart.py [--noise 0.5]
"""

from __future__ import annotations

import argparse

from llm_rerank import get_reranker
from llm_rerank.data import load_sample
from llm_rerank.eval.metrics import ndcg
from llm_rerank.testing import JudgeServer

STRATEGIES = {
    "listwise": {"window_size": 10, "step": 5},
    "pointwise": {},
    "pairwise": {"method": "heapsort", "k": 5},
    "setwise": {"num_children": 3, "k": 5},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=float, default=0.0, help="judge noise (0: perfect)")
    args = parser.parse_args()

    requests, qrels = load_sample()
    with JudgeServer(requests, qrels, noise=args.noise) as server:
        for strategy, options in STRATEGIES.items():
            reranker = get_reranker(strategy, model="openai/judge", api_base=server.url,
                                    api_key="unused", cache=False, **options)
            batch = reranker.rank_batch([(r.query, r.documents) for r in requests])
            for request, results in zip(requests, batch, strict=True):
                before = ndcg([d.id or "" for d in request.documents], qrels[request.query_id], 10)
                after = ndcg([r.document.id or "" for r in results], qrels[request.query_id], 10)
                print(f"{strategy:9} {request.query_id:9} nDCG@10 {before:.3f} -> {after:.3f}  "
                      f"calls={results.usage.llm_calls} tokens={results.usage.prompt_tokens}")
            best = batch[0][0]
            print(f"{'':9} top of '{requests[0].query}': {best.document.text[:70]}...\n")


if __name__ == "__main__":
    main()
