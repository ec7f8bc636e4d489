"""Top-down partitioning for listwise ranking (Parry et al. 2024), in at most 3 rounds.

Round 1 ranks the first window of ``w`` candidates; the one it puts at position ``k`` is
the *pivot*. Round 2 shows every other candidate beside the pivot, in chunks of ``w - 1``,
and each chunk twice, all windows ranked concurrently: once with the pivot first and the
chunk in first-stage order, once with the chunk reversed and the pivot last. Round 3 ranks
one final window of ``w`` candidates, twice concurrently: in first-stage order and
reversed; the two answers are aggregated (Borda count, then Kemeny-style swaps:
``consistency.aggregate``).

The two looks in opposite orders are what make it hold up under a position-biased judge:
a judge that favours the first passages (the primacy bias of LLMs) gives each candidate,
and the pivot, about the same total bonus over the two (exactly the same when the bonus
fades linearly with position), so the bias no longer decides who makes the final window
and in which order it comes out; and two independent looks average out part of a noisy
judge's errors, where it matters most: who beats the pivot, and the final order.

Between rounds 2 and 3 each candidate has its looks: round 1's window (one look) or its
two windows of round 2. A candidate is *above* the pivot when it is above it in every look
it got. The final window takes the candidates above the pivot, then the pivot, then the
others; within each group by mean position in their looks (ties: first-stage order, so
round 1's window first). More than ``w`` above the pivot would need another partition (two
more rounds); instead the final window takes the ``w`` with the best mean position, and the
others follow it in that order. With a consistent judge the top ``k`` are then exact (all
of them beat the pivot or are it), and so is the order of everything the final window
holds. Windows without a usable answer: round 1's keeps its order; a round-2 candidate
with no usable look goes last, in input order; the final window's order comes from the
looks that answered, else it stays in first-stage order. So a judge that never answers
leaves the input order.

More looks where they pay: ``first_looks`` shows round 1's window in that many orders and
``final_looks`` the final window (default 1 and 2), each set of orders asked at once and
combined like the final window's two (``opposite_orders``: each order beside its reverse). A
better consensus on round 1's window picks a better pivot; the final window decides the top
``k``, so extra looks there average out most of a noisy judge's errors where they count.

Calls for N > w candidates: ``first_looks + 2 * ceil((N - w) / (w - 1)) + final_looks``
(100 with w=20: 13 at the defaults, 18 with 2 and 6), in 3 sequential rounds, against
RankGPT's sliding window's 9 sequential calls. Lists of at most ``w`` take ``first_looks``
calls in one round. ``k`` above ``w - 1`` is taken as ``w - 1``.

>>> import asyncio
>>> async def by_value(window):  # a judge that knows: the largest number first
...     return sorted(window, reverse=True)
>>> first_stage = [*range(20, 30), *range(20), 99]  # 99: a gem the first stage missed
>>> result = asyncio.run(top_down(first_stage, 10, 3, by_value))
>>> result.order[:5], result.rounds
([99, 29, 28, 27, 26], 3)
>>> async def primacy(window):  # favours the first passages: +3 for the first, fading to 0
...     bonus = {c: 3 * (len(window) - 1 - i) / (len(window) - 1) for i, c in enumerate(window)}
...     return sorted(window, key=lambda c: -(c + bonus[c]))
>>> late = [*range(5, 15), *range(5), 15, 16, 17]  # the best three come last
>>> asyncio.run(top_down(late, 10, 3, primacy)).order[:4]  # one final look: 17, 16, 14, 15
[17, 16, 15, 14]
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from statistics import fmean

from ..aio import gather_in_order
from .consistency import aggregate

RankWindow = Callable[[list[int]], Awaitable[list[int] | None]]
ROUNDS = 3


@dataclass
class TopDown:
    """The ranking (every candidate once, best first) and the sequential rounds it took."""

    order: list[int]
    rounds: int


async def top_down(candidates: list[int], window_size: int, k: int,
                   rank_window: RankWindow, *, first_looks: int = 1,
                   final_looks: int = 2) -> TopDown:
    """Rank ``candidates`` (given in first-stage order) so that the top ``k`` are settled.

    ``rank_window(window)`` returns the window's candidates best first, or ``None`` when it
    has no usable answer. The first window (a list of at most ``window_size``: the only one)
    is shown in ``first_looks`` orders and the final window in ``final_looks``, concurrently
    (``opposite_orders``), their answers combined.
    """
    async def consensus(window: list[int], count: int) -> list[int]:
        shown = opposite_orders(window, count)
        return combine(window, await gather_in_order(rank_window(w) for w in shown))

    if len(candidates) <= 1:
        return TopDown(list(candidates), 0)
    if len(candidates) <= window_size:
        return TopDown(await consensus(candidates, first_looks), 1)
    first = await consensus(candidates[:window_size], first_looks)
    pivot = first[min(k, window_size - 1) - 1]
    rest = candidates[window_size:]
    count = math.ceil(len(rest) / (window_size - 1))
    chunks = [rest[len(rest) * i // count: len(rest) * (i + 1) // count] for i in range(count)]
    shown = [look for chunk in chunks for look in ([pivot, *chunk], [*chunk[::-1], pivot])]
    looks: dict[int, list[tuple[bool, int]]] = {}  # candidate: (above the pivot, position)
    for window in [first, *await gather_in_order(rank_window(w) for w in shown)]:
        if window is not None:
            split = window.index(pivot)
            for p, candidate in enumerate(window):
                if candidate != pivot:
                    looks.setdefault(candidate, []).append((p < split, p))
    position = {candidate: p for p, candidate in enumerate(candidates)}

    def best_first(group: list[int]) -> list[int]:
        return sorted(group, key=lambda c: (fmean(p for _, p in looks[c]), position[c]))

    seen = [c for c in candidates if c in looks]
    above = best_first([c for c in seen if all(is_above for is_above, _ in looks[c])])
    others = best_first([c for c in seen if not all(is_above for is_above, _ in looks[c])])
    unranked = [c for c in rest if c not in looks]
    priority = [*above, pivot, *others, *unranked]
    final = sorted(priority[:window_size], key=position.__getitem__)
    return TopDown([*await consensus(final, final_looks), *priority[window_size:]], ROUNDS)


def opposite_orders(window: list[int], count: int) -> list[list[int]]:
    """``count`` orders of ``window`` in pairs, each order followed by its reverse: pair
    ``j`` of ``p`` starts ``j * len(window) // (2 * p)`` places into the window (a rotation).

    A judge whose bonus for a position fades linearly gives every candidate the same total
    bonus over a pair, and the rotations move each candidate to other neighbours and places.

    >>> opposite_orders([1, 2, 3, 4], 1)
    [[1, 2, 3, 4]]
    >>> opposite_orders([1, 2, 3, 4], 4)
    [[1, 2, 3, 4], [4, 3, 2, 1], [2, 3, 4, 1], [1, 4, 3, 2]]
    """
    pairs = math.ceil(count / 2)
    orders = []
    for j in range(pairs):
        shift = j * len(window) // (2 * pairs)
        rotated = [*window[shift:], *window[:shift]]
        orders += [rotated, rotated[::-1]]
    return orders[:count]


def combine(window: list[int], answers: list[list[int] | None]) -> list[int]:
    """The answers' consensus on ``window`` (Borda, then Kemeny swaps; ties in the window's
    order), or the window as it is when none is usable.

    >>> combine([1, 2, 3], [[3, 1, 2], None, [3, 2, 1]])
    [3, 1, 2]
    >>> combine([1, 2, 3], [None, None])
    [1, 2, 3]
    """
    index = {candidate: i for i, candidate in enumerate(window)}
    rankings = [[index[c] for c in answer] for answer in answers if answer is not None]
    return [window[i] for i in aggregate(rankings, len(window))] if rankings else window
