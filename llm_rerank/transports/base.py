"""What every transport shares: the messages it sends, the ``Completion`` it returns, the
``Transport`` protocol, its typed errors and the request tag header.

A transport sends one chat completion and reads the answer; the client (``llm.py``) does the
rest (cache, budget, concurrency, retries, usage). This module imports nothing of the
package but its errors and the tag format (``tags.py``), so every other module may import it.

>>> tag_header({"strategy": "setwise", "kind": "setwise"})
{'X-LLM-Rerank-Tag': 'strategy=setwise; kind=setwise'}
>>> tag_header({"strategy": "set wise"})
Traceback (most recent call last):
    ...
ValueError: request tag value 'set wise' must match [A-Za-z0-9_./-]+
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import RerankError
from ..tags import TAG_HEADER, format_tag

Messages = list[dict[str, str]]
_TAG_TOKEN = re.compile(r"[A-Za-z0-9_./-]+")


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


class MissingCredentials(RerankError):
    """A call refused before any request: no ``api_key`` and none of ``names`` is set in
    the environment (a permanent failure, never retried)."""

    def __init__(self, names: list[str] | tuple[str, ...]) -> None:
        self.names = tuple(names)
        super().__init__(f"missing credentials: {', '.join(self.names)} not set")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.names,)


class InvalidResponse(RerankError):
    """A 2xx answer that is not a chat completion (not JSON, or of the wrong shape): a
    proxy's page or a server's hiccup, retried as a transient failure."""


def tag_header(tag: Mapping[str, str]) -> dict[str, str]:
    """The request tag as an HTTP header: ``key=value`` pairs joined by ``"; "`` in the
    mapping's order (keys and values of ``[A-Za-z0-9_./-]`` only, else ``ValueError``)."""
    for key, value in tag.items():
        for role, text in (("key", key), ("value", value)):
            if not isinstance(text, str) or not _TAG_TOKEN.fullmatch(text):
                raise ValueError(f"request tag {role} {text!r} must match [A-Za-z0-9_./-]+")
    return {TAG_HEADER: format_tag(tag)}


class Transport(Protocol):
    """Sends chat completions of one model (built as ``Transport(model, api_base, api_key,
    completion_kwargs)``, which refuses with ``InvalidInput`` what it cannot send).

    ``complete`` raises the provider's errors; ``classify`` (``failures.py``) reads their
    ``status_code`` and asks ``is_transient`` about the others. Class-level hooks, all
    optional (see ``llm_rerank.transports``): ``owns_task(task)``, ``async close_loop()``,
    ``prepare_fork()`` and ``after_fork()``.
    """

    model: str

    async def complete(self, messages: Messages, params: Mapping[str, Any], *,
                       tag: Mapping[str, str] | None = None) -> Completion:
        """One request (``params``: sampling options and ``completion_kwargs``, merged)."""
        ...

    def window_key(self) -> str:
        """The response-cache key under which the model's context window is kept."""
        ...

    def context_window(self) -> int | None:
        """The model's input-token limit, ``None`` when unknown."""
        ...

    def count_tokens(self, messages: Messages) -> int:
        """Prompt tokens of ``messages`` by the model's tokenizer."""
        ...

    def estimate_cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """US dollars for that many tokens (0 for an unpriced model)."""
        ...

    def is_transient(self, exc: BaseException) -> bool:
        """Whether an error without an HTTP status is worth retrying (this transport's own
        error types)."""
        ...
