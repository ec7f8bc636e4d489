"""``transport="litellm"``: any LiteLLM model string, and the one module that imports LiteLLM.

Everything the package knows about LiteLLM lives here: its lazy import (bundled price table,
no download; its objects frozen for the garbage collector), prices, context windows, token
counting, the credentials check, reading its ``ModelResponse``, which of its errors are
transient, closing its async HTTP clients when a loop shuts down and dropping them after a
fork, and serving llm_rerank's model providers (plain handlers registered by prefix, see
``providers.py``) as LiteLLM custom providers.

OpenAI and OpenAI-compatible calls go through LiteLLM's own HTTP handler
(``EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER``, set when a ``LiteLLMTransport`` is built,
unless the environment sets it): about 15% fewer client instructions per call than its
OpenAI SDK path, with the same errors, ``Retry-After``, usage, logprobs and cost (pinned in
tests/test_throughput.py).

>>> register_price("openai/my-finetune", 1.5e-07, 6e-07)
>>> round(estimate_cost("openai/my-finetune", 1000, 100), 6)
0.00021
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Coroutine, Generator, Mapping
from typing import Any

from ..errors import InvalidInput
from ..failures import PROGRAMMING_ERRORS, causes
from ..providers import ensure_provider, provider_prefix
from ..tags import TAG_HEADER, parse_tag
from .base import Completion, InvalidResponse, Messages, MissingCredentials, tag_header

HTTP_HANDLER = "EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER"  # LiteLLM's switch
_imported: Any = None


def import_litellm() -> Any:
    """Import LiteLLM on first use, with its bundled price table (no download at import).

    What exists once it is imported is frozen (``gc.freeze``): collections skip it. This is
    the package's one process-wide garbage-collector switch, and it serves three ends: no
    0.17 s stall of the event loop when a full collection would walk LiteLLM's ~375,000
    objects mid-batch; worker processes forked after the import (``batch.py``) whose
    collectors never write to those shared pages (no copy-on-write); and no 1-2 s walk of
    them by the interpreter's final collections at exit. Nothing else freezes or unfreezes
    (``gc.unfreeze`` thaws everything: it would undo this).
    """
    global _imported
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
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


# --- prices, context windows, tokens --------------------------------------------------------

def register_price(model: str, input_cost_per_token: float,
                   output_cost_per_token: float) -> None:
    """Price ``model`` (US dollars per prompt / completion token) in LiteLLM's table.

    For a model LiteLLM does not know (a self-hosted or proxied one): its cost is then
    counted in ``usage.cost_usd`` and budgets, and LiteLLM's failing price lookup (about a
    sixth of the client's CPU per call) is not repeated on every call.
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


