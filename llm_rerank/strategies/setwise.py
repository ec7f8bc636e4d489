"""Setwise reranking (Zhuang et al. 2024): heap sort where one prompt compares a node with
all its children and the LLM names the most relevant passage.

The documents form a heap with ``num_children`` (c) children per node. Building it costs
one call per internal node (about N/c) plus the deeper sift-downs, at most about N/(c-1)
calls; each of the ``k`` extractions sifts the new root down, one call per level, at most
ceil(log_c N). In all at most about ``N/(c-1) + k * ceil(log_c N)`` calls (N=20, c=3, k=10:
31), each showing up to c + 1 passages, all sequential. The top ``k`` come first, best
first; the other documents follow in input order.

``k`` defaults to the caller's ``top_n`` (10 without one). ``num_permutations=m`` shows
each comparison's passages in m orders (``consistency.py``), concurrently, and takes the
passage chosen most often (Borda over one-choice answers), ties to the earlier order: m
times the calls, the same sequential depth. Score: none of its own (the order is the
output), so the rank-derived score of the contract.
"""

from __future__ import annotations

import string
from typing import Any

from pydantic import Field

from ..aio import gather_in_order
from ..llm import Completion
from ..llm_reranker import LLMReranker
from ..options import PermutationOptions
from ..parsing import parse_passage_choice
from ..reranker import RankingContext, Scored
from .common import CHOICE_ANSWER_TOKENS, top_k
from .consistency import permutations
from .heap import heap_top_k

LETTERS = string.ascii_uppercase


class SetwiseOptions(PermutationOptions):
    """Options of ``SetwiseReranker``."""

    num_children: int = Field(3, ge=2, le=len(LETTERS) - 1,
                              description="children per heap node (a call shows c + 1)")
    k: int | None = Field(None, ge=1, description="documents to sort to the top "
                                                  "(default: top_n, else 10)")


class SetwiseReranker(LLMReranker):
    """Setwise heap sort: each call shows a parent and up to ``num_children`` children
    (labelled A, B, C, ...) and asks which passage is the most relevant.

    An unusable answer (a parse failure, or a failed call under ``on_error="keep_order"``)
    picks the candidate that came first in the input, the parent in the heap's first build;
    so a judge that only fails leaves the input order intact.

    >>> rr = SetwiseReranker("openai/gpt-4o-mini", num_children=3, k=10, cache=False)
    >>> rr.options.num_children, rr.options.k
    (3, 10)
    """

    name = "setwise"
    default_template = "setwise/heapsort"
    Options = SetwiseOptions
    options: SetwiseOptions

    async def _order(self, ctx: RankingContext) -> list[Scored]:
        async def pick_best(candidates: list[int]) -> int:
            return await self._pick_best(ctx, candidates)

        order = await heap_top_k(len(ctx.documents), top_k(self.options.k, ctx),
                                 self.options.num_children, pick_best)
        return [Scored(index) for index in order]

    async def _pick_best(self, ctx: RankingContext, candidates: list[int]) -> int:
        """Position of the most relevant candidate: the one most of the ``num_permutations``
        orders chose (ties to the earlier order; order 0 is the plain one); without a usable
        answer, the one that came first in the input."""
        o = self.options
        orders = permutations(candidates, o.num_permutations, o.seed)
        choices = await gather_in_order(
            self._choose(ctx, shown, sample) for sample, shown in enumerate(orders))
        picks = [shown[choice] for shown, choice in zip(orders, choices, strict=True)
                 if choice is not None]
        if not picks:
            return candidates.index(min(candidates))
        return candidates.index(max(picks, key=lambda pick: (picks.count(pick),
                                                             -picks.index(pick))))

    async def _choose(self, ctx: RankingContext, shown: list[int], sample: int) -> int | None:
        """Position in ``shown`` of the passage the LLM names, or ``None`` without one."""
        labels = LETTERS[: len(shown)]

        def variables(max_words: int | None) -> dict[str, Any]:
            passages = [
                {"id": label, "text": self.passage(ctx, index, max_words)}
                for label, index in zip(labels, shown, strict=True)
            ]
            return {"passages": passages}

        def parse(completion: Completion) -> int | None:
            return parse_passage_choice(completion.text, labels)

        return await self.ask(ctx, variables, parse, sample=sample,
                              answer_tokens=CHOICE_ANSWER_TOKENS)
