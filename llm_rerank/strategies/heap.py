"""Heap sort with an LLM comparator, shared by the setwise and pairwise strategies.

>>> import asyncio
>>> async def prefer_larger(candidates):  # position of the largest number
...     return candidates.index(max(candidates))
>>> asyncio.run(heap_top_k(6, 3, 2, prefer_larger))
[5, 4, 3, 0, 1, 2]
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

PickBest = Callable[[list[int]], Awaitable[int]]


async def heap_top_k(size: int, k: int, arity: int, pick_best: PickBest) -> list[int]:
    """Indices ``0..size-1`` with the best ``k`` first (best first), the rest in input order.

    A heap sort over an ``arity``-ary max-heap. ``pick_best(candidates)`` receives a parent
    followed by its children and returns the position of the best one; 0 keeps the parent.
    """
    heap = list(range(size))

    async def sift_down(node: int, heap_size: int) -> None:
        while True:
            children = list(range(arity * node + 1, min(arity * node + arity + 1, heap_size)))
            if not children:
                return
            choice = await pick_best([heap[node]] + [heap[child] for child in children])
            if not 1 <= choice <= len(children):
                return
            child = children[choice - 1]
            heap[node], heap[child] = heap[child], heap[node]
            node = child

    for node in reversed(range((size - 2) // arity + 1)):
        await sift_down(node, size)
    top = []
    for end in range(size - 1, size - 1 - min(k, size), -1):
        heap[0], heap[end] = heap[end], heap[0]
        top.append(heap[end])
        await sift_down(0, end)
    chosen = set(top)
    return top + [index for index in range(size) if index not in chosen]
