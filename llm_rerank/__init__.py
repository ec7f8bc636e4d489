"""llm_rerank: rerank retrieval candidates with LLM judges or a cross-encoder.

>>> from llm_rerank import get_reranker
>>> get_reranker("listwise", model="openai/gpt-4o-mini", cache=False).name
'listwise'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import BudgetExceeded, InvalidInput, LLMCallError, RerankError, TemplateError
from .models import Document, RankedResult, RankedResults, Usage
from .reranker import LLMReranker, Reranker, get_reranker, register_reranker

if TYPE_CHECKING:
    from .strategies.listwise import ListwiseReranker

__version__ = "0.1.0"

# Strategy classes load on first access, so ``import llm_rerank`` stays light.
_LAZY = {
    "ListwiseReranker": "llm_rerank.strategies.listwise",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'llm_rerank' has no attribute {name!r}")


__all__ = [
    "BudgetExceeded", "Document", "InvalidInput", "LLMCallError", "LLMReranker",
    "ListwiseReranker", "RankedResult", "RankedResults", "RerankError", "Reranker",
    "TemplateError", "Usage", "get_reranker", "register_reranker",
]
