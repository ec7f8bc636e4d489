"""llm_rerank: rerank retrieval candidates with LLM judges or a cross-encoder.

Importing the package is light: LiteLLM, torch and sentence-transformers load on first use.

>>> from llm_rerank import get_reranker
>>> get_reranker("listwise", model="openai/gpt-4o-mini", cache=False).name
'listwise'
"""

from __future__ import annotations

from .cross_encoder import CrossEncoderReranker
from .errors import BudgetExceeded, InvalidInput, LLMCallError, RerankError, TemplateError
from .llm_reranker import LLMReranker
from .models import Document, RankedResult, RankedResults, Usage
from .registry import get_reranker, register_reranker
from .reranker import Reranker
from .strategies.listwise import ListwiseReranker
from .strategies.pairwise import PairwiseReranker
from .strategies.pointwise import PointwiseReranker
from .strategies.setwise import SetwiseReranker

__version__ = "0.1.0"

__all__ = [
    "BudgetExceeded", "CrossEncoderReranker", "Document", "InvalidInput", "LLMCallError",
    "LLMReranker", "ListwiseReranker", "PairwiseReranker", "PointwiseReranker",
    "RankedResult", "RankedResults", "RerankError", "Reranker",
    "SetwiseReranker", "TemplateError", "Usage", "get_reranker", "register_reranker",
]
