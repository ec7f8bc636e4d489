"""``transport="direct"``: chat completions posted straight to an OpenAI-compatible server.

LiteLLM spends several milliseconds of client CPU on every call (its thread hop, logging
payloads, cost calculation and HTTP layers); against a fast server (vLLM, llama.cpp,
Ollama's ``/v1``, a hosted OpenAI endpoint) with many calls in flight, that CPU bounds a
batch before the server does. This transport sends the same request with one aiohttp
session per event loop and reads the answer itself: the text, the first tokens' top
logprobs, the token counts, and the cost by LiteLLM's price table (looked up once per
model). Failures keep their HTTP status and ``Retry-After``, so ``LLMClient``'s retries,
budgets and errors behave as with LiteLLM. This module does not import LiteLLM: prices,
context windows and token counts are asked of ``transports.litellm`` when needed.

It speaks one protocol: ``openai/<name>`` models (``<name>`` is sent as the model), at
``api_base`` (default ``$OPENAI_BASE_URL``, else OpenAI's), with ``api_key`` or
``$OPENAI_API_KEY``. ``completion_kwargs`` may hold OpenAI request fields, ``extra_body``
(merged into the request, e.g. vLLM's ``top_k``) and ``extra_headers``; LiteLLM options
are refused when the reranker is built.

>>> transport = DirectTransport("openai/qwen2.5", "http://127.0.0.1:8000/v1/", None, {})
>>> transport.url, transport.model_name
('http://127.0.0.1:8000/v1/chat/completions', 'qwen2.5')
>>> check_direct_options("ollama/llama3", {})  # doctest: +ELLIPSIS
Traceback (most recent call last):
    ...
llm_rerank.errors.InvalidInput: transport='direct' speaks ... got 'ollama/llama3'
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.parse
import urllib.request
import weakref
from collections.abc import AsyncIterator, Mapping
from types import ModuleType
from typing import Any

from ..errors import InvalidInput
from .base import Completion, InvalidResponse, Messages, MissingCredentials, tag_header

PREFIX = "openai/"
DEFAULT_API_BASE = "https://api.openai.com/v1"
# what the request body may carry besides model and messages (OpenAI's chat-completions
# fields that change a ranking answer or its bookkeeping)
REQUEST_FIELDS = frozenset({
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "logprobs", "top_logprobs",
    "seed", "stop", "presence_penalty", "frequency_penalty", "logit_bias", "response_format",
    "reasoning_effort", "service_tier", "user",
})
PASS_THROUGH = frozenset({"extra_body", "extra_headers"})
ERROR_TEXT_CHARS = 2000  # of a failed answer's body, in the error


class HTTPStatusError(Exception):
    """A server's refusal: its HTTP status, message and headers (``Retry-After``)."""

    def __init__(self, status_code: int, message: str, headers: Mapping[str, str]) -> None:
        super().__init__(f"HTTP {status_code}: {message}")
        self.status_code = status_code
        self.headers = headers


def check_direct_options(model: str, completion_kwargs: Mapping[str, Any]) -> None:
    """Refuse, naming the problem, what ``transport="direct"`` cannot send."""
    if not model.startswith(PREFIX) or len(model) == len(PREFIX):
        raise InvalidInput("transport='direct' speaks the OpenAI chat-completions protocol: "
                           "use an 'openai/<name>' model (with api_base for a self-hosted "
                           f"server), got {model!r}")
    unknown = sorted(set(completion_kwargs) - REQUEST_FIELDS - PASS_THROUGH)
    if unknown:
        raise InvalidInput(
            f"completion_kwargs {', '.join(map(repr, unknown))}: transport='direct' sends "
            f"OpenAI request fields ({', '.join(sorted(REQUEST_FIELDS))}), extra_body and "
            "extra_headers only; put a server's own fields in extra_body, or use "
            "transport='litellm' for LiteLLM options")
    for name in PASS_THROUGH & set(completion_kwargs):
        if not isinstance(completion_kwargs[name], Mapping):
            raise InvalidInput(f"completion_kwargs {name!r} must be a dict, "
                               f"got {type(completion_kwargs[name]).__name__}")


