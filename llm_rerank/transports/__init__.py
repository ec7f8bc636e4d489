"""Transports by name: how ``LLMClient`` sends a chat completion.

Built in: ``"litellm"`` (any LiteLLM model, ``transports/litellm.py``, the one module that
imports LiteLLM) and ``"direct"`` (``openai/...`` models posted straight to an
OpenAI-compatible server, ``transports/direct.py``). A third transport is one module with a
class following ``transports.base.Transport`` and one ``register_transport`` call (or an
entry point in the ``llm_rerank.transports`` group, ``name = "package.module:Class"``).

The lifecycle hooks below run each transport's own (optional) class-level hooks, for the
transports a process has imported only.

>>> {"direct", "litellm"} <= set(transport_names())
True
>>> build_transport("carrier-pigeon", "openai/x", None, None, {})  # doctest: +ELLIPSIS
Traceback (most recent call last):
    ...
llm_rerank.errors.InvalidInput: unknown transport 'carrier-pigeon'; known: direct, ...
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from ..plugins import Plugins
from .base import Transport

ENTRY_POINT_GROUP = "llm_rerank.transports"
TRANSPORTS: Plugins[Any] = Plugins("transport", ENTRY_POINT_GROUP, {
    "litellm": "llm_rerank.transports.litellm:LiteLLMTransport",
    "direct": "llm_rerank.transports.direct:DirectTransport",
})


def register_transport(name: str, target: type[Any] | str) -> None:
    """Add a transport: a class (see ``Transport``) or a lazy ``"module:Class"``."""
    TRANSPORTS.register(name, target)


def transport_names() -> list[str]:
    """Every transport name: the built-ins, the registered ones and the plug-ins."""
    return TRANSPORTS.names()


def check_transport(name: object) -> str:
    """``name`` when it names a transport, else ``InvalidInput`` listing the known ones."""
    return TRANSPORTS.check(name)


def transport_class(name: str) -> type[Any]:
    """The class registered as ``name`` (imported on first use)."""
    return TRANSPORTS.load(name)


def build_transport(name: str, model: str, api_base: str | None, api_key: str | None,
                    completion_kwargs: Mapping[str, Any]) -> Transport:
    """The transport ``name`` for one model (it refuses what it cannot send)."""
    transport: Transport = transport_class(name)(model, api_base, api_key, completion_kwargs)
    return transport


def owns_task(task: asyncio.Task[Any]) -> bool:
    """Whether a transport's library runs ``task`` and finishes it itself (a loop shutting
    down leaves it alone)."""
    return any(hook(task) for cls in TRANSPORTS.imported()
               if (hook := getattr(cls, "owns_task", None)) is not None)


async def close_all() -> None:
    """Close what the imported transports hold on the running loop (HTTP clients)."""
    for cls in TRANSPORTS.imported():
        if (hook := getattr(cls, "close_loop", None)) is not None:
            with contextlib.suppress(Exception):
                await hook()


def prepare_fork(name: str) -> None:
    """Before forking workers that call through transport ``name``: load what every child
    would otherwise load again (LiteLLM's import, for instance)."""
    hook = getattr(transport_class(name), "prepare_fork", None)
    if hook is not None:
        hook()


def after_fork() -> None:
    """In a forked child: drop what the parent's event loop owned."""
    for cls in TRANSPORTS.imported():
        if (hook := getattr(cls, "after_fork", None)) is not None:
            hook()
