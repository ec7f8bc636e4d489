"""RankGPT-style listwise reranking: a window slides from the bottom of the list to the top.

Each window of ``window_size`` documents is ranked by one LLM call; the window then moves
up by ``step``, so the best documents bubble to the top. One pass over N documents costs
``ceil(max(N - window_size, 0) / step) + 1`` calls; 100 documents with 20/10 take 9.
The final window always starts at the top and is full-sized when N allows, so lists
shorter than a window, or that the step does not divide, are still ranked completely.

``method="topdown"`` ranks with top-down partitioning instead (``topdown.py``: a pivot,
concurrent windows against it, each shown in two opposite orders, as is the final window;
at most 3 sequential rounds, 13 calls for 100 documents, 10 of them at once in round 2);
``k`` (default: ``top_n``, else 10) is the top it settles. Its ``max_concurrency`` defaults
to ``TOPDOWN_MAX_CONCURRENCY`` (16, not 8) so that each round of 100 documents goes out in
one wave; a value the caller gives is the limit, as for every strategy.
``preset="balanced"`` is top-down with a second look where it pays: round 1's window in 2
opposite orders, the final window in 6 (``PRESETS``); 18 calls for 100 documents (twice
RankGPT's 9), 2 for at most ``window_size``, still 3 rounds. ``num_permutations=m`` asks
each window in m orders, concurrently, and aggregates them (``consistency.py``). Every
result's ``details["rounds"]`` holds the query's sequential rounds of calls.

Score: none of its own (the order is the output): the rank-derived score of the contract.
Answers are capped at ``ANSWER_TOKENS_PER_ID`` tokens per passage of the window. An answer
that leaves passages out is asked again once (``parse_retries``); if no whole answer comes
back, the passages it named go first and the rest keep their order.

>>> ListwiseReranker.windows(100, 20, 10)[:2], len(ListwiseReranker.windows(100, 20, 10))
([(80, 100), (70, 90)], 9)
>>> ListwiseReranker.windows(15, 20, 10)
[(0, 15)]
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ..aio import gather_in_order
from ..llm import Completion
from ..llm_reranker import LLMReranker
from ..options import PermutationOptions
from ..parsing import parse_permutation
from ..reranker import RankingContext, Scored
from .common import top_k
from .consistency import aggregate, permutations
from .topdown import top_down

ANSWER_TOKENS_PER_ID = 6  # "[12] > " is 4-6 tokens in common tokenizers
TOPDOWN_MAX_CONCURRENCY = 16  # round 2 of 100 documents: 10 windows; 16 covers up to 172
PRESETS = {"balanced": (2, 6)}  # preset: (looks at round 1's window, at the final window)


class ListwiseOptions(PermutationOptions):
    """Options of ``ListwiseReranker``."""

    method: Literal["sliding", "topdown"] = Field(
        "sliding", description="'sliding' (RankGPT) or 'topdown' (pivot partitioning)")
    window_size: int = Field(20, ge=2, le=100, description="passages ranked per call")
    step: int = Field(10, ge=1, description="how far the window moves up (<= window_size)")
    passes: int = Field(1, ge=1, le=10, description="sliding passes over the list")
    k: int | None = Field(None, ge=1, description="topdown: the top it settles, < window_size "
                                                  "(default: top_n, else 10)")
    preset: Literal["balanced"] | None = Field(
        None, description="'balanced': topdown, round 1's window in 2 orders and the final "
                          "window in 6 (18 calls for 100 documents, 3 rounds)")

    @model_validator(mode="before")
    @classmethod
    def _method_defaults(cls, values: Any) -> Any:
        """A preset implies ``method="topdown"``; top-down's ``max_concurrency`` defaults
        to ``TOPDOWN_MAX_CONCURRENCY``. Values the caller gives are kept."""
        if not isinstance(values, dict):
            return values
        values = dict(values)
        if values.get("preset") is not None:
            values.setdefault("method", "topdown")
        if values.get("method") == "topdown":
            values.setdefault("max_concurrency", TOPDOWN_MAX_CONCURRENCY)
        return values

    @model_validator(mode="after")
    def _consistent(self) -> ListwiseOptions:
        if self.preset is not None:
            if self.method != "topdown":
                raise ValueError(f"preset={self.preset!r} ranks with method='topdown', not "
                                 f"method={self.method!r}")
            if self.num_permutations > 1:
                raise ValueError(f"preset={self.preset!r} sets how many orders each window "
                                 "is shown in: leave num_permutations out")
        if self.method == "sliding":
            if self.step > self.window_size:
                raise ValueError(f"step ({self.step}) must be <= window_size "
                                 f"({self.window_size})")
            if self.k is not None:
                raise ValueError("k applies to method='topdown' only")
        else:
            sliding_only = sorted({"step", "passes"} & self.model_fields_set)
            if sliding_only:
                raise ValueError(f"{' and '.join(sliding_only)} apply to method='sliding' only")
            if self.k is not None and self.k >= self.window_size:
                raise ValueError(f"k ({self.k}) must be < window_size ({self.window_size}): "
                                 "the pivot is the k-th passage of the first window")
        return self


class ListwiseReranker(LLMReranker):
    """RankGPT sliding-window permutation ranking.

    >>> rr = ListwiseReranker("openai/gpt-4o-mini", window_size=20, step=10, cache=False)
    >>> rr.options.window_size, rr.options.step, rr.options.passes
    (20, 10, 1)
    >>> ListwiseReranker("openai/gpt-4o-mini", method="topdown", num_permutations=3,
    ...                  cache=False).options.method
    'topdown'
    >>> balanced = ListwiseReranker("openai/gpt-4o-mini", preset="balanced", cache=False)
    >>> balanced.options.method, balanced.options.max_concurrency
    ('topdown', 16)
    """

    name = "listwise"
    default_template = "listwise/rankgpt"
    Options = ListwiseOptions
    options: ListwiseOptions

    @staticmethod
    def windows(size: int, window_size: int, step: int) -> list[tuple[int, int]]:
        """The ``(start, end)`` slices of one pass, bottom first."""
        spans = []
        end = size
        while True:
            start = max(0, end - window_size)
            if start == 0:
                spans.append((0, min(size, window_size)))
                return spans
            spans.append((start, end))
            end -= step

    async def _order(self, ctx: RankingContext) -> list[Scored]:
        order = list(range(len(ctx.documents)))
        o = self.options

        async def rank_window(window: list[int]) -> list[int] | None:
            return await self._rank_window(ctx, window)

        if o.method == "topdown":
            k = min(top_k(o.k, ctx), o.window_size - 1)
            first_looks, final_looks = PRESETS[o.preset] if o.preset else (1, 2)
            result = await top_down(order, o.window_size, k, rank_window,
                                    first_looks=first_looks, final_looks=final_looks)
            order, rounds = result.order, result.rounds
        else:
            spans = self.windows(len(order), o.window_size, o.step) if len(order) > 1 else []
            rounds = len(spans) * o.passes
            for _ in range(o.passes):
                for start, end in spans:
                    order[start:end] = await rank_window(order[start:end]) or order[start:end]
        return [Scored(index, details={"rounds": rounds}) for index in order]

    async def _rank_window(self, ctx: RankingContext, window: list[int]) -> list[int] | None:
        """The window reordered by the LLM: its ``num_permutations`` orders asked
        concurrently and aggregated; ``None`` when no order got a usable answer."""
        o = self.options
        orders = permutations(window, o.num_permutations, o.seed)
        answers = await gather_in_order(
            self._ask_order(ctx, shown, sample) for sample, shown in enumerate(orders))
        position = {index: p for p, index in enumerate(window)}
        rankings = [[position[shown[i]] for i in answer]
                    for shown, answer in zip(orders, answers, strict=True) if answer is not None]
        if not rankings:
            return None
        return [window[i] for i in aggregate(rankings, len(window))]

    async def _ask_order(self, ctx: RankingContext, shown: list[int],
                         sample: int) -> list[int] | None:
        """Positions in ``shown``, best first (maybe partial), or ``None`` without an answer."""

        def variables(max_words: int | None) -> dict[str, Any]:
            passages = [
                {"id": n, "text": self.passage(ctx, index, max_words)}
                for n, index in enumerate(shown, start=1)
            ]
            return {"passages": passages}

        def parse(completion: Completion) -> list[int] | None:
            return parse_permutation(completion.text, len(shown)) or None

        return await self.ask(ctx, variables, parse, sample=sample,
                              answer_tokens=ANSWER_TOKENS_PER_ID * len(shown) + 16,
                              complete=lambda ids: len(ids) == len(shown))
