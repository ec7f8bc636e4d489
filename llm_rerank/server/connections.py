"""Connection limits of ``llm-rerank serve``: what a silent or slow client can hold.

uvicorn closes an idle keep-alive connection, but not one that never sends its request: a
client that sends nothing, sends its headers a byte at a time or never sends its body
would keep a connection (and a file descriptor) forever, and a few hundred such clients
exhaust the process's descriptors. ``GuardedH11Protocol`` (uvicorn's h11 protocol with two
bounds) prevents that:

- **read timeout**: a request must arrive whole (headers and body) within
  ``read_timeout_s`` of its first byte (of the connection's opening, for the first request);
  otherwise the connection is closed. A request that arrived whole is never timed out here:
  ranking may take long.
- **connection cap**: at most ``max_connections`` open connections, and never more than
  half the process's descriptor limit (``ulimit -n``; the rest is for the provider
  connections, the cache and the logs). A new connection over the cap closes the
  connection that has waited longest without a request in progress; when every
  connection has one, the new connection is closed instead.

The app publishes its limits in its lifespan state (``lifecycle.STATE_KEY``), so the same
protocol serves every worker process.

>>> effective_cap(1000, descriptor_limit=256)
128
>>> effective_cap(50, descriptor_limit=1_000_000)
50
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time

from uvicorn.protocols.http.h11_impl import H11Protocol

from .lifecycle import STATE_KEY, ConnectionLimits

log = logging.getLogger("llm_rerank.server")


def descriptor_limit() -> int:
    """The process's soft limit on open file descriptors (``ulimit -n``)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def effective_cap(max_connections: int, descriptor_limit: int) -> int:
    """``max_connections``, and at most half the descriptor limit (at least 8)."""
    return max(8, min(max_connections, descriptor_limit // 2))


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a read timeout per request and a cap on connections."""

    _read_timer: asyncio.TimerHandle | None = None
    _waiting_since: float = 0.0  # when the connection last had no request in progress

    def _limits(self) -> ConnectionLimits:
        limits = self.app_state.get(STATE_KEY)
        return limits if isinstance(limits, ConnectionLimits) else ConnectionLimits()

    def request_in_progress(self) -> bool:
        """Whether a whole request arrived and its answer is not complete (the app works)."""
        cycle = self.cycle
        return cycle is not None and not cycle.response_complete and not cycle.more_body

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._waiting_since = time.monotonic()
        limits = self._limits()
        cap = effective_cap(limits.max_connections, descriptor_limit())
        if len(self.connections) > cap and not self._evict_one():
            log.warning("%d connections open, the cap (--max-connections, ulimit -n): "
                        "closing a new one", len(self.connections) - 1)
            transport.close()
            return
        self._arm(limits.read_timeout_s)

    def _evict_one(self) -> bool:
        """Close the connection that waited longest without a request in progress."""
        idle = [c for c in self.connections if isinstance(c, GuardedH11Protocol)
                and c is not self and not c.request_in_progress()
                and not c.transport.is_closing()]
        if not idle:
            return False
        min(idle, key=lambda c: c._waiting_since).transport.close()
        return True

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._read_timer = self.loop.call_later(seconds, self._read_timed_out)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if not self.request_in_progress() and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._read_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._arm(self._limits().read_timeout_s)  # the first byte of a new request
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        if self.request_in_progress():
            self._disarm()

    def on_response_complete(self) -> None:
        self._disarm()  # between requests, uvicorn's keep-alive timeout applies
        self._waiting_since = time.monotonic()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
