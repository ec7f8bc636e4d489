"""Setwise reranking (Zhuang et al. 2024): heap sort where one prompt compares a node with
all its children and the LLM names the most relevant passage.

The documents form a heap with ``num_children`` (c) children per node. Building it costs
one call per internal node (about N/c) plus the deeper sift-downs, at most about N/(c-1)
calls; each of the ``k`` extractions sifts the new root down, one call per level, at most
ceil(log_c N). In all at most about ``N/(c-1) + k * ceil(log_c N)`` calls (N=20, c=3, k=10:
31), each showing up to c + 1 passages, all sequential. The top ``k`` come first, best
first; the other documents follow in input order.

Score: none (the order is the output); ``score`` is ``None``.

>>> import asyncio
>>> async def prefer_larger(candidates):  # position of the largest number
...     return candidates.index(max(candidates))
>>> asyncio.run(heap_top_k(6, 3, 2, prefer_larger))
[5, 4, 3, 0, 1, 2]
"""

from __future__ import annotations

import re
import string
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..errors import InvalidInput
from ..llm import Completion
from ..parsing import strip_reasoning
from ..reranker import LLMReranker, RankingContext, Scored

PickBest = Callable[[list[int]], Awaitable[int]]
LETTERS = string.ascii_uppercase
_NAMED = re.compile(r"passage\s*[\"'(\[*]*\s*([a-z])(?![a-z])", re.IGNORECASE)
_BARE_LETTER = re.compile(r"(?<![A-Za-z])([A-Z])(?![A-Za-z])")


def parse_passage_choice(text: str, labels: Sequence[str]) -> int | None:
    """Position in ``labels`` of the passage an answer names, or ``None``.

    Reads "Passage C", "passage c", "(C)", "C." and chatter around them; the first
    "Passage X" with a known label wins, else a lone capital letter when only one appears.

    >>> parse_passage_choice("I think **Passage b** is best.", "ABC")
    1
    >>> parse_passage_choice("<think>Passage A?</think> The answer is C.", "ABC")
    2
    >>> parse_passage_choice("A or C", "ABC") is None
    True
    """
    answer = strip_reasoning(text)
    for match in _NAMED.finditer(answer):
        letter = match.group(1).upper()
        if letter in labels:
            return labels.index(letter)
    bare = re.sub(r"[\W_]+", "", answer).upper()
    if len(bare) == 1 and bare in labels:
        return labels.index(bare)
    named = {letter for letter in _BARE_LETTER.findall(answer) if letter in labels}
    return labels.index(named.pop()) if len(named) == 1 else None


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


class SetwiseReranker(LLMReranker):
    """Setwise heap sort: each call shows a parent and up to ``num_children`` children
    (labelled A, B, C, ...) and asks which passage is the most relevant.

    An unusable answer (a parse failure, or a failed call under ``on_error="keep_order"``)
    picks the candidate that came first in the input, the parent in the heap's first build;
    so a judge that only fails leaves the input order intact.

    >>> rr = SetwiseReranker("openai/gpt-4o-mini", num_children=3, k=10, cache=False)
    >>> rr.num_children, rr.k
    (3, 10)
    """

    name = "setwise"
    default_template = "setwise/heapsort"

    def __init__(self, model: str, *, num_children: int = 3, k: int = 10, **options: Any) -> None:
        super().__init__(model, **options)
        if isinstance(num_children, bool) or not isinstance(num_children, int) or not (
            2 <= num_children < len(LETTERS)
        ):
            raise InvalidInput(
                f"num_children must be an int between 2 and {len(LETTERS) - 1}, "
                f"got {num_children!r}"
            )
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidInput(f"k must be a positive int, got {k!r}")
        self.num_children, self.k = num_children, k

    async def _order(self, ctx: RankingContext) -> list[Scored]:
        async def pick_best(candidates: list[int]) -> int:
            return await self._pick_best(ctx, candidates)

        order = await heap_top_k(len(ctx.documents), self.k, self.num_children, pick_best)
        return [Scored(index) for index in order]

    async def _pick_best(self, ctx: RankingContext, candidates: list[int]) -> int:
        """Position of the most relevant candidate; without a usable answer, of the one that
        came first in the input."""
        labels = LETTERS[: len(candidates)]

        def variables(max_words: int | None) -> dict[str, Any]:
            passages = [
                {"id": label, "text": self.passage(ctx, index, max_words)}
                for label, index in zip(labels, candidates, strict=True)
            ]
            return {"query": ctx.query, "passages": passages}

        def parse(completion: Completion) -> int | None:
            return parse_passage_choice(completion.text, labels)

        choice = await self.ask(ctx, variables, parse)
        return candidates.index(min(candidates)) if choice is None else choice
