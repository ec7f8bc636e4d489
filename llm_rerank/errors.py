"""The error hierarchy: everything llm_rerank raises on purpose is a ``RerankError``.

>>> from llm_rerank.errors import InvalidInput, RerankError
>>> issubclass(InvalidInput, RerankError) and issubclass(InvalidInput, ValueError)
True
"""

from __future__ import annotations


class RerankError(Exception):
    """Base class of every error llm_rerank raises on purpose."""


class InvalidInput(RerankError, ValueError):
    """A query, document, option value or input file that cannot be used."""


class TemplateError(RerankError):
    """A prompt template that cannot be found, parsed or rendered."""


class LLMCallError(RerankError):
    """An LLM call that failed for good (after retries, or not retryable); ``__cause__`` is kept."""

    def __init__(self, message: str, *, model: str, attempts: int = 1) -> None:
        super().__init__(message)
        self.model = model
        self.attempts = attempts


class BudgetExceeded(RerankError):
    """A run that would go past its ``max_calls`` budget."""
