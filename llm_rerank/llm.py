"""The one LLM call path: cache -> concurrency limit -> retries -> LiteLLM -> usage.

Every strategy calls :meth:`LLMClient.complete`; nothing else talks to LiteLLM.

>>> client = LLMClient("openai/gpt-4o-mini", cache=False)
>>> client.model
'openai/gpt-4o-mini'
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import time
import weakref
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from .cache import ResponseCache, cache_key
from .errors import LLMCallError
from .models import Usage

Messages = list[dict[str, str]]
TRANSIENT_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
PERMANENT_ERRORS = (
    "AuthenticationError", "BadRequestError", "NotFoundError", "PermissionDeniedError",
    "ContextWindowExceededError", "ContentPolicyViolationError", "UnsupportedParamsError",
    "InvalidRequestError", "UnprocessableEntityError", "PaymentRequiredError",
)
TRANSIENT_ERRORS = (
    "RateLimitError", "Timeout", "APIConnectionError", "ServiceUnavailableError",
    "InternalServerError", "BadGatewayError",
)


def import_litellm() -> Any:
    """Import LiteLLM on first use, with its bundled price table (no download at import)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def register_provider(name: str, handler: Any) -> None:
    """Route ``name/...`` models to ``handler``, a LiteLLM ``CustomLLM`` (replacing any
    handler registered under that name before)."""
    litellm = import_litellm()
    litellm.custom_provider_map = [
        *[p for p in litellm.custom_provider_map if p.get("provider") != name],
        {"provider": name, "custom_handler": handler},
    ]
    litellm.utils.custom_llm_setup()


@dataclass
class Completion:
    """One answer: its text, first-tokens' top logprobs when asked for, and its cost."""

    text: str
    logprobs: list[dict[str, float]] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cached: bool = False

    def to_cache(self) -> dict[str, Any]:
        return {"text": self.text, "logprobs": self.logprobs,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}


def is_transient(exc: BaseException) -> bool:
    """Rate limits, timeouts, connection errors and 5xx are worth retrying; nothing else is."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & set(PERMANENT_ERRORS):
        return False
    if names & set(TRANSIENT_ERRORS) or isinstance(exc, (asyncio.TimeoutError, ConnectionError)):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and status in TRANSIENT_STATUS


def retry_after_seconds(exc: BaseException | None) -> float | None:
    """The server's ``Retry-After`` (seconds or HTTP date) when the error carries one."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or getattr(exc, "litellm_response_headers", None)
    value = headers.get("retry-after") if headers is not None else None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


@dataclass
class Backoff:
    """Jittered exponential backoff that honours ``Retry-After`` (capped at ``max_wait``)."""

    initial: float = 0.5
    max_wait: float = 30.0

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = retry_after_seconds(exc)
        if hinted is not None:
            return min(hinted, self.max_wait)
        ceiling = min(self.max_wait, self.initial * 2 ** (state.attempt_number - 1))
        return random.uniform(0, ceiling)


@cache
def context_window(model: str) -> int | None:
    """The model's input-token limit when LiteLLM knows it, else ``None``."""
    if model.startswith("local/"):
        from .local import register_local_provider

        register_local_provider()  # registers the embedded model's window with LiteLLM
    try:
        info = import_litellm().get_model_info(model)
    except Exception:
        return None
    limit = info.get("max_input_tokens") or info.get("max_tokens")
    return int(limit) if limit else None


def count_tokens(model: str, messages: Messages) -> int:
    """Prompt tokens of ``messages`` by the model's tokenizer (LiteLLM's counter)."""
    return int(import_litellm().token_counter(model=model, messages=messages))


