"""The error hierarchy: everything llm_rerank raises on purpose is a ``RerankError``.

>>> from llm_rerank.errors import InvalidInput, RerankError
>>> issubclass(InvalidInput, RerankError) and issubclass(InvalidInput, ValueError)
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import RankedResults


class RerankError(Exception):
    """Base class of every error llm_rerank raises on purpose."""


class InvalidInput(RerankError, ValueError):
    """A query, document, option value or input file that cannot be used."""


class MissingExtra(RerankError, ImportError):
    """An optional dependency is missing; ``extra`` is the llm-rerank extra that brings it.
    The command line reports it on one line, with the usage exit status."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(f"{module} is not installed; install it from the llm_rerank clone: "
                         f"pip install -e '.[{extra}]'")
        self.extra = extra

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (type(self), self.args, self.__dict__)


def require(module: str, extra: str) -> None:
    """Raise ``MissingExtra`` naming ``extra`` unless ``module`` can be imported: the one
    check of every optional dependency.

    >>> require("json", "none")
    >>> require("surely_not_installed_pkg", "server")
    Traceback (most recent call last):
        ...
    llm_rerank.errors.MissingExtra: surely_not_installed_pkg is not installed; \
install it from the llm_rerank clone: pip install -e '.[server]'
    """
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a broken module
        found = False
    if not found:
        raise MissingExtra(module, extra)


class TemplateError(RerankError):
    """A prompt template that cannot be found, parsed or rendered."""


class LLMCallError(RerankError):
    """An LLM call that failed for good; ``__cause__`` is kept.

    ``transient`` is true when the last failure was one worth retrying later (rate limit,
    timeout, 5xx) and retries ran out; false for a permanent failure (bad request,
    authentication, unknown model). ``status_code`` is the provider's HTTP status if any.
    """

    def __init__(self, message: str, *, model: str, attempts: int = 1, transient: bool = False,
                 status_code: int | None = None) -> None:
        super().__init__(message)
        self.model = model
        self.attempts = attempts
        self.transient = transient
        self.status_code = status_code

    def __reduce__(self) -> tuple[Any, ...]:  # picklable, for worker processes
        return _rebuild, (type(self), self.args, self.__dict__)


class BudgetExceeded(RerankError):
    """A query (or batch) that reached its ``max_calls``, ``max_tokens`` or ``max_cost_usd``
    budget under ``on_budget="raise"``; ``results`` holds the partial ranking (documents not
    reached keep their order), when there is one."""

    def __init__(self, message: str, *, results: RankedResults | None = None) -> None:
        super().__init__(message)
        self.results = results

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls: type[RerankError], args: tuple[Any, ...],
             state: dict[str, Any]) -> RerankError:
    error = RerankError.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class StoreUnavailable(RerankError):
    """A shared store (Redis) that a budget or rate limit needs cannot be reached, or failed.

    A shared budget fails closed: no call is made without its ledger (``serve`` answers 503).
    The message names the store (its URL without a password) and what needed it.
    """
