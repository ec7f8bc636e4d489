"""Model providers by prefix: ``local/...`` and any plug-in are handlers registered through
one hook, so the call path never names a provider.

A provider is a plain object serving the models ``PREFIX/...``:
``async acomplete(model, messages, params, tag=None) -> dict`` answers with an OpenAI
chat-completion dict (``choices[0].message.content``, optionally
``choices[0].logprobs.content`` and ``usage``; ``tag`` is the request's tag, see
``llm_rerank.tags``) and raises ``InvalidInput`` for a request it cannot serve (a
permanent failure).
It may also define ``context_window(model) -> int | None`` (used to fit prompts) and
``model_info(model) -> dict`` (LiteLLM-style model info: prices, token limits). The LiteLLM
transport serves it as a LiteLLM custom provider. Built-in providers and the
``llm_rerank.providers`` entry-point group map a prefix to a ``"module:function"`` that
returns the handler; it is imported the first time a model with that prefix is used.

>>> provider_prefix("local/smollm2-135m"), provider_prefix("gpt-4o-mini")
('local', None)
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from .errors import InvalidInput

ENTRY_POINT_GROUP = "llm_rerank.providers"
_BUILTIN: dict[str, str] = {"local": "llm_rerank.local:provider"}
_factories: dict[str, Callable[[], Any] | str] = dict(_BUILTIN)
_handlers: dict[str, Any] = {}
_native: set[str] = set()  # prefixes LiteLLM serves itself (looked up once)
_lock = threading.RLock()


def provider_prefix(model: str) -> str | None:
    """The part before the first ``/``, when there is one."""
    prefix, sep, _ = model.partition("/")
    return prefix if sep else None


def register_provider(prefix: str, handler: Any) -> None:
    """Route ``prefix/...`` models to ``handler`` (replacing any handler registered under
    that prefix before)."""
    with _lock:
        _handlers[prefix] = handler
        _native.discard(prefix)


def register_provider_factory(prefix: str, factory: Callable[[], Any] | str) -> None:
    """Register a provider lazily: ``factory()`` (or ``"module:function"``) builds the
    handler the first time a ``prefix/...`` model is used."""
    with _lock:
        _factories[prefix] = factory
        _handlers.pop(prefix, None)
        _native.discard(prefix)


def _plugin_factories() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def ensure_provider(model: str) -> Any | None:
    """The handler serving ``model``'s prefix, registering it on first use; ``None`` for
    models no handler serves (LiteLLM serves them itself)."""
    prefix = provider_prefix(model)
    if prefix is None or prefix in _native:
        return None
    if prefix in _handlers:
        return _handlers[prefix]
    with _lock:
        if prefix in _handlers:
            return _handlers[prefix]
        factory = _factories.get(prefix) or _plugin_factories().get(prefix)
        if factory is None:
            _native.add(prefix)
            return None
        if isinstance(factory, str):
            module_name, _, function = factory.partition(":")
            try:
                factory = getattr(importlib.import_module(module_name), function)
            except (ImportError, AttributeError) as exc:
                raise InvalidInput(
                    f"provider {prefix!r} ({factory}) cannot be loaded: {exc}") from exc
        assert callable(factory)
        register_provider(prefix, factory())
        return _handlers[prefix]