def missing_credentials(model: str, api_key: str | None, api_base: str | None) -> list[str]:
    """The environment variables that a call without ``api_key`` needs and lacks, for the
    models that LiteLLM's OpenAI HTTP handler serves: that handler sends such a call without
    a key, where the OpenAI SDK refused it at once, so the transport refuses it first,
    naming the variable (LiteLLM's ``mock_response`` calls, which never reach a provider,
    are not checked).
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


# --- answers and errors ---------------------------------------------------------------------

def completion_from_response(response: Any) -> Completion:
    """Read text, logprobs, token counts and cost off a LiteLLM ``ModelResponse``."""
    choices = getattr(response, "choices", None)
    if not choices:
        raise InvalidResponse(f"an answer without choices: {str(response)[:200]}")
    choice = choices[0]
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


def _litellm_dir() -> str:
    return os.path.dirname(getattr(_imported, "__file__", None) or "/nonexistent/") + os.sep


def unreadable_answer(model: str, exc: BaseException) -> InvalidResponse | None:
    """An ``InvalidResponse`` when ``exc`` is LiteLLM failing on a 2xx answer it could not
    read: its error carries the 2xx status (a body that is not JSON, such as a proxy's
    page), or a programming error was raised inside LiteLLM's own code (a JSON list read
    as a completion); ``None`` otherwise (a provider handler's own bug stays a bug)."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and 200 <= status < 300:
        return InvalidResponse(f"{model}: the provider answered HTTP {status} without a "
                               f"readable chat completion: {str(exc)[:300]}")
    package = _litellm_dir()
    for error in causes(exc):
        frames = traceback.extract_tb(error.__traceback__) if error.__traceback__ else []
        if isinstance(error, PROGRAMMING_ERRORS) and frames \
                and frames[-1].filename.startswith(package):
            return InvalidResponse(f"{model}: the provider's answer could not be read "
                                   f"({type(error).__name__}: {str(error)[:200]})")
    return None


# --- llm_rerank's providers, served as LiteLLM custom providers ------------------------------

_adapted: dict[str, Any] = {}  # prefix -> the handler registered with LiteLLM
_adapt_lock = threading.Lock()


def ensure_custom_provider(model: str) -> Any | None:
    """Register the provider handler of ``model``'s prefix with LiteLLM (once per handler);
    the handler, or ``None`` for models LiteLLM serves itself."""
    handler = ensure_provider(model)
    prefix = provider_prefix(model)
    if handler is None or prefix is None or _adapted.get(prefix) is handler:
        return handler
    litellm = import_litellm()
    with _adapt_lock:
        if _adapted.get(prefix) is not handler:
            litellm.custom_provider_map = [
                *[p for p in litellm.custom_provider_map if p.get("provider") != prefix],
                {"provider": prefix, "custom_handler": _adapter(prefix, handler)},
            ]
            litellm.utils.custom_llm_setup()
            _adapted[prefix] = handler
    return handler


class _Deferred(Coroutine[Any, Any, Any]):
    """A coroutine that starts the real one (``start()``) only when first run.

    LiteLLM calls a provider's ``acompletion`` in a worker thread and awaits the coroutine it
    gets back; when the call is cancelled meanwhile (a failing query cancels its siblings),
    that coroutine is dropped unawaited and Python prints "coroutine ... was never awaited".
    One never started is never created, so a cancelled batch stays quiet.
    """

    def __init__(self, start: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        self._start = start
        self._running: Coroutine[Any, Any, Any] | None = None

    def _coroutine(self) -> Coroutine[Any, Any, Any]:
        if self._running is None:
            self._running = self._start()
        return self._running

    def __await__(self) -> Generator[Any, None, Any]:
        return self._coroutine().__await__()

    def send(self, value: Any) -> Any:
        return self._coroutine().send(value)

    def throw(self, *exc: Any) -> Any:
        return self._coroutine().throw(*exc)

    def close(self) -> None:
        if self._running is not None:
            self._running.close()


def _adapter(prefix: str, handler: Any) -> Any:
    """A LiteLLM ``CustomLLM`` answering through ``handler.acomplete(model, messages,
    params, tag=...)`` (an OpenAI chat-completion dict; ``tag`` is the request's tag, read
    back from its header); ``InvalidInput`` becomes a permanent
    ``BadRequestError``."""
    litellm = import_litellm()
    from litellm.llms.custom_llm import CustomLLM

    described: set[str] = set()

    class ProviderAdapter(CustomLLM):  # type: ignore[misc]
        def acompletion(self, model: str, messages: Messages, *args: Any,
                        **kwargs: Any) -> Coroutine[Any, Any, Any]:
            return _Deferred(lambda: self.answer(model, messages, **kwargs))

        async def answer(self, model: str, messages: Messages, **kwargs: Any) -> Any:
            if not model.startswith(f"{prefix}/"):  # LiteLLM may strip the prefix
                model = f"{prefix}/{model}"
            try:
                if model not in described and hasattr(handler, "model_info"):
                    info = await asyncio.to_thread(handler.model_info, model)
                    if info:
                        litellm.register_model({model: {**info, "litellm_provider": prefix,
                                                         "mode": "chat"}})
                    described.add(model)
                headers = {k.lower(): v for k, v in (kwargs.get("headers") or {}).items()}
                answer = await handler.acomplete(
                    model, messages, kwargs.get("optional_params") or {},
                    tag=parse_tag(headers.get(TAG_HEADER.lower())))
            except InvalidInput as exc:
                error = litellm.BadRequestError(message=str(exc), model=model,
                                                llm_provider=prefix)
                raise error from exc
            return model_response(model, answer)

        def completion(self, *args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError(f"the {prefix!r} provider answers async calls only")

    return ProviderAdapter()


def model_response(model: str, answer: Mapping[str, Any]) -> Any:
    """A LiteLLM ``ModelResponse`` from an OpenAI chat-completion dict."""
    import_litellm()
    from litellm.types.utils import ChoiceLogprobs, Choices, Message, ModelResponse, Usage

    choice = answer["choices"][0]
    content = (choice.get("logprobs") or {}).get("content")
    usage = answer.get("usage") or {}
    prompt_tokens = int(usage.get("prompt_tokens", 0))
    completion_tokens = int(usage.get("completion_tokens", 0))
    return ModelResponse(
        id=answer.get("id") or f"chatcmpl-{uuid.uuid4().hex}",
        created=int(answer.get("created") or time.time()),
        model=model,
        choices=[Choices(index=0, finish_reason=choice.get("finish_reason") or "stop",
                         logprobs=None if content is None else ChoiceLogprobs(content=content),
                         message=Message(role="assistant",
                                         content=choice["message"]["content"] or ""))],
        usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                    total_tokens=prompt_tokens + completion_tokens),
    )


# --- the transport ------------------------------------------------------------------------

class LiteLLMTransport:
    """Sends one model's calls through ``litellm.acompletion``."""

    def __init__(self, model: str, api_base: str | None, api_key: str | None,
                 completion_kwargs: Mapping[str, Any]) -> None:
        os.environ.setdefault(HTTP_HANDLER, "true")
        self.model, self.api_base, self.api_key = model, api_base, api_key
        self._has_key = False  # set once missing_credentials() found nothing missing

    def __repr__(self) -> str:
        return f"LiteLLMTransport({self.model!r})"

    async def complete(self, messages: Messages, params: Mapping[str, Any], *,
                       tag: Mapping[str, str] | None = None) -> Completion:
        """One ``litellm.acompletion`` call; ``tag`` is sent as a header (``tag_header``)."""
        litellm = import_litellm()
        ensure_custom_provider(self.model)
        if not self._has_key and params.get("mock_response") is None:
            if missing := missing_credentials(self.model, self.api_key, self.api_base):
                raise MissingCredentials(missing)
            self._has_key = True
        call = dict(params)
        if tag:
            call["extra_headers"] = {**(call.get("extra_headers") or {}), **tag_header(tag)}
        try:
            response = await litellm.acompletion(
                model=self.model, messages=messages, api_key=self.api_key,
                max_retries=0, num_retries=0, **call)
        except Exception as exc:
            unreadable = unreadable_answer(self.model, exc)
            if unreadable is None:
                raise
            raise unreadable from exc
        return completion_from_response(response)

    def window_key(self) -> str:
        return window_key(self.model)

    def context_window(self) -> int | None:
        return context_window(self.model)

    def count_tokens(self, messages: Messages) -> int:
        return count_tokens(self.model, messages)

    def estimate_cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        ensure_custom_provider(self.model)  # LiteLLM prices a custom provider's models once
        return estimate_cost(self.model, prompt_tokens, completion_tokens)  # it knows them

    def is_transient(self, exc: BaseException) -> bool:
        """LiteLLM's timeout, rate-limit, connection and server error types."""
        litellm = import_litellm()
        return isinstance(exc, (litellm.Timeout, litellm.RateLimitError,
                                litellm.APIConnectionError, litellm.ServiceUnavailableError,
                                litellm.InternalServerError))

    # class-level hooks (see llm_rerank.transports)

    @staticmethod
    def owns_task(task: asyncio.Task[Any]) -> bool:
        """LiteLLM's logging worker finishes on its own at exit: leave it alone."""
        code = getattr(task.get_coro(), "cr_code", None)
        return _imported is not None and str(getattr(code, "co_filename", "")).startswith(
            _litellm_dir())

    @staticmethod
    async def close_loop() -> None:
        """Close LiteLLM's async HTTP clients of the running loop."""
        close = getattr(_imported, "close_litellm_async_clients", None)
        if close is not None:
            await close()

    @staticmethod
    def prepare_fork() -> None:
        """Import LiteLLM once, before forking (the children then skip its import)."""
        import_litellm()

    @staticmethod
    def after_fork() -> None:
        """Drop LiteLLM's cached async HTTP clients: the parent's event loop owned them."""
        cache = getattr(_imported, "in_memory_llm_clients_cache", None)
        if cache is not None and hasattr(cache, "flush_cache"):
            cache.flush_cache()
