"""Batches: many queries ranked concurrently, in one process or spread over several.

``arank_batch`` checks the items, runs at most ``max_concurrent_queries`` queries at a time
and returns results in input order. A failing query cancels the others (no call starts
after the failure) unless ``return_exceptions=True``, which keeps each query's exception in
its place. ``progress`` shows a tqdm bar over finished queries on stderr (``None``: only when
stderr is a terminal).

Workers: each LLM call costs the client a few milliseconds of CPU (mostly inside LiteLLM),
so one process on one core cannot keep hundreds of fast calls in flight.
``arank_batch(..., workers=N)`` forks N processes after the transport loaded what it needs
(LiteLLM's import: the children skip it; its objects, frozen at import, are never written by
the children's garbage collectors, so their pages stay shared), gives worker ``w`` the
queries at positions ``w, w + N, w + 2N, ...``, and each runs ``arank_batch`` on its share
with its own event loop. Every finished query is sent back at once, so ``on_result``, the
progress bar and the returned list (in input order) behave as with one process. The workers
share the disk cache (diskcache is process-safe).

Limits are split, never multiplied: ``max_concurrency`` and ``max_concurrent_queries`` are
divided among the workers (each gets at least 1), and so is what a batch ``budget`` has
left of each limit; the parent's budget then counts what every worker spent. A worker whose
share of the budget runs out stops, even when another worker has some left.

Errors are those of one process: a failing query raises its exception in the parent and
the other workers are stopped at once; with ``return_exceptions=True`` each failed query's
exception takes its place in the list (the provider's error that an ``LLMCallError`` wraps,
its ``__cause__``, stays in the worker). Needs the ``fork`` start method (Linux, macOS).

>>> split(10, 3), split(2, 4)
([4, 3, 3], [1, 1, 1, 1])
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import pickle
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from . import transports
from .aio import gather_in_order
from .budget import Budget
from .errors import InvalidInput, RerankError

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from .models import RankedResults
    from .reranker import BatchItem, DocumentInput, Reranker

# query, documents, instructions, criteria
Item = tuple[str, "Sequence[DocumentInput]", "str | None", Any]
OnResult = Callable[[int, "RankedResults"], None]


async def arank_batch(
    reranker: Reranker, batch: Iterable[BatchItem], top_n: int | None,
    max_concurrent_queries: int, on_result: OnResult | None, *, return_exceptions: bool,
    budget: Budget | None, workers: int, progress: bool | None,
) -> list[RankedResults | Exception]:
    """``Reranker.arank_batch`` (see the module docstring)."""
    if isinstance(max_concurrent_queries, bool) or not isinstance(
            max_concurrent_queries, int) or max_concurrent_queries < 1:
        raise InvalidInput(
            f"max_concurrent_queries must be an int >= 1, got {max_concurrent_queries!r}")
    items = [_batch_item(position, item) for position, item in enumerate(batch)]
    with _progress_bar(progress, len(items), reranker.name) as finished:
        if check_workers(workers) > 1 and len(items) > 1:
            return await arank_batch_in_workers(
                reranker, items, top_n, max_concurrent_queries, on_result,
                return_exceptions=return_exceptions, budget=budget, workers=workers,
                finished=finished)
        gate = asyncio.Semaphore(max_concurrent_queries)

        async def one(position: int, item: Item) -> RankedResults | Exception:
            query, docs, instructions, criteria = item
            async with gate:
                try:
                    results = await reranker.arank(query, docs, top_n, instructions=instructions,
                                                   budget=budget, criteria=criteria)
                except Exception as exc:
                    if not return_exceptions:
                        raise
                    finished()
                    return exc
            finished()
            if on_result is not None:
                on_result(position, results)
            return results

        return await gather_in_order(one(i, item) for i, item in enumerate(items))


def _batch_item(position: int, item: object) -> Item:
    if not isinstance(item, tuple) or len(item) not in (2, 3, 4):
        raise InvalidInput(f"batch item {position} must be a (query, documents), "
                           "(query, documents, instructions) or (query, documents, "
                           "instructions, criteria) tuple")
    return (item[0], item[1], item[2] if len(item) >= 3 else None,
            item[3] if len(item) == 4 else None)


@contextlib.contextmanager
def _progress_bar(progress: bool | None, total: int, name: str) -> Iterator[Callable[[], None]]:
    """A callable that counts one finished query on a tqdm bar on stderr (a no-op when the
    bar is off; ``progress=None``: on only when stderr is a terminal)."""
    show = sys.stderr.isatty() if progress is None else progress
    if not show or total == 0:
        yield lambda: None
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=name, unit="query", file=sys.stderr, dynamic_ncols=True) as bar:

        def finished() -> None:
            bar.update(1)

        yield finished


def split(total: int, parts: int) -> list[int]:
    """``total`` divided into ``parts`` near-equal shares, each at least 1."""
    return [max(1, total // parts + (1 if w < total % parts else 0)) for w in range(parts)]


def check_workers(workers: object) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidInput(f"workers must be an int >= 1, got {workers!r}")
    if workers > 1 and "fork" not in multiprocessing.get_all_start_methods():
        raise InvalidInput("workers > 1 needs the fork start method (Linux, macOS)")
    return workers


def _share(budget: Budget | None, worker: int, workers: int) -> Budget | None:
    """This worker's part of what ``budget`` has left (``None``: no batch budget)."""
    if budget is None:
        return None
    if budget.store is not None:  # issue 17: a shared ledger needs no splitting
        return Budget(max_calls=budget.max_calls, max_tokens=budget.max_tokens,
                      max_cost_usd=budget.max_cost_usd, store=budget.store, name=budget.name)

    def part(limit: float | None, spent: float, integer: bool) -> Any:
        if limit is None:
            return None
        left = max(0.0, limit - spent)
        if integer:
            return int(left) // workers + (1 if worker < int(left) % workers else 0)
        return left / workers

    return Budget(max_calls=part(budget.max_calls, budget.calls, True),
                  max_tokens=part(budget.max_tokens, budget.tokens, True),
                  max_cost_usd=part(budget.max_cost_usd, budget.cost_usd, False))


