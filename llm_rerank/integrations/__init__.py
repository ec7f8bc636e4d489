"""Adapters that plug a ``Reranker`` into RAG frameworks, each behind an optional extra.

- ``llm_rerank.integrations.langchain``: ``LLMRerankCompressor``, a LangChain
  ``BaseDocumentCompressor`` (extra ``langchain``).
- ``llm_rerank.integrations.llamaindex``: ``LLMRerankPostprocessor``, a LlamaIndex
  ``BaseNodePostprocessor`` (extra ``llamaindex``).

Importing an adapter whose framework is missing raises ``MissingExtra`` naming the extra.
An adapter holds any ``RerankerLike`` (every ``Reranker`` is one), so the adapters never
import the ``Reranker`` class that builds them (``Reranker.as_langchain_compressor``).

>>> require("json", "none")
>>> require("surely_not_installed_pkg", "langchain")
Traceback (most recent call last):
    ...
llm_rerank.integrations.MissingExtra: surely_not_installed_pkg is not installed; \
install it from the llm_rerank clone: pip install -e '.[langchain]'
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from ..errors import RerankError
from ..models import RankedResults


class MissingExtra(RerankError, ImportError):
    """An optional dependency is missing; ``extra`` is the llm-rerank extra that brings it."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(f"{module} is not installed; install it from the llm_rerank clone: "
                         f"pip install -e '.[{extra}]'")
        self.extra = extra


@runtime_checkable
class RerankerLike(Protocol):
    """What an adapter uses of a ``Reranker``: its ``name``, ``model`` and ``arank``."""

    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str | None: ...

    async def arank(self, query: str, documents: Sequence[Any],
                    top_n: int | None = None) -> RankedResults: ...


def require(module: str, extra: str) -> None:
    """Raise ``MissingExtra`` unless the top-level ``module`` can be imported."""
    if importlib.util.find_spec(module) is None:
        raise MissingExtra(module, extra)
