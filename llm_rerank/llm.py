"""The one LLM call path: cache -> budget -> concurrency limit -> retries -> transport -> usage.

Every strategy calls :meth:`LLMClient.complete` (through ``LLMReranker.ask``). The client
sends through a transport picked by name (``llm_rerank.transports``: ``"litellm"`` by
default, ``"direct"``, or a registered one). Each attempt reserves capacity in the query's
``Budget`` before it starts, is bounded by the per-call ``timeout`` and the query's
deadline, and is retried only when the failure is transient (``failures.classify``: rate
limit, timeout, connection error, 5xx, an unreadable answer); an answer that the caller
cannot use is never cached.

>>> client = LLMClient("openai/gpt-4o-mini", api_key="sk-secret", cache=False)
>>> client.model, "sk-secret" in repr(client)
('openai/gpt-4o-mini', False)
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_base

from .budget import Budget
from .cache import cache_key
from .errors import InvalidInput, LLMCallError, StoreUnavailable
from .failures import (
    MAX_WAIT_S,
    Failure,
    classify,
    default_wait,
    environment_secrets,
    missing_key_hint,
    redact,
    retry_after_seconds,
)
from .models import Usage
from .ratelimit import RateLimit
from .stores import Cache, CacheUnavailable, open_cache
from .transports import build_transport
from .transports.base import Completion, Messages
from .transports.litellm import register_price  # where the README has long imported it

__all__ = ["BudgetStop", "Completion", "DeadlineStop", "LLMClient", "Messages", "register_price"]


class BudgetStop(Exception):
    """A call refused by the query's budget (internal: the strategy stops calling)."""


class DeadlineStop(Exception):
    """A call not made, or abandoned, because the query's deadline passed (internal)."""


