"""The one LLM call path: cache -> budget -> concurrency limit -> retries -> LiteLLM -> usage.

Every strategy calls :meth:`LLMClient.complete` (through ``LLMReranker.ask``); nothing else
talks to LiteLLM. Each attempt reserves capacity in the query's ``Budget`` before it starts,
is bounded by the per-call ``timeout`` and the query's deadline, and is retried only when the
failure is transient (rate limit, timeout, connection error, 5xx); an answer that the caller
cannot use is never cached.

>>> client = LLMClient("openai/gpt-4o-mini", api_key="sk-secret", cache=False)
>>> client.model, "sk-secret" in repr(client)
('openai/gpt-4o-mini', False)
"""

from __future__ import annotations

import asyncio
import email.utils
import gc
import importlib.util
import os
import re
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from .budget import Budget
from .cache import cache_key
from .errors import InvalidInput, LLMCallError, StoreUnavailable
from .models import Usage
from .providers import ensure_provider, provider_prefix
from .ratelimit import RateLimit
from .stores import Cache, CacheUnavailable, open_cache

if TYPE_CHECKING:
    from .direct import DirectTransport

Messages = list[dict[str, str]]
TRANSIENT_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
# Raised by code, not by a provider's answer: a bug is neither retried nor absorbed.
PROGRAMMING_ERRORS = (TypeError, AttributeError, NameError, AssertionError, ImportError,
                      NotImplementedError, RecursionError)
_MISSING_KEY = re.compile(r"missing credentials|missing (an )?api[_ ]?key|"
                          r"api[_ ]?key[^.]*(must be set|not set|is required)", re.IGNORECASE)
_ENV_NAME = re.compile(r"\b[A-Z][A-Z0-9_]*_(?:API_KEY|TOKEN|KEY)\b")
_SECRET_ENV = re.compile(r"(API_KEY|_TOKEN|_SECRET|_KEY)$")
MAX_WAIT_S = 20.0  # the longest backoff between two attempts (a Retry-After is capped too)
Failure = Literal["transient", "permanent", "bug"]
Transport = Literal["litellm", "direct"]
HTTP_HANDLER = "EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER"  # LiteLLM's switch, see import_litellm


def import_litellm() -> Any:
    """Import LiteLLM on first use, with its bundled price table (no download at import).

    The only import of LiteLLM in the package: every module reaches it through this. What
    exists once it is imported is frozen (``gc.freeze``): collections skip it. OpenAI
    and OpenAI-compatible calls go through LiteLLM's own HTTP handler
    (``EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER``, unless the environment sets it): about
    15% fewer client instructions per call than its OpenAI SDK path, with the same errors,
    ``Retry-After``, usage, logprobs and cost (pinned in tests/test_throughput.py).
    """
    global _imported
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault(HTTP_HANDLER, "true")
    if _imported is not None:
        return _imported
    import litellm

    litellm.suppress_debug_info = True
    # LiteLLM brings ~375,000 objects that live as long as the process; each full garbage
    # collection walked them all (a 0.17 s stall of the event loop here, mid-batch).
    # Frozen, later collections skip them.
    gc.collect()
    gc.freeze()
    _imported = litellm
    return litellm


_imported: Any = None


