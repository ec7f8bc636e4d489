"""llm_rerank: rerank retrieval candidates with LLM judges or a cross-encoder.

Importing the package is light: each public name's module loads when the name is first
used (so ``llm-rerank --help`` imports neither pydantic nor numpy), and LiteLLM, torch and
sentence-transformers load on first use of a model.

>>> from llm_rerank import get_reranker
>>> get_reranker("listwise", model="openai/gpt-4o-mini", cache=False).name
'listwise'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import BudgetExceeded, InvalidInput, LLMCallError, RerankError, TemplateError

if TYPE_CHECKING:
    from .cross_encoder import CrossEncoderReranker
    from .llm_reranker import LLMReranker
    from .models import Document, RankedResult, RankedResults, Usage
    from .registry import get_reranker, register_reranker
    from .reranker import Reranker
    from .strategies.listwise import ListwiseReranker
    from .strategies.pairwise import PairwiseReranker
    from .strategies.pointwise import PointwiseReranker
    from .strategies.setwise import SetwiseReranker

__version__ = "0.1.0"

_LAZY = {  # public name -> the module defining it, imported on first access
    "CrossEncoderReranker": ".cross_encoder", "LLMReranker": ".llm_reranker",
    "Document": ".models", "RankedResult": ".models", "RankedResults": ".models",
    "Usage": ".models", "get_reranker": ".registry", "register_reranker": ".registry",
    "Reranker": ".reranker", "ListwiseReranker": ".strategies.listwise",
    "PairwiseReranker": ".strategies.pairwise", "PointwiseReranker": ".strategies.pointwise",
    "SetwiseReranker": ".strategies.setwise",
}

__all__ = [
    "BudgetExceeded", "CrossEncoderReranker", "Document", "InvalidInput", "LLMCallError",
    "LLMReranker", "ListwiseReranker", "PairwiseReranker", "PointwiseReranker",
    "RankedResult", "RankedResults", "RerankError", "Reranker",
    "SetwiseReranker", "TemplateError", "Usage", "get_reranker", "register_reranker",
]


def __getattr__(name: str) -> Any:
    """Import the module of a public name on first access (PEP 562) and keep the name."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