class DirectTransport:
    """Posts one chat completion to ``api_base`` and reads it into a ``Completion``."""

    def __init__(self, model: str, api_base: str | None, api_key: str | None,
                 completion_kwargs: Mapping[str, Any] | None = None) -> None:
        check_direct_options(model, completion_kwargs or {})
        self.model = model
        self.model_name = model[len(PREFIX):] if model.startswith(PREFIX) else model
        base = (api_base or os.environ.get("OPENAI_BASE_URL")
                or os.environ.get("OPENAI_API_BASE") or DEFAULT_API_BASE)
        parts = urllib.parse.urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(f"transport='direct' needs an http(s) api_base, such as "
                               f"http://127.0.0.1:8000/v1; got {base!r}")
        self.url = base.rstrip("/") + "/chat/completions"
        self.api_key = api_key
        self.proxy = environment_proxy(self.url)
        self._sessions: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[Any, AsyncIterator[None]]
        ] = weakref.WeakKeyDictionary()

    async def _session(self) -> Any:
        """This event loop's session, closed when the loop shuts down its async generators
        (``asyncio.run`` does, and so does the sync API's loop at exit)."""
        loop = asyncio.get_running_loop()
        held = self._sessions.get(loop)
        if held is None or held[0].closed:
            import aiohttp

            session = aiohttp.ClientSession(  # the proxy is looked up once, not per request
                connector=aiohttp.TCPConnector(limit=0))  # LLMClient's semaphore limits
            keeper = _close_at_shutdown(session)
            self._sessions[loop] = held = (session, keeper)
            await keeper.__anext__()  # now the loop finalizes it at shutdown
        return held[0]

    def __repr__(self) -> str:
        return f"DirectTransport({self.model!r}, {self.url!r})"

    async def complete(self, messages: Messages, params: Mapping[str, Any], *,
                       tag: Mapping[str, str] | None = None) -> Completion:
        """One request (``tag`` sent as a header, see ``tag_header``); raises
        ``HTTPStatusError``, ``ConnectionError`` (transport failures), ``InvalidResponse``
        or ``MissingCredentials``."""
        import aiohttp

        key = self.api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            raise MissingCredentials(["OPENAI_API_KEY"])
        body: dict[str, Any] = {"model": self.model_name, "messages": messages}
        body.update((k, v) for k, v in params.items() if k in REQUEST_FIELDS)
        body.update(params.get("extra_body") or {})
        headers = {"Authorization": f"Bearer {key}", **(params.get("extra_headers") or {}),
                   **(tag_header(tag) if tag else {})}
        session = await self._session()
        try:
            async with session.post(self.url, json=body, headers=headers,
                                    proxy=self.proxy) as response:
                raw = await response.read()
                status, answer_headers = response.status, response.headers
        except aiohttp.ClientError as exc:
            raise ConnectionError(f"{self.url}: {type(exc).__name__}: {exc}") from exc
        if status >= 400:
            raise HTTPStatusError(status, error_message(raw), answer_headers)
        answer = read_answer(raw)
        if answer is None:
            raise InvalidResponse(f"{self.url} answered HTTP {status} without a chat "
                                  f"completion: {raw[:200]!r}")
        choice, usage = answer
        prompt = count(usage.get("prompt_tokens"))
        completion = count(usage.get("completion_tokens"))
        details = usage.get("prompt_tokens_details")
        cached = count(details.get("cached_tokens")) if isinstance(details, dict) else 0
        return Completion(text=str(choice["message"].get("content") or ""),
                          logprobs=read_logprobs(choice),
                          prompt_tokens=prompt, completion_tokens=completion,
                          cost_usd=cost(self.model, prompt, completion, cached))

    # what LiteLLM's tables know (the same answers as transport="litellm")

    def window_key(self) -> str:
        return str(_tables().window_key(self.model))

    def context_window(self) -> int | None:
        window: int | None = _tables().context_window(self.model)
        return window

    def count_tokens(self, messages: Messages) -> int:
        return int(_tables().count_tokens(self.model, messages))

    def estimate_cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return float(_tables().estimate_cost(self.model, prompt_tokens, completion_tokens))

    def is_transient(self, exc: BaseException) -> bool:
        """Its failures carry a status or are connection errors: nothing more to tell."""
        return False

    @staticmethod
    def prepare_fork() -> None:
        """Load the price table before forking (each answer is priced by it)."""
        _tables().import_litellm()


