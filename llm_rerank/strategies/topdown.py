"""Top-down partitioning for listwise ranking (Parry et al. 2024), in at most 3 rounds.

Round 1 ranks the first window of ``w`` candidates; the one it puts at position ``k`` is
the *pivot*. Round 2 shows every other candidate beside the pivot, in windows of ``w - 1``
candidates with the pivot first, all ranked concurrently: the candidates a window puts above
the pivot join the 1..k-1 of round 1, the rest fall below it. Round 3 ranks those above the
pivot together with the pivot in one window. With a consistent judge the top ``k`` are then
exact, and so is the order of everything the final window holds.

More than ``w - 1`` candidates above the pivot would need another partition (two more
rounds); instead the final window keeps the best ones by their position in their own window
(each window's first, then each window's second, ...; round 1's window first among equals),
and the others follow it in that order, then the pivot. Below the pivot: round 1's in its
order, then each window's in window order. A window without a usable answer keeps its
order, where the pivot comes first, so a judge that never answers leaves the input order.

Calls for N > w candidates: ``1 + ceil((N - w) / (w - 1)) + 1`` (100 with w=20: 7), in 3
sequential rounds, against RankGPT's sliding window's 9 sequential calls. ``k`` above
``w - 1`` is taken as ``w - 1``.

>>> import asyncio
>>> async def by_value(window):  # a judge that knows: the largest number first
...     return sorted(window, reverse=True)
>>> first_stage = [*range(20, 30), *range(20), 99]  # 99: a gem the first stage missed
>>> result = asyncio.run(top_down(first_stage, 10, 3, by_value))
>>> result.order[:5], result.rounds
([99, 29, 28, 27, 26], 3)
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..reranker import gather_in_order

RankWindow = Callable[[list[int]], Awaitable[list[int]]]
MAX_ROUNDS = 3


@dataclass
class TopDown:
    """The ranking (every candidate once, best first) and the sequential rounds it took."""

    order: list[int]
    rounds: int


async def top_down(candidates: list[int], window_size: int, k: int,
                   rank_window: RankWindow) -> TopDown:
    """Rank ``candidates`` (given in first-stage order) so that the top ``k`` are settled.

    ``rank_window(window)`` returns the window's candidates best first (its own order when
    it has no answer).
    """
    if len(candidates) <= 1:
        return TopDown(list(candidates), 0)
    if len(candidates) <= window_size:
        return TopDown(await rank_window(candidates), 1)
    first = await rank_window(candidates[:window_size])
    pivot_at = min(k, window_size - 1) - 1
    pivot = first[pivot_at]
    rest = candidates[window_size:]
    count = math.ceil(len(rest) / (window_size - 1))
    chunks = [rest[len(rest) * i // count: len(rest) * (i + 1) // count] for i in range(count)]
    ranked = await gather_in_order(rank_window([pivot, *chunk]) for chunk in chunks)
    above: list[tuple[int, int, int]] = [(p, 0, c) for p, c in enumerate(first[:pivot_at])]
    below = first[pivot_at + 1:]
    for number, window in enumerate(ranked, start=1):
        split = window.index(pivot)
        above += [(position, number, c) for position, c in enumerate(window[:split])]
        below += window[split + 1:]
    kept = [candidate for _, _, candidate in sorted(above)]
    final, overflow = kept[:window_size - 1], kept[window_size - 1:]
    if overflow:  # the pivot is not needed: window_size candidates already beat it
        final, overflow = kept[:window_size], kept[window_size:]
        top = await rank_window(final)
        return TopDown([*top, *overflow, pivot, *below], MAX_ROUNDS)
    if not final:
        return TopDown([pivot, *below], 2)
    return TopDown([*await rank_window([*final, pivot]), *below], MAX_ROUNDS)
