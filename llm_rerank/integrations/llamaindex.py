"""LlamaIndex adapter: any ``Reranker`` as a ``BaseNodePostprocessor`` (extra ``llamaindex``).

``LLMRerankPostprocessor`` reranks retrieved nodes and returns new ``NodeWithScore``s, best
first: ``score`` is the ranking's ``relevance_score`` (a float in [0, 1], so
``SimilarityPostprocessor`` and other score filters work), the retriever's score is kept in
the node's metadata as ``retrieval_score`` (hidden from the LLM and the embedder). The text
judged is ``node.get_content(metadata_mode)``, without metadata by default
(``MetadataMode.NONE``). ``top_n`` keeps the best ``top_n`` (default: all, reordered).

It is native async (``apostprocess_nodes`` awaits ``Reranker.arank``), emits LlamaIndex's
``ReRankStartEvent`` and ``ReRankEndEvent`` (the latter with the ranking's ``usage``)
through the instrumentation dispatcher, and a ``RERANKING`` callback event whose end
carries an LLM failure, which then raises through. No nodes: ``[]``, no call.

>>> from llama_index.core.schema import NodeWithScore, TextNode
>>> from llm_rerank import ListwiseReranker
>>> from llm_rerank.testing import fake_llm
>>> nodes = [NodeWithScore(node=TextNode(text="Lyon"), score=0.9),
...          NodeWithScore(node=TextNode(text="Paris"), score=0.8)]
>>> with fake_llm(lambda messages: "[2] > [1]") as fake:
...     postprocessor = ListwiseReranker(fake.model, cache=False).as_llamaindex_postprocessor()
...     ranked = postprocessor.postprocess_nodes(nodes, query_str="capital of France")
>>> [(n.node.get_content(), n.score, n.node.metadata["retrieval_score"]) for n in ranked]
[('Paris', 1.0, 0.8), ('Lyon', 0.5, 0.9)]
"""

from __future__ import annotations

from pydantic import Field

from . import RerankerLike, require

require("llama_index.core", "llamaindex")

from llama_index.core.callbacks import CBEventType, EventPayload  # noqa: E402
from llama_index.core.instrumentation.events.rerank import (  # noqa: E402
    ReRankEndEvent,
    ReRankStartEvent,
)
from llama_index.core.postprocessor.types import BaseNodePostprocessor  # noqa: E402
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle  # noqa: E402
from llama_index_instrumentation import get_dispatcher  # noqa: E402

from ..aio import run_sync  # noqa: E402
from ..models import RankedResult, Usage  # noqa: E402

dispatcher = get_dispatcher(__name__)
RETRIEVAL_SCORE = "retrieval_score"


class LLMRerankEndEvent(ReRankEndEvent):  # type: ignore[misc]
    """LlamaIndex's ``ReRankEndEvent`` (same class name for handlers) plus the ranking's
    ``usage``: LLM calls, cache hits, tokens, cost."""

    usage: Usage


class LLMRerankPostprocessor(BaseNodePostprocessor):  # type: ignore[misc]
    """Rerank LlamaIndex nodes with an llm_rerank ``Reranker``.

    Put it in a query engine's ``node_postprocessors``, or build it with
    ``Reranker.as_llamaindex_postprocessor(top_n=..., metadata_mode=...)``.
    """

    reranker: RerankerLike = Field(exclude=True,
                               description="the llm_rerank reranker that orders the nodes")
    top_n: int | None = Field(None, ge=1, description="keep the best top_n (default: all)")
    metadata_mode: MetadataMode = Field(
        MetadataMode.NONE, description="which metadata goes into the text the LLM judges")

    @classmethod
    def class_name(cls) -> str:
        return "LLMRerankPostprocessor"

    def _postprocess_nodes(self, nodes: list[NodeWithScore],
                           query_bundle: QueryBundle | None = None) -> list[NodeWithScore]:
        return run_sync(self._apostprocess_nodes(nodes, query_bundle))

    async def _apostprocess_nodes(self, nodes: list[NodeWithScore],
                                  query_bundle: QueryBundle | None = None
                                  ) -> list[NodeWithScore]:
        if query_bundle is None:
            raise ValueError("LLMRerankPostprocessor needs a query (query_bundle or query_str)")
        if not nodes:
            return []
        model = self.reranker.model or self.reranker.name
        dispatcher.event(ReRankStartEvent(query=query_bundle, nodes=nodes,
                                          top_n=self.top_n or len(nodes), model_name=model))
        with self.callback_manager.event(CBEventType.RERANKING, payload={
            EventPayload.NODES: nodes, EventPayload.MODEL_NAME: model,
            EventPayload.QUERY_STR: query_bundle.query_str, EventPayload.TOP_K: self.top_n,
        }) as event:
            documents = [{"text": n.node.get_content(metadata_mode=self.metadata_mode),
                          "id": n.node.node_id} for n in nodes]
            results = await self.reranker.arank(query_bundle.query_str, documents, self.top_n)
            ranked = [_rescored(nodes[r.index], r) for r in results]
            event.on_end(payload={EventPayload.NODES: ranked})
        dispatcher.event(LLMRerankEndEvent(nodes=ranked, usage=results.usage))
        return ranked


def _rescored(original: NodeWithScore, result: RankedResult) -> NodeWithScore:
    """A copy of ``original`` scored by the ranking, its retrieval score in metadata."""
    node = original.node.model_copy(update={
        "metadata": {**original.node.metadata, RETRIEVAL_SCORE: original.score},
        "excluded_llm_metadata_keys": [*original.node.excluded_llm_metadata_keys,
                                       RETRIEVAL_SCORE],
        "excluded_embed_metadata_keys": [*original.node.excluded_embed_metadata_keys,
                                         RETRIEVAL_SCORE],
    })
    return NodeWithScore(node=node, score=result.relevance_score)


__all__ = ["LLMRerankEndEvent", "LLMRerankPostprocessor"]
