"""Adapters that plug a ``Reranker`` into RAG frameworks, each behind an optional extra.

- ``llm_rerank.integrations.langchain``: ``LLMRerankCompressor``, a LangChain
  ``BaseDocumentCompressor`` (extra ``langchain``).
- ``llm_rerank.integrations.llamaindex``: ``LLMRerankPostprocessor``, a LlamaIndex
  ``BaseNodePostprocessor`` (extra ``llamaindex``).

Importing an adapter whose framework is missing raises ``MissingExtra`` naming the extra
(``llm_rerank.errors.require``, the check every optional dependency goes through).
An adapter holds any ``RerankerLike`` (every ``Reranker`` is one), so the adapters never
import the ``Reranker`` class that builds them (``Reranker.as_langchain_compressor``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from ..errors import MissingExtra, require
from ..models import RankedResults

__all__ = ["MissingExtra", "RerankerLike", "require"]


@runtime_checkable
class RerankerLike(Protocol):
    """What an adapter uses of a ``Reranker``: its ``name``, ``model`` and ``arank``."""

    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str | None: ...

    async def arank(self, query: str, documents: Sequence[Any],
                    top_n: int | None = None) -> RankedResults: ...
