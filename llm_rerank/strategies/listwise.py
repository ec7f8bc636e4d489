"""RankGPT-style listwise reranking: a window slides from the bottom of the list to the top.

Each window of ``window_size`` documents is ranked by one LLM call; the window then moves
up by ``step``, so the best documents bubble to the top. One pass over N documents costs
``ceil(max(N - window_size, 0) / step) + 1`` calls; 100 documents with 20/10 take 9.
The final window always starts at the top and is full-sized when N allows, so lists
shorter than a window, or that the step does not divide, are still ranked completely.

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

from typing import Any

from pydantic import Field, model_validator

from ..llm import Completion
from ..options import LLMOptions
from ..parsing import complete_permutation, parse_permutation
from ..reranker import LLMReranker, RankingContext, Scored

ANSWER_TOKENS_PER_ID = 6  # "[12] > " is 4-6 tokens in common tokenizers


class ListwiseOptions(LLMOptions):
    """Options of ``ListwiseReranker``."""

    window_size: int = Field(20, ge=2, le=100, description="passages ranked per call")
    step: int = Field(10, ge=1, description="how far the window moves up (<= window_size)")
    passes: int = Field(1, ge=1, le=10, description="sliding passes over the list")

    @model_validator(mode="after")
    def _step_fits_window(self) -> ListwiseOptions:
        if self.step > self.window_size:
            raise ValueError(f"step ({self.step}) must be <= window_size ({self.window_size})")
        return self


class ListwiseReranker(LLMReranker):
    """RankGPT sliding-window permutation ranking.

    >>> rr = ListwiseReranker("openai/gpt-4o-mini", window_size=20, step=10, cache=False)
    >>> rr.options.window_size, rr.options.step, rr.options.passes
    (20, 10, 1)
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
        if len(order) > 1:
            for _ in range(o.passes):
                for start, end in self.windows(len(order), o.window_size, o.step):
                    order[start:end] = await self._rank_window(ctx, order[start:end])
        return [Scored(index) for index in order]

    async def _rank_window(self, ctx: RankingContext, window: list[int]) -> list[int]:
        """The window reordered by the LLM; on no usable answer it keeps its order."""

        def variables(max_words: int | None) -> dict[str, Any]:
            passages = [
                {"id": n, "text": self.passage(ctx, index, max_words)}
                for n, index in enumerate(window, start=1)
            ]
            return {"passages": passages}

        def parse(completion: Completion) -> list[int] | None:
            return parse_permutation(completion.text, len(window)) or None

        ranked = await self.ask(ctx, variables, parse,
                                answer_tokens=ANSWER_TOKENS_PER_ID * len(window) + 16,
                                complete=lambda ids: len(ids) == len(window))
        permutation = complete_permutation(ranked or [], len(window))
        return [window[i] for i in permutation]
