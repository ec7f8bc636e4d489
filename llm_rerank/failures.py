"""The failure policy of an LLM call: what is retried, how long to wait, what is redacted.

``classify`` sorts an error into ``"transient"`` (retried), ``"permanent"`` (fails now) or
``"bug"`` (re-raised as is). Transports tell it what they know: errors carry an HTTP
``status_code``, a ``MissingCredentials`` or ``InvalidResponse`` from
``transports.base``, or the transport's own ``is_transient`` predicate answers.

>>> classify(TimeoutError()), classify(KeyError("x")), classify(AttributeError("x"))
('transient', 'permanent', 'bug')
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import re
import time
from collections.abc import Callable, Iterator
from typing import Literal

from tenacity import RetryCallState, wait_random_exponential
from tenacity.wait import wait_base

from .errors import StoreUnavailable
from .transports.base import InvalidResponse, MissingCredentials

Failure = Literal["transient", "permanent", "bug"]
TRANSIENT_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
# Raised by code, not by a provider's answer: a bug is neither retried nor absorbed.
PROGRAMMING_ERRORS = (TypeError, AttributeError, NameError, AssertionError, ImportError,
                      NotImplementedError, RecursionError)
_SECRET_ENV = re.compile(r"(API_KEY|_TOKEN|_SECRET|_KEY)$")
MAX_WAIT_S = 20.0  # the longest backoff between two attempts (a Retry-After is capped too)


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps (``__cause__``, ``__context__``, ``original_exception``)."""
    seen: set[int] = set()
    stack = [exc]
    while stack and len(seen) < 32:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for inner in (current.__cause__, current.__context__,
                      getattr(current, "original_exception", None)):
            if isinstance(inner, BaseException):
                stack.append(inner)


def classify(exc: BaseException,
             is_transient: Callable[[BaseException], bool] | None = None) -> Failure:
    """``"transient"`` (retry), ``"permanent"`` (fail now) or ``"bug"`` (re-raise as is).

    An unreadable answer is transient, and missing credentials or an unreachable shared
    store (``StoreUnavailable``) are permanent, whatever they wrap; then a programming error
    anywhere in the chain is a bug; then the HTTP status decides (408/409/425/429/5xx
    transient, other 4xx permanent); then a timeout or a connection failure is transient,
    and so is what the transport's ``is_transient`` accepts; anything else is permanent.
    """
    if isinstance(exc, InvalidResponse):
        return "transient"
    if isinstance(exc, (MissingCredentials, StoreUnavailable)):  # a shared budget's
        return "permanent"  # store down: fail closed, no retry
    chain = list(causes(exc))
    if any(isinstance(e, PROGRAMMING_ERRORS) for e in chain):
        return "bug"
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and 400 <= status < 600:
        return "transient" if status in TRANSIENT_STATUS else "permanent"
    if any(isinstance(e, (TimeoutError, asyncio.TimeoutError, ConnectionError)) for e in chain):
        return "transient"
    return "transient" if is_transient is not None and is_transient(exc) else "permanent"


def retry_after_seconds(exc: BaseException | None) -> float | None:
    """The server's ``Retry-After`` (seconds or HTTP date) when the error carries a readable
    one; ``None`` otherwise (the caller falls back to backoff).

    >>> class Limited(Exception):
    ...     litellm_response_headers = {"retry-after": "soon"}
    >>> retry_after_seconds(Limited()) is None
    True
    """
    response = getattr(exc, "response", None)
    headers = (getattr(response, "headers", None) or getattr(exc, "litellm_response_headers", None)
               or getattr(exc, "headers", None))
    try:
        value = headers.get("retry-after") if headers is not None else None
        if value is None:
            return None
        try:
            seconds = float(value)
        except ValueError:
            seconds = email.utils.parsedate_to_datetime(str(value)).timestamp() - time.time()
    except Exception:
        return None
    return max(0.0, seconds) if seconds == seconds else None  # NaN -> None


class wait_retry_after(wait_base):
    """Wait what the server's ``Retry-After`` says (capped), else ``fallback``."""

    def __init__(self, fallback: wait_base, cap: float = MAX_WAIT_S) -> None:
        self.fallback, self.cap = fallback, cap

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        hinted = retry_after_seconds(outcome.exception() if outcome else None)
        return min(hinted, self.cap) if hinted is not None else float(self.fallback(retry_state))


def default_wait() -> wait_base:
    """Jittered exponential backoff (0.5 s, 1 s, 2 s ... up to 20 s) honouring Retry-After."""
    return wait_retry_after(wait_random_exponential(multiplier=0.5, max=MAX_WAIT_S))


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every secret replaced by ``***``.

    >>> redact("bad key sk-123456789 sent", ["sk-123456789"])
    'bad key *** sent'
    """
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "***")
    return text


def environment_secrets() -> list[str]:
    """Values of environment variables that look like credentials (``*_API_KEY``, ...)."""
    return [value for name, value in os.environ.items() if _SECRET_ENV.search(name) and value]


def missing_key_hint(exc: BaseException) -> str:
    """A hint naming the environment variables a refused call wanted (``""`` unless the
    failure is a ``MissingCredentials``).

    >>> missing_key_hint(MissingCredentials(["OPENAI_API_KEY"]))
    '; set OPENAI_API_KEY or pass api_key'
    """
    missing = next((e for e in causes(exc) if isinstance(e, MissingCredentials)), None)
    return f"; set {' or '.join(missing.names)} or pass api_key" if missing else ""