@dataclass
class LLMClient:
    """Calls one model with caching, retries, budgets and a concurrency limit.

    ``cache`` is ``True`` (``$LLM_RERANK_CACHE_URL``, else the default directory), a path,
    a ``redis://`` URL, a cache object or ``False`` (``llm_rerank.stores``); a shared cache
    that fails is counted in ``usage.cache_errors`` and the call goes on uncached.
    ``timeout`` bounds each attempt (seconds); ``max_retries`` counts retries after
    transient failures. ``max_rpm`` / ``max_tpm`` are waited for before each attempt, in
    this process or, with ``rate_limit_store``, across processes (``ratelimit.py``).
    ``transport`` names a registered transport: ``"litellm"`` (any
    LiteLLM model), ``"direct"`` (``openai/...`` calls posted straight to the
    OpenAI-compatible endpoint) or one added with ``transports.register_transport``.
    """

    model: str
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 60.0
    temperature: float | None = 0.0
    completion_kwargs: dict[str, Any] = field(default_factory=dict)
    cache: bool | str | Path | Cache = True
    max_retries: int = 10
    max_concurrency: int = 8
    transport: str = "litellm"
    wait: wait_base = field(default_factory=default_wait, repr=False)
    max_rpm: int | None = None
    max_tpm: int | None = None
    rate_limit_store: str | None = None

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {self.max_concurrency}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if not self.timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {self.timeout}")
        self._cache = open_cache(self.cache)
        self._rate = RateLimit(self.model, max_rpm=self.max_rpm, max_tpm=self.max_tpm,
                               store=self.rate_limit_store) \
            if self.max_rpm is not None or self.max_tpm is not None else None
        self._semaphores: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Semaphore
        ] = weakref.WeakKeyDictionary()
        self._window: tuple[int | None] | None = None
        self._transport = build_transport(self.transport, self.model, self.api_base,
                                          self.api_key, self.completion_kwargs)

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop not in self._semaphores:
            self._semaphores[loop] = asyncio.Semaphore(self.max_concurrency)
        return self._semaphores[loop]

    def call_params(self, **params: Any) -> dict[str, Any]:
        """The keyword arguments of one call (sampling options merged, Nones dropped)."""
        merged = {"temperature": self.temperature, "api_base": self.api_base,
                  **self.completion_kwargs, **params}
        return {k: v for k, v in merged.items() if v is not None}

    def warm_up(self) -> None:
        """Load now what the first call would (the transport's imports, the model's
        provider, context window and prices), so a server's first request does not wait."""
        self._transport.context_window()
        self._transport.estimate_cost(1, 1)

    def context_window(self) -> int | None:
        """The model's context window, looked up once and kept in the response cache (under
        the transport's key), so a rerun answered from the cache never imports LiteLLM."""
        if self._window is None:
            key = self._transport.window_key()
            stored = self._cache_get(key, None)
            if stored is not None and "context_window" in stored:
                self._window = (stored["context_window"],)
            else:
                self._window = (self._transport.context_window(),)
                self._cache_set(key, {"context_window": self._window[0]}, None)
        return self._window[0]

    def fits_context(self, messages: Messages) -> bool:
        """Whether ``messages`` fit the model's context window (true when it is unknown)."""
        limit = self.context_window()
        if limit is None or sum(len(m["content"]) for m in messages) < limit * 2:
            return True  # at most ~2 chars a token below the limit: no need to count
        return self._transport.count_tokens(messages) <= limit

    def _cache_get(self, key: str, usage: Usage | None) -> dict[str, Any] | None:
        """A cached answer; ``None`` on a miss or when a shared cache failed (counted)."""
        try:
            return self._cache.get(key) if self._cache is not None else None
        except CacheUnavailable:
            if usage is not None:
                usage.cache_errors += 1
            return None

    def _cache_set(self, key: str, value: dict[str, Any], usage: Usage | None) -> None:
        try:
            if self._cache is not None:
                self._cache.set(key, value)
        except CacheUnavailable:
            if usage is not None:
                usage.cache_errors += 1

    async def complete(
        self,
        messages: Messages,
        usage: Usage,
        *,
        accept: Callable[[Completion], bool] | None = None,
        key_messages: Messages | None = None,
        budget: Budget | None = None,
        deadline: float | None = None,
        sample: int = 0,
        tag: Mapping[str, str] | None = None,
        **params: Any,
    ) -> Completion:
        """Answer ``messages``: from the cache, else from the model (with retries).

        An answer is cached only when ``accept(answer)`` holds (and a cached one that does
        not is asked again). ``key_messages`` caches the answer under other messages (a
        re-ask is cached as the answer to the original question). ``sample`` tells apart
        samples of the same prompt at a temperature above 0. ``budget`` and ``deadline``
        (``loop.time()``) raise ``BudgetStop`` / ``DeadlineStop`` instead of calling.
        ``tag`` (e.g. ``{"strategy": "setwise", "kind": "setwise"}``) is sent with the
        request (``transports.base.tag_header``); it is not part of the cache key.
        """
        call_params = self.call_params(**params)
        key = ""
        if self._cache is not None:
            key = cache_key(self.model, key_messages or messages, call_params,
                            sample=sample if (self.temperature or 0) > 0 or sample else None)
            hit = self._cache_get(key, usage)
            if hit is not None:
                completion = Completion(**hit, cached=True)
                if accept is None or accept(completion):
                    usage.cache_hits += 1
                    return completion
        completion = await self._call_with_retries(messages, call_params, usage, budget,
                                                   deadline, tag)
        usage.llm_calls += 1
        usage.prompt_tokens += completion.prompt_tokens
        usage.completion_tokens += completion.completion_tokens
        usage.cost_usd += completion.cost_usd
        if self._cache is not None and (accept is None or accept(completion)):
            self._cache_set(key, completion.to_cache(), usage)
        return completion

    def _estimate(self, messages: Messages, call_params: dict[str, Any]) -> tuple[int, float]:
        answer_cap = int(call_params.get("max_tokens") or call_params.get("max_completion_tokens")
                         or 0)
        prompt = self._transport.count_tokens(messages)
        return prompt + answer_cap, self._transport.estimate_cost(prompt, answer_cap)

    async def _call_with_retries(
        self, messages: Messages, call_params: dict[str, Any], usage: Usage,
        budget: Budget | None, deadline: float | None, tag: Mapping[str, str] | None,
    ) -> Completion:
        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda exc: self._classify(exc) == "transient"),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self.wait,
            reraise=True,
        )
        estimate = self._estimate(messages, call_params) if (budget and budget.limits_spend) \
            or (self._rate is not None and self._rate.counts_tokens) else (0, 0.0)
        if budget is not None and budget.limits_cost and estimate[1] <= 0:
            raise InvalidInput(
                f"max_cost_usd cannot limit {self.model}: its price is unknown (or zero) by "
                "LiteLLM's table, so every call would look free; pass price=(input, output) "
                "US dollars per token (or register_price), or limit max_calls or "
                "max_budget_tokens instead")
        loop = asyncio.get_running_loop()
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    if deadline is not None and loop.time() >= deadline:
                        raise DeadlineStop()
                    reservation = budget.reserve(*estimate) if budget is not None else None
                    if budget is not None and reservation is None:
                        raise BudgetStop(budget.exhausted or "budget")
                    attempts += 1
                    if attempts > 1:
                        usage.retries += 1
                    spent = (0, 0.0)
                    try:
                        completion = await self._attempt(messages, call_params, deadline,
                                                         tag, estimate[0])
                        spent = (completion.prompt_tokens + completion.completion_tokens,
                                 completion.cost_usd)
                        if self._rate is not None:
                            self._rate.adjust(estimate[0], spent[0])
                        return completion
                    except Exception as exc:  # a provider's Retry-After holds back the limit
                        if self._rate is not None and (hinted := retry_after_seconds(exc)):
                            self._rate.defer(min(hinted, MAX_WAIT_S))
                        raise
                    finally:
                        if reservation is not None:
                            assert budget is not None
                            budget.settle(reservation, *spent)
        except (BudgetStop, DeadlineStop, StoreUnavailable):
            raise
        except Exception as exc:
            failure = self._classify(exc)
            if failure == "bug":
                raise
            status = getattr(exc, "status_code", None)
            hint = missing_key_hint(exc)
            message = redact(f"{self.model}: {failure} error after {attempts} attempt(s): "
                             f"{exc}{hint}", [self.api_key or "", *environment_secrets()])
            raise LLMCallError(
                message, model=self.model, attempts=attempts, transient=failure == "transient",
                status_code=status if isinstance(status, int) else None,
            ) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _classify(self, exc: BaseException) -> Failure:
        return classify(exc, self._transport.is_transient)

    async def _attempt(self, messages: Messages, call_params: dict[str, Any],
                       deadline: float | None, tag: Mapping[str, str] | None,
                       tokens: int = 0) -> Completion:
        """One call under the concurrency limit, bounded by ``timeout`` and the deadline,
        started when the rate limits have room for it (``tokens``: its estimate)."""
        async with self._semaphore():
            if self._rate is not None:
                await self._rate_wait(tokens, deadline)
            limit = self.timeout
            loop = asyncio.get_running_loop()
            if deadline is not None:
                limit = min(limit, deadline - loop.time())
                if limit <= 0:
                    raise DeadlineStop()
            try:
                # the transport is told the time left too (its own HTTP timeout)
                return await asyncio.wait_for(self._transport.complete(
                    messages, {**call_params, "timeout": limit}, tag=tag), limit)
            except asyncio.TimeoutError:
                if deadline is not None and loop.time() >= deadline:
                    raise DeadlineStop() from None
                raise

    async def _rate_wait(self, tokens: int, deadline: float | None) -> None:
        """Wait for the start time the rate limits booked for this attempt."""
        assert self._rate is not None
        delay = self._rate.schedule(tokens)
        if deadline is not None and asyncio.get_running_loop().time() + delay >= deadline:
            raise DeadlineStop()
        await asyncio.sleep(delay)
