"""Pairwise ranking prompting (PRP, Qin et al. 2023): the LLM says which of two passages is
more relevant, and a sorting method turns the comparisons into a ranking.

A comparison of documents i and j asks both orders, (A=i, B=j) and (A=j, B=i), concurrently:
consistent answers give a win, inconsistent or unusable ones a tie (half a win each), which
cancels position bias. With ``both_orders=False`` only (A=i, B=j) is asked: half the calls,
exposed to position bias. Comparisons are memoized within a run, so a repeated pair is free.

Cost in calls with both orders (halve it for one order), for N documents:

- ``allpair``: every pair, N(N-1) calls, all concurrent. Score: win rate,
  (wins + ties/2) / (N-1), also the ``relevance_score``; ties keep input order.
- ``heapsort``: top-``k`` by a binary heap sort, at most about 2 * (2N + 2k log2 N) calls
  (fewer thanks to the memo), sequential. The top ``k`` come first, the rest in input order.
- ``sliding``: ``k`` bubble passes from the bottom up (PRP-Sliding-K), about 2k(N-1) calls,
  sequential. Every pass brings the best remaining document to the next position.

In ``heapsort`` and ``sliding`` a tie goes to the document with more net wins (decided
comparisons won minus lost) so far in the run, then to the one that came first in the
input: a judge that only ever shows position bias (or only fails) leaves the input order
intact, while a strong document that ties with a close rival keeps the ground it has won.

``k`` defaults to the caller's ``top_n`` (10 without one), so asking for fewer results
costs fewer calls. Score for ``heapsort`` and ``sliding``: none of their own (the order is
the output), so the rank-derived score of the contract. Every result's ``details`` counts
the comparisons the document took part in: ``comparisons``, ``wins``, ``ties``.

>>> PairwiseReranker.outcome_of_both_orders(0, 1)  # A, then B: the same passage both times
1.0
>>> PairwiseReranker.outcome_of_both_orders(0, 0)  # "A" both times: position bias, a tie
0.5
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any, Literal

from pydantic import Field

from ..aio import gather_in_order
from ..llm import Completion
from ..llm_reranker import LLMReranker
from ..options import LLMOptions
from ..parsing import parse_passage_choice
from ..reranker import RankingContext, Scored
from .common import CHOICE_ANSWER_TOKENS, top_k
from .heap import heap_top_k

Method = Literal["allpair", "heapsort", "sliding"]
PAIR_LABELS = ("A", "B")


class PairwiseOptions(LLMOptions):
    """Options of ``PairwiseReranker``."""

    method: Method = Field("heapsort", description="allpair, heapsort or sliding")
    k: int | None = Field(None, ge=1, description="top-k of heapsort, passes of sliding "
                                                  "(default: top_n, else 10)")
    both_orders: bool = Field(True, description="ask each pair in both orders")


class PairwiseReranker(LLMReranker):
    """PRP with ``method="allpair" | "heapsort" | "sliding"``; ``k`` is the top-k of
    heapsort and the number of passes of sliding.

    >>> rr = PairwiseReranker("openai/gpt-4o-mini", method="heapsort", k=5, cache=False)
    >>> rr.options.method, rr.options.k, rr.options.both_orders
    ('heapsort', 5, True)
    """

    name = "pairwise"
    default_template = "pairwise/prp"
    Options = PairwiseOptions
    options: PairwiseOptions

    def score_kind(self) -> str | None:
        return "win_rate" if self.options.method == "allpair" else None

    async def _order(self, ctx: RankingContext) -> list[Scored]:
        size = len(ctx.documents)
        k = top_k(self.options.k, ctx)
        if size == 1:
            return [Scored(0)]
        memo: dict[tuple[int, int], float] = {}
        net_wins: Counter[int] = Counter()  # decided comparisons won minus lost, so far

        async def outcome(i: int, j: int) -> float:
            """1.0 when i beats j, 0.0 when j beats i, 0.5 for a tie; each pair asked once."""
            if (j, i) in memo:
                return 1.0 - memo[(j, i)]
            if (i, j) not in memo:
                result = memo[(i, j)] = await self._compare(ctx, i, j)
                if result != 0.5:
                    winner, loser = (i, j) if result == 1.0 else (j, i)
                    net_wins[winner] += 1
                    net_wins[loser] -= 1
            return memo[(i, j)]

        async def beats(challenger: int, incumbent: int) -> bool:
            """A win; a tie goes to the document with more net wins so far, then to the one
            earlier in the input (so a judge that only ever ties keeps input order)."""
            result = await outcome(challenger, incumbent)
            if result != 0.5:
                return result == 1.0
            if net_wins[challenger] != net_wins[incumbent]:
                return net_wins[challenger] > net_wins[incumbent]
            return challenger < incumbent

        if self.options.method == "allpair":
            await gather_in_order(outcome(i, j) for i, j in itertools.combinations(range(size), 2))
            order = list(range(size))
        elif self.options.method == "heapsort":

            async def pick_best(candidates: list[int]) -> int:
                champion = 1
                for position in range(2, len(candidates)):
                    if await beats(candidates[position], candidates[champion]):
                        champion = position
                return champion if await beats(candidates[champion], candidates[0]) else 0

            order = await heap_top_k(size, k, 2, pick_best)
        else:
            order = list(range(size))
            for settled in range(min(k, size - 1)):
                for position in range(size - 2, settled - 1, -1):
                    if await beats(order[position + 1], order[position]):
                        order[position], order[position + 1] = order[position + 1], order[position]
        return self._scored(order, memo)

    def _scored(self, order: list[int], memo: dict[tuple[int, int], float]) -> list[Scored]:
        """Attach comparison tallies, and for allpair the win rate as score (sorted on it)."""
        wins: Counter[int] = Counter()
        ties: Counter[int] = Counter()
        comparisons: Counter[int] = Counter()
        for (i, j), result in memo.items():
            comparisons.update((i, j))
            if result == 0.5:
                ties.update((i, j))
            else:
                wins[i if result == 1.0 else j] += 1
        details = {
            index: {"comparisons": comparisons[index], "wins": wins[index], "ties": ties[index]}
            for index in order
        }
        if self.options.method != "allpair":
            return [Scored(index, details=details[index]) for index in order]
        rate = {index: (wins[index] + ties[index] / 2) / (len(order) - 1) for index in order}
        ranked = sorted(order, key=lambda index: -rate[index])
        return [Scored(index, score=rate[index], details=details[index]) for index in ranked]

    async def _compare(self, ctx: RankingContext, i: int, j: int) -> float:
        """Ask the LLM about (A=i, B=j), and (A=j, B=i) too with ``both_orders``."""
        if not self.options.both_orders:
            choice = await self._ask_pair(ctx, i, j)
            return 0.5 if choice is None else 1.0 - choice
        forward, backward = await gather_in_order(
            [self._ask_pair(ctx, i, j), self._ask_pair(ctx, j, i)]
        )
        if forward is None or backward is None:
            return 0.5
        return self.outcome_of_both_orders(forward, backward)

    @staticmethod
    def outcome_of_both_orders(forward: int, backward: int) -> float:
        """The first passage's outcome from the answers (0 = "A", 1 = "B") to (A=i, B=j)
        and (A=j, B=i): consistent answers give a win or a loss, inconsistent ones a tie."""
        if forward != backward:
            return 1.0 if forward == 0 else 0.0
        return 0.5

    async def _ask_pair(self, ctx: RankingContext, a: int, b: int) -> int | None:
        """0 when the LLM prefers passage A (document ``a``), 1 for B, ``None`` if unusable."""

        def variables(max_words: int | None) -> dict[str, Any]:
            return {"passage_a": self.passage(ctx, a, max_words),
                    "passage_b": self.passage(ctx, b, max_words)}

        def parse(completion: Completion) -> int | None:
            return parse_passage_choice(completion.text, PAIR_LABELS)

        return await self.ask(ctx, variables, parse, answer_tokens=CHOICE_ANSWER_TOKENS)