def register_price(model: str, input_cost_per_token: float,
                   output_cost_per_token: float) -> None:
    """Price ``model`` (US dollars per prompt / completion token) in LiteLLM's table.

    For a model LiteLLM does not know (a self-hosted or proxied one): its cost is then
    counted in ``usage.cost_usd`` and budgets, and LiteLLM's failing price lookup (about a
    sixth of the client's CPU per call) is not repeated on every call.

    >>> register_price("openai/my-finetune", 1.5e-07, 6e-07)
    >>> round(estimate_cost("openai/my-finetune", 1000, 100), 6)
    0.00021
    """
    for name, value in (("input_cost_per_token", input_cost_per_token),
                        ("output_cost_per_token", output_cost_per_token)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise InvalidInput(f"{name} must be a number >= 0 (US dollars), got {value!r}")
    if not isinstance(model, str) or not model.strip():
        raise InvalidInput(f"model must be a non-empty LiteLLM model string, got {model!r}")
    entry: dict[str, Any] = {"input_cost_per_token": float(input_cost_per_token),
                              "output_cost_per_token": float(output_cost_per_token)}
    if _model_info(model) is None:  # unknown to LiteLLM: say what it is, prices of cached
        entry.update(litellm_provider=provider_prefix(model) or "openai", mode="chat",
                     cache_creation_input_token_cost=0.0,  # prompts too (else it warns)
                     cache_read_input_token_cost=0.0)
    import_litellm().register_model({model: entry})
    _windows.pop(model, None)
    _prices.pop(model, None)


def _model_info(model: str) -> dict[str, Any] | None:
    try:
        info = import_litellm().get_model_info(model)
    except Exception:
        return None
    return dict(info)


class BudgetStop(Exception):
    """A call refused by the query's budget (internal: the strategy stops calling)."""


class DeadlineStop(Exception):
    """A call not made, or abandoned, because the query's deadline passed (internal)."""


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


def classify(exc: BaseException) -> Failure:
    """``"transient"`` (retry), ``"permanent"`` (fail now) or ``"bug"`` (re-raise as is).

    By HTTP status first (408/409/425/429/5xx transient, other 4xx permanent), then by what
    the error is: a timeout or a connection failure is transient, a programming error inside
    a provider is a bug, missing credentials are permanent; anything else is permanent.
    """
    if isinstance(exc, StoreUnavailable):  # a shared budget's store: fail closed, no retry
        return "permanent"
    chain = list(causes(exc))
    if any(isinstance(e, PROGRAMMING_ERRORS) for e in chain):
        return "bug"
    if any(_MISSING_KEY.search(str(e)) for e in chain):
        return "permanent"
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and 400 <= status < 600:
        return "transient" if status in TRANSIENT_STATUS else "permanent"
    if any(isinstance(e, (TimeoutError, asyncio.TimeoutError, ConnectionError)) for e in chain):
        return "transient"
    litellm = import_litellm()
    transient_types = (litellm.Timeout, litellm.RateLimitError, litellm.APIConnectionError,
                       litellm.ServiceUnavailableError, litellm.InternalServerError)
    return "transient" if isinstance(exc, transient_types) else "permanent"


def is_transient(exc: BaseException) -> bool:
    return classify(exc) == "transient"


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


def missing_key_hint(model: str, exc: BaseException) -> str:
    """A hint naming the environment variable a provider wanted, when it can be told."""
    for error in causes(exc):
        if match := _ENV_NAME.search(str(error)):
            return f"; set {match.group(0)} or pass api_key"
    provider = model.partition("/")[0] if "/" in model else "OPENAI"
    return f"; set {provider.upper()}_API_KEY or pass api_key"


def context_window(model: str) -> int | None:
    """The model's input-token limit when its provider or LiteLLM knows it, else ``None``
    (LiteLLM's answer is looked up once per process, unknown models included)."""
    handler = ensure_provider(model)
    if handler is not None and hasattr(handler, "context_window"):
        window = handler.context_window(model)
        return int(window) if window else None
    if model not in _windows:
        info = _model_info(model) or {}
        limit = info.get("max_input_tokens") or info.get("max_tokens")
        _windows[model] = int(limit) if limit else None
    return _windows[model]


_windows: dict[str, int | None] = {}  # LiteLLM's context windows, by model


def window_key(model: str) -> str:
    """The response-cache key of ``model``'s context window under the installed LiteLLM
    (found without importing it)."""
    spec = importlib.util.find_spec("litellm")
    origin = spec.origin if spec is not None else None
    stamp = os.stat(origin).st_mtime_ns if origin else 0
    return f"context-window:{model}:litellm-{stamp}"


def missing_credentials(model: str, api_key: str | None, api_base: str | None) -> list[str]:
    """The environment variables that a call without ``api_key`` needs and lacks, for the
    models that LiteLLM's OpenAI HTTP handler serves (see ``import_litellm``): that handler
    sends such a call without a key, where the OpenAI SDK refused it at once, so the client
    refuses it first, naming the variable, as before (LiteLLM's ``mock_response`` calls,
    which never reach a provider, are not checked).
    """
    litellm = import_litellm()
    if api_key or litellm.api_key or litellm.openai_key or \
            os.environ.get(HTTP_HANDLER, "").lower() != "true":
        return []
    try:
        provider = litellm.get_llm_provider(model, api_base=api_base)[1]
        found = litellm.validate_environment(model=model, api_base=api_base)
    except Exception:
        return []
    return list(found.get("missing_keys") or []) if provider == "openai" else []


def count_tokens(model: str, messages: Messages) -> int:
    """Prompt tokens of ``messages`` by the model's tokenizer (LiteLLM's counter)."""
    return int(import_litellm().token_counter(model=model, messages=messages))


def token_prices(model: str) -> tuple[float, float, float | None] | None:
    """US dollars per input, output and cached input token by LiteLLM's price table (the
    last ``None`` when the table has no cache price); ``None`` for a model it does not
    price. Looked up once per model (``register_price`` updates it).

    >>> register_price("openai/priced-for-doctest", 1e-06, 2e-06)
    >>> token_prices("openai/priced-for-doctest")
    (1e-06, 2e-06, 0.0)
    """
    if model not in _prices:
        info = _model_info(model) or {}
        per_input, per_output = info.get("input_cost_per_token"), info.get("output_cost_per_token")
        cached = info.get("cache_read_input_token_cost")
        _prices[model] = (float(per_input), float(per_output),
                          None if cached is None else float(cached)) \
            if per_input is not None and per_output is not None else None
    return _prices[model]


_prices: dict[str, tuple[float, float, float | None] | None] = {}  # by model


def estimate_cost(model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """US dollars for that many tokens by LiteLLM's price table (0 for unpriced models)."""
    try:
        prompt, completion = import_litellm().cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    except Exception:
        return 0.0
    return float(prompt) + float(completion)


@dataclass
class LLMClient:
    """Calls one model through LiteLLM with caching, retries, budgets and a concurrency limit.

    ``cache`` is ``True`` (``$LLM_RERANK_CACHE_URL``, else the default directory), a path,
    a ``redis://`` URL, a cache object or ``False`` (``llm_rerank.stores``); a shared cache
    that fails is counted in ``usage.cache_errors`` and the call goes on uncached.
    ``timeout`` bounds each attempt (seconds); ``max_retries`` counts retries after
    transient failures. ``max_rpm`` / ``max_tpm`` are waited for before each attempt, in
    this process or, with ``rate_limit_store``, across processes (``ratelimit.py``).
    ``transport="direct"`` posts ``openai/...`` calls straight to the OpenAI-compatible
    endpoint instead of through LiteLLM (``direct.py``).
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
    transport: Transport = "litellm"
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
        self._has_key = False  # set once missing_credentials() found nothing missing
        self._direct: DirectTransport | None = None
        if self.transport == "direct":
            from .direct import DirectTransport, check_direct_options

            check_direct_options(self.model, self.completion_kwargs)
            self._direct = DirectTransport(self.model, self.api_base, self.api_key)
        elif self.transport != "litellm":
            raise InvalidInput(f"transport must be 'litellm' or 'direct', got {self.transport!r}")

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

    def context_window(self) -> int | None:
        """The model's context window, looked up once and kept in the response cache (for
        the installed LiteLLM), so a rerun answered from the cache never imports LiteLLM."""
        if self._window is None:
            key = window_key(self.model)
            stored = self._cache_get(key, None)
            if stored is not None and "context_window" in stored:
                self._window = (stored["context_window"],)
            else:
                self._window = (context_window(self.model),)
                self._cache_set(key, {"context_window": self._window[0]}, None)
        return self._window[0]

    def fits_context(self, messages: Messages) -> bool:
        """Whether ``messages`` fit the model's context window (true when it is unknown)."""
        limit = self.context_window()
        if limit is None or sum(len(m["content"]) for m in messages) < limit * 2:
            return True  # at most ~2 chars a token below the limit: no need to count
        return count_tokens(self.model, messages) <= limit

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
        **params: Any,
    ) -> Completion:
        """Answer ``messages``: from the cache, else from the model (with retries).

        An answer is cached only when ``accept(answer)`` holds (and a cached one that does
        not is asked again). ``key_messages`` caches the answer under other messages (a
        re-ask is cached as the answer to the original question). ``sample`` tells apart
        samples of the same prompt at a temperature above 0. ``budget`` and ``deadline``
        (``loop.time()``) raise ``BudgetStop`` / ``DeadlineStop`` instead of calling.
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
        completion = await self._call_with_retries(messages, call_params, usage, budget, deadline)
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
        prompt = count_tokens(self.model, messages)
        return prompt + answer_cap, estimate_cost(self.model, prompt, answer_cap)

    async def _call_with_retries(
        self, messages: Messages, call_params: dict[str, Any], usage: Usage,
        budget: Budget | None, deadline: float | None,
    ) -> Completion:
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self.wait,
            reraise=True,
        )
        estimate = self._estimate(messages, call_params) if (budget and budget.limits_spend) \
            or (self._rate is not None and self._rate.counts_tokens) else (0, 0.0)
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
                                                         estimate[0])
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
            failure = classify(exc)
            if failure == "bug":
                raise
            status = getattr(exc, "status_code", None)
            hint = missing_key_hint(self.model, exc) if any(
                _MISSING_KEY.search(str(e)) for e in causes(exc)) else ""
            message = redact(f"{self.model}: {failure} error after {attempts} attempt(s): "
                             f"{exc}{hint}", [self.api_key or "", *environment_secrets()])
            raise LLMCallError(
                message, model=self.model, attempts=attempts, transient=failure == "transient",
                status_code=status if isinstance(status, int) else None,
            ) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _attempt(self, messages: Messages, call_params: dict[str, Any],
                       deadline: float | None, tokens: int = 0) -> Completion:
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
                return await asyncio.wait_for(self._call_once(messages, call_params, limit),
                                              limit)
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

    async def _call_once(self, messages: Messages, call_params: dict[str, Any],
                         timeout: float) -> Completion:
        if self._direct is not None:
            return await self._direct.complete(messages, call_params)
        litellm = import_litellm()
        ensure_provider(self.model)
        if not self._has_key and call_params.get("mock_response") is None:
            if missing := missing_credentials(self.model, self.api_key, self.api_base):
                raise litellm.AuthenticationError(
                    message=f"missing credentials: {', '.join(missing)} not set",
                    llm_provider="openai", model=self.model)
            self._has_key = True
        response = await litellm.acompletion(
            model=self.model, messages=messages, api_key=self.api_key, timeout=timeout,
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
