"""Top-down partitioning for listwise ranking (Parry et al. 2024), in at most 3 rounds.

Round 1 ranks the first window of ``w`` candidates; the one it puts at position ``k`` is
the *pivot*. Round 2 shows every other candidate beside the pivot, in windows of ``w - 1``
candidates with the pivot first, all ranked concurrently: a window's candidates fall above
or below the pivot. Round 3 ranks one final window of ``w``: the candidates above the pivot,
the pivot, then (while there is room) the best below it. With a consistent judge the top
``k`` are then exact (all of them beat the pivot or are it), and so is the order of
everything the final window holds.

More than ``w - 1`` candidates above the pivot would need another partition (two more
rounds); instead the final window takes them in order of their position in their own
window (each window's first, then each window's second, ...; round 1's window first among
equals), and the others follow it in that order. Below the pivot the order is by distance
to the pivot in the window, the same way. The final window shows its candidates in
first-stage order, as the sliding window's last one does, so a judge's position bias
favours the first stage's best rather than the candidates the partition picked. A window
without a usable answer keeps its order (round 1's) or goes last in input order (round
2's), so a judge that never answers leaves the input order.

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

RankWindow = Callable[[list[int]], Awaitable[list[int] | None]]
ROUNDS = 3


@dataclass
class TopDown:
    """The ranking (every candidate once, best first) and the sequential rounds it took."""

    order: list[int]
    rounds: int


async def top_down(candidates: list[int], window_size: int, k: int,
                   rank_window: RankWindow) -> TopDown:
    """Rank ``candidates`` (given in first-stage order) so that the top ``k`` are settled.

    ``rank_window(window)`` returns the window's candidates best first, or ``None`` when it
    has no usable answer.
    """
    if len(candidates) <= 1:
        return TopDown(list(candidates), 0)
    if len(candidates) <= window_size:
        return TopDown(await rank_window(candidates) or candidates, 1)
    first = await rank_window(candidates[:window_size]) or candidates[:window_size]
    pivot = first[min(k, window_size - 1) - 1]
    rest = candidates[window_size:]
    count = math.ceil(len(rest) / (window_size - 1))
    chunks = [rest[len(rest) * i // count: len(rest) * (i + 1) // count] for i in range(count)]
    ranked = await gather_in_order(rank_window([pivot, *chunk]) for chunk in chunks)
    above: list[tuple[int, int, int]] = []  # (position, window number, candidate)
    below: list[tuple[int, int, int]] = []  # (distance below the pivot, window, candidate)
    unranked: list[int] = []
    for number, window in enumerate([first, *ranked]):
        if window is None:
            unranked += chunks[number - 1]
            continue
        split = window.index(pivot)
        above += [(position, number, c) for position, c in enumerate(window[:split])]
        below += [(distance, number, c)
                  for distance, c in enumerate(window[split + 1:], start=1)]
    priority = [*(c for _, _, c in sorted(above)), pivot, *(c for _, _, c in sorted(below)),
                *unranked]
    position = {candidate: p for p, candidate in enumerate(candidates)}
    final = sorted(priority[:window_size], key=position.__getitem__)
    return TopDown([*(await rank_window(final) or final), *priority[window_size:]], ROUNDS)
