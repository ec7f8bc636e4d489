"""HTTP errors of the server: every failure becomes a JSON body with a message, never a
traceback.

- 400: the body is not JSON (or not UTF-8, or nested too deeply);
- 401: a token is required and ``Authorization: Bearer`` does not carry it;
- 402: the reranker's per-query budget (``max_calls``, ``max_budget_tokens``,
  ``max_cost_usd``) or the server-wide one (``--budget-*``) ran out under
  ``on_budget="raise"``; the same request would run out again, so not 429;
- 404: unknown route or unknown ``model``; 405: wrong method for the route;
- 413: the body, the number of documents, the query or a passage (TEI ``truncate=false``) is
  over a limit; 415: the content type is not JSON;
- 422: a field is missing or invalid (the message names it);
- 502: the LLM provider failed for good (bad request, authentication, unknown model);
- 503: the provider still failed after retries (rate limit, timeout, 5xx), or the shared
  budget's store cannot be reached (no call is made without its ledger), with ``Retry-After``;
- 500: anything else (logged on one line with an id that the body repeats).

A 502 or 503 names the failure (the error's type, the provider's HTTP status, the attempts)
and repeats nothing the provider sent: a provider's body may hold its internals (a remote
traceback, hosts, keys). The provider's own first line goes to the server's log.

>>> error = error_for(LLMCallError("boom", model="m", transient=True, status_code=503),
...                   retry_after_s=5)
>>> error.status, error.headers
(503, {'Retry-After': '5'})
>>> error.message
'the LLM provider is unavailable, retries exhausted (HTTP 503, 1 attempt)'
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from ..errors import BudgetExceeded, InvalidInput, LLMCallError, StoreUnavailable
from ..failures import causes, retry_after_seconds

log = logging.getLogger("llm_rerank.server")


@dataclass
class ApiError(Exception):
    """An error answer: status, message, a short type name and extra headers."""

    status: int
    message: str
    kind: str = "invalid_request"
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.kind}: {self.message}"


def _retry_after(exc: BaseException, default: int) -> int:
    hinted = next((s for e in causes(exc) if (s := retry_after_seconds(e)) is not None), None)
    return default if hinted is None else max(1, math.ceil(hinted))


def _first_line(exc: Exception, limit: int = 300) -> str:
    """The first line of an error (provider errors may carry a remote traceback), capped."""
    line = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return line if len(line) <= limit else line[:limit] + "..."


def provider_reason(exc: LLMCallError) -> str:
    """A short reason for a failed LLM call built from what llm_rerank knows (the cause's
    type, the HTTP status, the attempts), never from the provider's text.

    >>> try:
    ...     raise LLMCallError("m: Traceback (most recent call last): ...", model="m",
    ...                        attempts=3, status_code=502) from ValueError("secret")
    ... except LLMCallError as exc:
    ...     provider_reason(exc)
    'ValueError, HTTP 502, 3 attempts'
    """
    cause = exc.__cause__
    parts = [type(cause).__name__] if cause is not None else []
    if exc.status_code is not None:
        parts.append(f"HTTP {exc.status_code}")
    parts.append(f"{exc.attempts} attempt{'s' if exc.attempts != 1 else ''}")
    return ", ".join(parts)


def error_for(exc: Exception, *, retry_after_s: int) -> ApiError:
    """The ``ApiError`` for an exception raised while ranking."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, BudgetExceeded):
        note = (exc.results.budget_note if exc.results is not None else None) or "budget"
        if "shared budget" in note or "the batch's" in note:  # the server-wide budget
            return ApiError(402, f"this server's budget ran out ({note})", "budget_exceeded")
        return ApiError(402, f"the reranker's per-query budget ran out ({note}); "
                             "send fewer documents", "budget_exceeded")
    if isinstance(exc, StoreUnavailable):
        return ApiError(503, str(exc), "budget_store_unavailable",
                        {"Retry-After": str(retry_after_s)})
    if isinstance(exc, LLMCallError):
        reason = provider_reason(exc)
        log.warning("LLM call failed (%s): %s", reason, _first_line(exc))
        if exc.transient:
            seconds = _retry_after(exc, retry_after_s)
            return ApiError(503, f"the LLM provider is unavailable, retries exhausted ({reason})",
                            "provider_unavailable", {"Retry-After": str(seconds)})
        return ApiError(502, f"the LLM provider refused the call ({reason})", "provider_error")
    if isinstance(exc, InvalidInput):
        return ApiError(422, str(exc), "invalid_request")
    return ApiError(500, "internal server error", "internal_error")
