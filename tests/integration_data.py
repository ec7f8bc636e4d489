"""Shared set-up of the adapter tests: the bundled sample, a judge and rerankers on it."""

from __future__ import annotations

from typing import Any

from llm_rerank import Reranker, get_reranker
from llm_rerank.data import load_sample
from llm_rerank.eval.io import RerankRequest
from llm_rerank.eval.metrics import ndcg
from llm_rerank.testing import JudgeServer

REQUESTS, QRELS = load_sample()
REQUEST = REQUESTS[0]
GRADES = QRELS[REQUEST.query_id]
# Strategies without a native score (rank-derived) and with one (pointwise).
STRATEGIES: dict[str, dict[str, Any]] = {
    "listwise": {"window_size": 4, "step": 2},
    "setwise": {"num_children": 3, "k": 3},
    "pairwise": {"method": "heapsort", "k": 3},
    "pointwise": {},
}


def judged(server: JudgeServer, strategy: str = "listwise", **options: Any) -> Reranker:
    options = {**STRATEGIES[strategy], **options}
    return get_reranker(strategy, model="openai/judge", api_base=server.url, api_key="x",
                        cache=False, **options)


def failing(messages: list[dict[str, str]]) -> str:
    raise ValueError("the provider rejected the request")  # a permanent failure


def ndcg_at_length(ids: list[str], request: RerankRequest) -> float:
    """nDCG at the list's length: 1.0 when the list is the best possible top."""
    return ndcg(ids, QRELS[request.query_id], len(ids))
