"""RankGPT-style listwise reranking: a window slides from the bottom of the list to the top.

Each window of ``window_size`` documents is ranked by one LLM call; the window then moves
up by ``step``, so the best documents bubble to the top. One pass over N documents costs
``ceil(max(N - window_size, 0) / step) + 1`` calls; 100 documents with 20/10 take 9.
The final window always starts at the top and is full-sized when N allows, so lists
shorter than a window, or that the step does not divide, are still ranked completely.

Score: none (the order is the output); ``score`` is ``None``.

>>> ListwiseReranker.windows(100, 20, 10)[:2], len(ListwiseReranker.windows(100, 20, 10))
([(80, 100), (70, 90)], 9)
>>> ListwiseReranker.windows(15, 20, 10)
[(0, 15)]
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInput
from ..llm import Completion
from ..parsing import complete_permutation, parse_permutation
from ..reranker import LLMReranker, RankingContext, Scored


class ListwiseReranker(LLMReranker):
    """RankGPT sliding-window permutation ranking.

    >>> rr = ListwiseReranker("openai/gpt-4o-mini", window_size=20, step=10, cache=False)
    >>> rr.window_size, rr.step, rr.passes
    (20, 10, 1)
    """

    name = "listwise"
    default_template = "listwise/rankgpt"

    def __init__(
        self, model: str, *, window_size: int = 20, step: int = 10, passes: int = 1, **options: Any
    ) -> None:
        super().__init__(model, **options)
        if window_size < 2:
            raise InvalidInput(f"window_size must be >= 2, got {window_size}")
        if not 1 <= step <= window_size:
            raise InvalidInput(
                f"step must be between 1 and window_size ({window_size}), got {step}"
            )
        if passes < 1:
            raise InvalidInput(f"passes must be >= 1, got {passes}")
        self.window_size, self.step, self.passes = window_size, step, passes

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
        if len(order) > 1:
            for _ in range(self.passes):
                for start, end in self.windows(len(order), self.window_size, self.step):
                    order[start:end] = await self._rank_window(ctx, order[start:end])
        return [Scored(index) for index in order]

    async def _rank_window(self, ctx: RankingContext, window: list[int]) -> list[int]:
        """The window reordered by the LLM; on no usable answer it keeps its order."""

        def variables(max_words: int | None) -> dict[str, Any]:
            passages = [
                {"id": n, "text": self.passage(ctx, index, max_words)}
                for n, index in enumerate(window, start=1)
            ]
            return {"query": ctx.query, "passages": passages}

        def parse(completion: Completion) -> list[int] | None:
            return parse_permutation(completion.text, len(window)) or None

        ranked = await self.ask(ctx, variables, parse)
        permutation = complete_permutation(ranked or [], len(window))
        return [window[i] for i in permutation]