@dataclass
class LLMClient:
    """Calls one model through LiteLLM with caching, retries and a concurrency limit.

    ``cache`` is ``True`` (the default directory), a path, a ``ResponseCache`` or ``False``.
    """

    model: str
    api_base: str | None = None
    api_key: str | None = None
    timeout: float | None = None
    temperature: float | None = 0.0
    completion_kwargs: dict[str, Any] = field(default_factory=dict)
    cache: bool | str | Path | ResponseCache = True
    max_retries: int = 3
    max_concurrency: int = 8
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {self.max_concurrency}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if isinstance(self.cache, ResponseCache):
            self._cache: ResponseCache | None = self.cache
        elif self.cache is True:
            self._cache = ResponseCache()
        elif self.cache is False or self.cache is None:
            self._cache = None
        else:
            self._cache = ResponseCache(self.cache)
        self._semaphores: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Semaphore
        ] = weakref.WeakKeyDictionary()

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop not in self._semaphores:
            self._semaphores[loop] = asyncio.Semaphore(self.max_concurrency)
        return self._semaphores[loop]

    def call_params(self, **params: Any) -> dict[str, Any]:
        """The LiteLLM keyword arguments of one call (sampling options merged, Nones dropped)."""
        merged = {"temperature": self.temperature, "api_base": self.api_base,
                  **self.completion_kwargs, **params}
        return {k: v for k, v in merged.items() if v is not None}

    def fits_context(self, messages: Messages) -> bool:
        """Whether ``messages`` fit the model's context window (true when it is unknown)."""
        limit = context_window(self.model)
        if limit is None or sum(len(m["content"]) for m in messages) < limit * 2:
            return True  # at most ~2 chars a token below the limit: no need to count
        return count_tokens(self.model, messages) <= limit

    async def complete(self, messages: Messages, usage: Usage, **params: Any) -> Completion:
        """Answer ``messages``: from the cache, else from the model (with retries)."""
        call_params = self.call_params(**params)
        key = cache_key(self.model, messages, call_params) if self._cache is not None else ""
        if self._cache is not None and (hit := self._cache.get(key)) is not None:
            usage.cache_hits += 1
            return Completion(**hit, cached=True)
        completion = await self._call_with_retries(messages, call_params, usage)
        usage.llm_calls += 1
        usage.prompt_tokens += completion.prompt_tokens
        usage.completion_tokens += completion.completion_tokens
        usage.cost_usd += completion.cost_usd
        if self._cache is not None:
            self._cache.set(key, completion.to_cache())
        return completion

    async def _call_with_retries(
        self, messages: Messages, call_params: dict[str, Any], usage: Usage
    ) -> Completion:
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self.backoff,
            reraise=True,
        )
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    if attempts > 1:
                        usage.retries += 1
                    async with self._semaphore():
                        return await self._call_once(messages, call_params)
        except Exception as exc:
            kind = "transient" if is_transient(exc) else "permanent"
            raise LLMCallError(
                f"{self.model}: {kind} error after {attempts} attempt(s): {exc}",
                model=self.model, attempts=attempts,
            ) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _call_once(self, messages: Messages, call_params: dict[str, Any]) -> Completion:
        litellm = import_litellm()
        if self.model.startswith("local/"):
            from .local import register_local_provider

            register_local_provider()
        response = await litellm.acompletion(
            model=self.model, messages=messages, api_key=self.api_key, timeout=self.timeout,
            max_retries=0, num_retries=0, **call_params,
        )
        return completion_from_response(response)


def completion_from_response(response: Any) -> Completion:
    """Read text, logprobs, token counts and cost off a LiteLLM ``ModelResponse``."""
    choice = response.choices[0]
    text = choice.message.content or ""
    logprobs = None
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if content:
        logprobs = [
            {alt.token: float(alt.logprob) for alt in (position.top_logprobs or [])}
            or {position.token: float(position.logprob)}
            for position in content
        ]
    token_usage = getattr(response, "usage", None)
    hidden = getattr(response, "_hidden_params", None) or {}
    return Completion(
        text=text,
        logprobs=logprobs,
        prompt_tokens=int(getattr(token_usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(token_usage, "completion_tokens", 0) or 0),
        cost_usd=float(hidden.get("response_cost") or 0.0),
    )
