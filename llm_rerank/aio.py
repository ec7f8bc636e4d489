"""The bridge between sync callers and the library's coroutines, and ``gather_in_order``.

``run_sync`` runs a coroutine on one daemon event loop (also from inside a running loop, as
in Jupyter); the loop is shut down at interpreter exit.

>>> async def double(x):
...     return 2 * x
>>> run_sync(gather_in_order(double(x) for x in (1, 2, 3)))
[2, 4, 6]
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
from collections.abc import Awaitable, Coroutine, Iterable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class _LoopThread:
    """One daemon event loop that runs the sync API's coroutines (also inside Jupyter).

    It is shut down at interpreter exit: pending tasks are cancelled, LiteLLM's async HTTP
    clients closed, the thread stopped and the loop closed, so no process hangs on a
    half-dead loop or leaves it unclosed.
    """

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    @classmethod
    def run(cls, coro: Coroutine[Any, Any, T]) -> T:
        with cls._lock:
            if cls._loop is None:
                cls._loop = asyncio.new_event_loop()
                cls._thread = threading.Thread(target=cls._loop.run_forever, daemon=True,
                                               name="llm-rerank-loop")
                cls._thread.start()
                atexit.register(cls.shutdown)
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, cls._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    @classmethod
    def shutdown(cls, timeout: float = 5.0) -> None:
        """Cancel what still runs on the loop, close LiteLLM's clients, stop the thread and
        close the loop."""
        with cls._lock:
            loop, thread, cls._loop, cls._thread = cls._loop, cls._thread, None, None
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_cancel_and_close(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout)
        if thread is None or not thread.is_alive():
            loop.close()  # its selector's sockets with it


async def _cancel_and_close() -> None:
    """Cancel the tasks that no transport owns (LiteLLM's logging worker finishes on its
    own at exit), then close the transports' HTTP clients and the loop's async generators."""
    from . import transports

    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks()
             if task is not current and not transports.owns_task(task)]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await transports.close_all()
    with contextlib.suppress(Exception):  # closes transport="direct"'s sessions, among others
        await asyncio.get_running_loop().shutdown_asyncgens()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, whether or not a loop is running here."""
    return _LoopThread.run(coro)


async def gather_in_order(tasks: Iterable[Awaitable[T]]) -> list[T]:
    """``asyncio.gather`` that cancels the siblings when one task fails."""
    pending = [asyncio.ensure_future(t) for t in tasks]
    try:
        return list(await asyncio.gather(*pending))
    except BaseException:
        for task in pending:
            task.cancel()
        raise
