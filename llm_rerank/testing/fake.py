"""An in-process fake LLM at the LiteLLM boundary: a provider answered by a function.

``fake/`` is a provider handler (``providers.py``) that the LiteLLM transport serves as a
custom provider: requests go through the real ``litellm.acompletion`` path, so caching,
retries and usage are exercised exactly as with a hosted model.

Each request's tag (strategy and prompt kind, see ``llm_rerank.tags``) is recorded in
``fake.requests[n]["tag"]``; a responder that takes two arguments gets it too:
``fake_llm(lambda messages, tag: judge.answer(messages, kind=tag.get("kind")).text)``.

>>> from llm_rerank import ListwiseReranker
>>> with fake_llm(lambda messages: "[2] > [1]") as fake:
...     results = ListwiseReranker(fake.model, cache=False).rank("q", ["a", "b"])
>>> [r.document.text for r in results], fake.calls
(['b', 'a'], 1)
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..providers import ensure_provider, register_provider

Messages = list[dict[str, str]]


@dataclass
class FakeAnswer:
    """A scripted answer; ``logprobs`` holds each answer token's top alternatives."""

    text: str
    logprobs: list[dict[str, float]] | None = None


Responder = Callable[..., "str | FakeAnswer"]  # (messages) or (messages, tag)


def _takes_tag(respond: Responder) -> bool:
    """Whether ``respond`` takes a second positional argument (the request's tag)."""
    try:
        parameters = inspect.signature(respond).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in positional for p in parameters) >= 2


@dataclass
class FakeLLM:
    """One fake model: ``respond(messages)`` (or ``respond(messages, tag)``) returns the
    answer text, a ``FakeAnswer``, or
    raises (e.g. ``litellm.RateLimitError``) to simulate failures. ``latency`` is seconds."""

    model: str
    respond: Responder
    latency: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    peak_in_flight: int = 0

    @property
    def calls(self) -> int:
        return len(self.requests)

    async def answer(self, messages: Messages, params: dict[str, Any],
                     tag: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The OpenAI chat-completion dict of ``respond(messages)`` (recorded in
        ``requests`` with its params and tag)."""
        tag = dict(tag or {})
        self.requests.append({"messages": messages, "params": params, "tag": tag})
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            result = self.respond(messages, tag) if _takes_tag(self.respond) \
                else self.respond(messages)
        finally:
            self.in_flight -= 1
        answer = result if isinstance(result, FakeAnswer) else FakeAnswer(str(result))
        choice: dict[str, Any] = {"index": 0, "finish_reason": "stop",
                                   "message": {"role": "assistant", "content": answer.text}}
        if answer.logprobs is not None:
            choice["logprobs"] = {"content": [
                {"token": max(top, key=top.__getitem__), "logprob": max(top.values()),
                 "bytes": None,
                 "top_logprobs": [{"token": t, "logprob": lp, "bytes": None}
                                  for t, lp in top.items()]}
                for top in answer.logprobs
            ]}
        prompt_tokens = sum(len(m["content"].split()) for m in messages)
        completion_tokens = len(answer.text.split())
        return {"model": self.model, "choices": [choice],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}}


_FAKES: dict[str, FakeLLM] = {}
_names = itertools.count()


class FakeProvider:
    """The handler of ``fake/<name>`` models: each answered by its registered ``FakeLLM``."""

    async def acomplete(self, model: str, messages: Messages, params: dict[str, Any],
                        tag: Mapping[str, str] | None = None) -> dict[str, Any]:
        name = model.split("/", 1)[-1]
        if name not in _FAKES:
            raise ValueError(f"no fake model {name!r} is registered")
        return await _FAKES[name].answer(messages, params, tag)


def _install_provider() -> None:
    if not isinstance(ensure_provider("fake/any"), FakeProvider):
        register_provider("fake", FakeProvider())


@contextmanager
def fake_llm(respond: Responder, latency: float = 0.0) -> Iterator[FakeLLM]:
    """Register a fake model for the ``with`` block; use ``fake.model`` as the model string."""
    _install_provider()
    name = f"model-{next(_names)}"
    fake = FakeLLM(model=f"fake/{name}", respond=respond, latency=latency)
    _FAKES[name] = fake
    try:
        yield fake
    finally:
        del _FAKES[name]
