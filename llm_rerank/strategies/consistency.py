"""Permutation self-consistency (Tang et al. 2024): show one prompt's candidates in ``m``
orders, ask each concurrently, and aggregate the ``m`` answers into one ranking.

Order 0 is the candidates' own order, so ``m=1`` is the plain strategy and shares its cache
entries; orders 1..m-1 are shuffles from ``random.Random`` seeded by the ``seed`` option and
the candidates, so a rerun draws the same ones. Each order is asked as its own ``sample``:
a distinct cache entry even when two shuffles coincide. A position-biased judge favours
different candidates in different orders, and the aggregate cancels much of that.

Aggregation: a Borda count (a ranking of n candidates gives n-1, n-2, ... points; those a
partial answer leaves out share the points left; a sample without a usable answer is left
out), ties in the candidates' order, then a Kemeny-style local search: adjacent candidates
swap while more samples put the lower one above the upper one, each swap strictly lowering
the pairwise disagreements with the samples. Cost: ``m`` concurrent calls per prompt; the
number of sequential rounds does not change.

>>> aggregate([[2, 0, 1], [2, 1, 0], [0, 2, 1]], 3)
[2, 0, 1]
>>> permutations(["a", "b", "c"], 2, seed=0)[0]
['a', 'b', 'c']
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def permutations(candidates: Sequence[T], m: int, seed: int) -> list[list[T]]:
    """``m`` orders of ``candidates``: their own order first, then seeded shuffles."""
    rng = random.Random(f"{seed}:{list(candidates)!r}")
    orders = [list(candidates)]
    for _ in range(m - 1):
        shuffled = list(candidates)
        rng.shuffle(shuffled)
        orders.append(shuffled)
    return orders


def borda(rankings: Sequence[Sequence[int]], size: int) -> list[float]:
    """Borda points of candidates ``0..size-1`` over (possibly partial) rankings, best first.

    >>> borda([[1, 0, 2], [1]], 3)
    [1.5, 4.0, 0.5]
    """
    points = [0.0] * size
    for ranking in rankings:
        for position, candidate in enumerate(ranking):
            points[candidate] += size - 1 - position
        named = set(ranking)
        share = (size - len(ranking) - 1) / 2  # the mean of the points left: 0..size-len-1
        for candidate in range(size):
            if candidate not in named:
                points[candidate] += share
    return points


def preferences(rankings: Sequence[Sequence[int]], size: int) -> list[list[int]]:
    """``wins[a][b]``: how many rankings put ``a`` above ``b`` (a named candidate is above
    every one its ranking leaves out; two left out are not compared)."""
    wins = [[0] * size for _ in range(size)]
    for ranking in rankings:
        named = set(ranking)
        for position, a in enumerate(ranking):
            for b in ranking[position + 1:]:
                wins[a][b] += 1
            for b in range(size):
                if b not in named:
                    wins[a][b] += 1
    return wins


def kemeny_refine(order: Sequence[int], wins: Sequence[Sequence[int]]) -> list[int]:
    """Swap adjacent candidates while more rankings prefer the lower one (a local optimum
    of the Kemeny objective under adjacent swaps)."""
    result = list(order)
    swapped = True
    while swapped:
        swapped = False
        for i in range(len(result) - 1):
            upper, lower = result[i], result[i + 1]
            if wins[lower][upper] > wins[upper][lower]:
                result[i], result[i + 1] = lower, upper
                swapped = True
    return result


def aggregate(rankings: Sequence[Sequence[int]], size: int) -> list[int]:
    """One ranking of ``0..size-1`` from several partial ones: Borda, then Kemeny swaps;
    with no ranking at all, the candidates' own order. One partial ranking comes back
    first, followed by the candidates it left out in their own order.

    >>> aggregate([[2]], 4)
    [2, 0, 1, 3]
    """
    points = borda(rankings, size)
    order = sorted(range(size), key=lambda candidate: (-points[candidate], candidate))
    return kemeny_refine(order, preferences(rankings, size))
