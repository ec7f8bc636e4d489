"""Adapters that plug a ``Reranker`` into RAG frameworks, each behind an optional extra.

- ``llm_rerank.integrations.langchain``: ``LLMRerankCompressor``, a LangChain
  ``BaseDocumentCompressor`` (extra ``langchain``).
- ``llm_rerank.integrations.llamaindex``: ``LLMRerankPostprocessor``, a LlamaIndex
  ``BaseNodePostprocessor`` (extra ``llamaindex``).

Importing an adapter whose framework is missing raises ``MissingExtra`` naming the extra
(``llm_rerank.errors.require``, the check every optional dependency goes through).
"""

from __future__ import annotations

from ..errors import MissingExtra, require

__all__ = ["MissingExtra", "require"]