def _sendable(exc: BaseException) -> BaseException:
    """``exc`` when it survives pickling, else a ``RerankError`` that says what it was."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RerankError(f"{type(exc).__name__}: {exc}")
    return exc


def _work(reranker: Reranker, items: list[Item], positions: list[int], top_n: int | None,
          max_concurrent_queries: int, concurrency: int, return_exceptions: bool,
          budget: Budget | None, conn: Connection) -> None:
    """A worker's life: rank its share, sending ``(position, results-or-exception)`` as each
    query ends, then ``("done", spent)``; a failure that ends the batch sends ``("raise",
    exception)``."""
    transports.after_fork()  # drop what the parent's event loop owned
    llm = getattr(reranker, "llm", None)
    if llm is not None:
        llm.max_concurrency = concurrency

    def on_result(index: int, results: RankedResults) -> None:
        conn.send((positions[index], results))

    async def main() -> None:
        out = await reranker.arank_batch(  # type: ignore[call-overload]
            items, top_n, max_concurrent_queries, on_result,
            return_exceptions=return_exceptions, budget=budget, progress=False)
        for index, outcome in enumerate(out):
            if isinstance(outcome, BaseException):  # only with return_exceptions
                conn.send((positions[index], _sendable(outcome)))

    try:
        asyncio.run(main())
    except BaseException as exc:
        conn.send(("raise", _sendable(exc)))
    else:
        spent = (budget.calls, budget.tokens, budget.cost_usd, budget.exhausted) if budget \
            else None
        conn.send(("done", spent))
    conn.close()


async def arank_batch_in_workers(
    reranker: Reranker, items: list[Item], top_n: int | None, max_concurrent_queries: int,
    on_result: OnResult | None, *, return_exceptions: bool, budget: Budget | None,
    workers: int, finished: Callable[[], None],
) -> list[RankedResults | Exception]:
    """``arank_batch`` over ``workers`` forked processes (see the module docstring)."""
    workers = min(workers, len(items))
    concurrency = split(getattr(getattr(reranker, "llm", None), "max_concurrency", 1) or 1,
                        workers)
    gates = split(max_concurrent_queries, workers)
    context = multiprocessing.get_context("fork")
    loop = asyncio.get_running_loop()
    results: list[Any] = [None] * len(items)
    processes: list[BaseProcess] = []
    receivers: list[Connection] = []
    # one thread per worker blocks reading its pipe; one more starts and joins processes
    with ThreadPoolExecutor(max_workers=workers + 1,
                            thread_name_prefix="llm-rerank-workers") as pool:
        try:
            llm = getattr(reranker, "llm", None)
            if llm is not None:  # load once, before forking
                await loop.run_in_executor(pool, transports.prepare_fork, llm.transport)
            for w in range(workers):
                positions = list(range(w, len(items), workers))
                receive, send = context.Pipe(duplex=False)
                receivers.append(receive)
                process = context.Process(
                    target=_work, daemon=True, name=f"llm-rerank-worker-{w}",
                    args=(reranker, [items[p] for p in positions], positions, top_n, gates[w],
                          concurrency[w], return_exceptions, _share(budget, w, workers), send))
                # forked from a thread that runs no event loop, so the child can run its own
                await loop.run_in_executor(pool, process.start)
                send.close()
                processes.append(process)
            await gather_in_order(_read(receive, pool, results, on_result, budget, finished)
                                  for receive in receivers)
        finally:
            for child in processes:
                if child.is_alive():
                    child.kill()  # a failed or cancelled batch: no call starts after it
            for child in processes:
                await loop.run_in_executor(pool, child.join)
    for receive in receivers:  # closed once no thread reads them any more
        receive.close()
    return results


async def _read(conn: Connection, pool: ThreadPoolExecutor, results: list[Any],
                on_result: OnResult | None, budget: Budget | None,
                finished: Callable[[], None]) -> None:
    """Take one worker's messages until it is done: results in place (each counted by
    ``finished``), its spending added to ``budget``; a worker's failure is raised here."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            position, value = await loop.run_in_executor(pool, conn.recv)
        except EOFError:
            raise RerankError("a worker process died before finishing its queries "
                              "(killed, or out of memory?)") from None
        if position == "raise":
            raise value
        if position == "done":
            if budget is not None and value is not None:
                calls, tokens, cost, exhausted = value
                budget.calls, budget.tokens = budget.calls + calls, budget.tokens + tokens
                budget.cost_usd += cost
                budget.exhausted = budget.exhausted or exhausted
            return
        results[position] = value
        finished()
        if on_result is not None and not isinstance(value, BaseException):
            on_result(position, value)