def _tables() -> ModuleType:
    """``transports.litellm``, imported on first use (it imports LiteLLM lazily itself)."""
    from . import litellm as litellm_transport

    return litellm_transport


async def _close_at_shutdown(session: Any) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await session.close()


def environment_proxy(url: str) -> str | None:
    """The proxy the environment sets for ``url`` (``HTTPS_PROXY`` / ``HTTP_PROXY``, with
    ``NO_PROXY`` honoured), as LiteLLM's HTTP client would use; looked up once per
    transport (aiohttp's ``trust_env`` would do it, and read ``~/.netrc``, on every request).
    """
    parts = urllib.parse.urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def error_message(raw: bytes) -> str:
    """The message of an error body (OpenAI's ``{"error": {"message": ...}}``), else its text.

    >>> error_message(b'{"error": {"message": "model not found"}}')
    'model not found'
    >>> error_message(b"Bad Gateway")
    'Bad Gateway'
    """
    text = raw[:ERROR_TEXT_CHARS].decode("utf-8", "replace")
    try:
        error = json.loads(raw).get("error")
        message = error.get("message") if isinstance(error, dict) else error
        return str(message) if message else text
    except (ValueError, AttributeError):
        return text


def read_answer(raw: bytes) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The first choice and the usage of a chat completion; ``None`` if ``raw`` is not one.

    >>> read_answer(b'{"choices": [{"message": {"content": "[1]"}}]}')
    ({'message': {'content': '[1]'}}, {})
    >>> read_answer(b'{"choices": []}') is None
    True
    """
    try:
        answer = json.loads(raw)
    except ValueError:
        return None
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict) \
            or not isinstance(choices[0].get("message"), dict):
        return None
    usage = answer.get("usage")
    return choices[0], usage if isinstance(usage, dict) else {}


def count(value: object) -> int:
    """A token count from an answer (0 when absent or not a number).

    >>> count(12), count(None), count("many")
    (12, 0, 0)
    """
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def read_logprobs(choice: Mapping[str, Any]) -> list[dict[str, float]] | None:
    """The top logprobs of each answer token, as ``LLMClient`` reads LiteLLM's (``None``
    when there are none, or they are malformed).

    >>> read_logprobs({"logprobs": {"content": [{"token": "a", "logprob": -0.1,
    ...     "top_logprobs": [{"token": "a", "logprob": -0.1}, {"token": "b", "logprob": -2}]}]}})
    [{'a': -0.1, 'b': -2.0}]
    """
    logprobs = choice.get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not content:
        return None
    try:
        return [{alt["token"]: float(alt["logprob"]) for alt in position.get("top_logprobs") or []}
                or {position["token"]: float(position["logprob"])} for position in content]
    except (LookupError, TypeError, ValueError, AttributeError):
        return None


def cost(model: str, prompt: int, completion: int, cached: int = 0) -> float:
    """US dollars by LiteLLM's price table (0 for a model it does not price); cached
    prompt tokens at the cache-read price where the table has one."""
    prices: tuple[float, float, float | None] | None = _tables().token_prices(model)
    if prices is None:
        return 0.0
    per_input, per_output, per_cached = prices
    cached = min(cached, prompt)
    read = per_input if per_cached is None else per_cached
    return (prompt - cached) * per_input + cached * read + completion * per_output
