"""What a server does before it answers its first request, and the limits it publishes.

- ``warm_up``: import LiteLLM (about 6 s) and look up each LLM reranker's provider and
  prices before serving. Done lazily, the first request did it on the event loop, stalling
  every route (``/health`` too) and a shutdown. ``serve`` warms up before its ready banner;
  the app's lifespan warms up again (a no-op by then, or the work of a ``--workers``
  process) before uvicorn accepts a connection.
- ``ConnectionLimits`` under ``STATE_KEY`` in the lifespan state: the read timeout and
  the connection cap that ``connections.GuardedH11Protocol`` enforces.
- ``quiet_resource_errors``: running out of file descriptors is logged once, not as a
  traceback at every refused ``accept``.

>>> import asyncio, errno
>>> loop = asyncio.new_event_loop()
>>> quiet_resource_errors(loop)
>>> loop.call_exception_handler({"message": "socket.accept() out of system resource",
...                              "exception": OSError(errno.EMFILE, "Too many open files")})
>>> loop.close()
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..reranker import Reranker

log = logging.getLogger("llm_rerank.server")
STATE_KEY = "llm_rerank.connection_limits"
RESOURCE_ERRNOS = {errno.EMFILE: "file descriptors (ulimit -n)",
                   errno.ENFILE: "file descriptors (system-wide)",
                   errno.ENOBUFS: "socket buffers", errno.ENOMEM: "memory"}


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a request may take to arrive whole, and how many connections may be open."""

    read_timeout_s: float = 30.0
    max_connections: int = 1000


def warm_up(rerankers: Iterable[Reranker]) -> None:
    """Do what the first request of each LLM reranker would do first: import LiteLLM, find
    the model's provider, context window and prices (``LLMClient.warm_up``; rerankers
    without an LLM need nothing)."""
    for reranker in rerankers:
        llm = getattr(reranker, "llm", None)
        if llm is not None:
            llm.warm_up()


def quiet_resource_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Log running out of descriptors (or socket buffers, or memory) once per kind, without
    a traceback, instead of the event loop's traceback at every refused ``accept``; other
    errors go to the handler the loop had."""
    previous = loop.get_exception_handler()
    reported: set[int] = set()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if isinstance(error, OSError) and error.errno in RESOURCE_ERRNOS:
            if error.errno not in reported:
                reported.add(error.errno)
                log.error("out of %s (%s): new connections wait until some close; logged "
                          "once (lower --max-connections or raise ulimit -n)",
                          RESOURCE_ERRNOS[error.errno], error.strerror)
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)


def lifespan(rerankers: Iterable[Reranker], limits: ConnectionLimits
             ) -> Callable[[Any], Any]:
    """The app's lifespan: warm up (in a thread), quiet resource errors, publish limits."""
    served = list(rerankers)

    @asynccontextmanager
    async def run(app: Any) -> AsyncIterator[dict[str, Any]]:
        quiet_resource_errors(asyncio.get_running_loop())
        await asyncio.to_thread(warm_up, served)
        yield {STATE_KEY: limits}

    return run
