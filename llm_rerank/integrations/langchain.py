"""LangChain adapter: any ``Reranker`` as a ``BaseDocumentCompressor`` (extra ``langchain``).

``LLMRerankCompressor`` reranks the documents a retriever found and returns copies, best
first, with ``relevance_score`` (in [0, 1]), ``rerank_position`` (1-based) and
``rerank_strategy`` in their metadata; the originals are left untouched. ``top_n`` keeps
the best ``top_n`` (default: all, reordered) and lets early-stopping strategies do less.
``acompress_documents`` is native async (it awaits ``Reranker.arank``); an LLM failure
raises through, so the retriever's callbacks see it. No documents: ``[]``, no call.

>>> from langchain_core.documents import Document
>>> from llm_rerank import ListwiseReranker
>>> from llm_rerank.testing import fake_llm
>>> with fake_llm(lambda messages: "[2] > [1]") as fake:
...     compressor = ListwiseReranker(fake.model, cache=False).as_langchain_compressor(top_n=1)
...     best = compressor.compress_documents(
...         [Document(page_content="Lyon"), Document(page_content="Paris")], "capital of France")
>>> [(d.page_content, d.metadata["relevance_score"]) for d in best]
[('Paris', 1.0)]
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ConfigDict, Field

from . import RerankerLike, require

require("langchain_core", "langchain")

from langchain_core.callbacks import Callbacks  # noqa: E402
from langchain_core.documents import BaseDocumentCompressor, Document  # noqa: E402

from ..aio import run_sync  # noqa: E402


class LLMRerankCompressor(BaseDocumentCompressor):  # type: ignore[misc]
    """Rerank LangChain documents with an llm_rerank ``Reranker``.

    Use it as a ``ContextualCompressionRetriever``'s ``base_compressor``, or build it with
    ``Reranker.as_langchain_compressor(top_n=...)``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    reranker: RerankerLike = Field(description="the llm_rerank reranker that orders the documents")
    top_n: int | None = Field(None, ge=1, description="keep the best top_n (default: all)")

    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """The documents reranked for ``query``: copies, best first, scored in metadata."""
        if not documents:
            return []
        results = await self.reranker.arank(query, list(documents), self.top_n)
        return [
            documents[r.index].model_copy(update={"metadata": {
                **documents[r.index].metadata,
                "relevance_score": r.relevance_score,
                "rerank_position": r.rank,
                "rerank_strategy": results.strategy,
            }})
            for r in results
        ]

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """Sync ``acompress_documents`` (also works inside a running event loop)."""
        return run_sync(self.acompress_documents(documents, query, callbacks))


__all__ = ["LLMRerankCompressor"]
