"""Criteria reranking for multi-part queries: each document is judged against every part.

The query's criteria are given (``criteria=["...", {"text", "weight", "required"}]``;
``None`` judges the whole query as the one criterion) or, with ``criteria="auto"`` (the
default), decomposed by one cached LLM call
(``criteria/decompose``; an unusable answer keeps the whole query as the one criterion).
Then one call per document (``criteria/judge``, all concurrent) answers a label per
criterion: ``no`` / ``partly`` / ``yes`` (values 0 / 0.5 / 1, the expected value over the
label probabilities when the provider returns logprobs, read at each label's token).

Cost: N calls for N documents, plus one for ``"auto"`` (cached per query), plus the
listwise calls of ``refine``.

Score: ``aggregate = sum_c w_c * v_c / sum_c w_c`` (weighted mean of the expected values
``v_c``); a document failing a required criterion (its label there is ``no``, or none was
read) scores ``aggregate - 1``, so it ranks below every document passing them all. The
``relevance_score`` is ``(score + 1) / 2``. Ties keep input order.

Coverage (``coverage=True``): the top ``coverage_k`` are re-chosen greedily, xQuAD-style,
so that every criterion is answered near the top. With ``S`` the documents already placed
and weights normalised to sum to 1, the next document is the one maximising::

    (1 - λ) * aggregate(d) + λ * sum_c w_c * v_c(d) * prod_{s in S} (1 - v_c(s))

(``λ = coverage_lambda``), first among the documents passing the required criteria. The
order then no longer follows the aggregate: scores are rank-derived, ``details`` keep it.

Refine (``refine="listwise"``): the top ``refine_top`` are reranked by one listwise pass
(the criteria rendered in its prompt); their scores are rank-derived too.

``details``: ``criteria`` (per criterion: ``criterion``, ``label``, ``probability`` (the
expected value in [0, 1]) and, with ``explain=True``, ``reason``, a one-sentence
explanation that costs answer tokens), ``aggregate``, ``passes_required`` and ``source``.

>>> rr = CriteriaReranker("openai/gpt-4o-mini", criteria=["cost", "winter"], cache=False)
>>> [c.text for c in rr.options.criteria], rr.options.coverage
(['cost', 'winter'], False)
>>> coverage_gain([1.0, 0.0], [0.5, 0.5], [[1.0, 0.0]])
0.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..aio import gather_in_order, run_sync
from ..criteria import VERDICT_VALUES, Criteria, CriteriaSpec, Criterion
from ..llm import Completion
from ..llm_reranker import LLMReranker
from ..models import Usage
from ..options import LLMOptions
from ..parsing_criteria import Verdict, parse_verdicts
from ..registry import get_reranker
from ..reranker import RankingContext, Scored, check_instructions, validate_inputs
from .common import logprob_params

TOKENS_PER_VERDICT = 8
TOKENS_PER_REASON = 48


class CriteriaOptions(LLMOptions):
    """Options of ``CriteriaReranker``."""

    criteria: CriteriaSpec = Field(
        "auto", description="the query's parts: a list of str or {text, weight, required}, "
                            "or 'auto' (default: one LLM call splits each query)")
    explain: bool = Field(False, description="ask for a one-sentence reason per criterion")
    coverage: bool = Field(False, description="reorder the top coverage_k to cover every part")
    coverage_k: int = Field(10, ge=1, description="how many top places coverage reorders")
    coverage_lambda: float = Field(0.5, ge=0, le=1, description="weight of the coverage gain")
    refine: Literal["listwise"] | None = Field(
        None, description="'listwise': rerank the top refine_top with one listwise pass")
    refine_top: int = Field(10, ge=2, le=100, description="documents that refine reranks")
    use_logprobs: bool | Literal["auto"] = Field(
        "auto", description="'auto' asks for logprobs where the provider has them")
    top_logprobs: int = Field(5, ge=1, le=20, description="alternatives per token to request")


class Decomposition(BaseModel):
    """A query split into criteria: the parts, whether the whole query was kept as the one
    criterion (an unusable answer, or a query of one part), and the calls' usage."""

    criteria: list[Criterion]
    fell_back: bool
    usage: Usage


def coverage_gain(values: Sequence[float], weights: Sequence[float],
                  placed: Sequence[Sequence[float]]) -> float:
    """``sum_c w_c * v_c * prod_{s in placed} (1 - v_c(s))``: what a document adds on the
    criteria the placed documents have not covered yet.

    >>> coverage_gain([0.0, 1.0], [0.5, 0.5], [[1.0, 0.0]])
    0.5
    """
    gain = 0.0
    for c, (value, weight) in enumerate(zip(values, weights, strict=True)):
        uncovered = 1.0
        for other in placed:
            uncovered *= 1.0 - other[c]
        gain += weight * value * uncovered
    return gain


def expected_value(verdict: Verdict, labels: Mapping[str, float]) -> float:
    """A verdict's value rescaled to [0, 1]: the expected label value over its
    probabilities, else its label's value; no label reads as the lowest (0).

    >>> expected_value(Verdict("partly"), VERDICT_VALUES)
    0.5
    """
    low, high = min(labels.values()), max(labels.values())
    if verdict.probabilities:
        value = sum(p * labels[label] for label, p in verdict.probabilities.items())
    elif verdict.label is not None:
        value = labels[verdict.label]
    else:
        value = low
    return (value - low) / (high - low)


def criteria_details(criteria: Criteria, verdicts: Sequence[Verdict],
                     labels: Mapping[str, float], explain: bool) -> list[dict[str, Any]]:
    """``details["criteria"]``: per criterion its text, label, probability (the expected
    value in [0, 1]) and, with ``explain``, the reason."""
    rows = []
    for criterion, verdict in zip(criteria, verdicts, strict=True):
        row: dict[str, Any] = {"criterion": criterion.text, "label": verdict.label,
                               "probability": expected_value(verdict, labels)}
        if explain:
            row["reason"] = verdict.reason
        rows.append(row)
    return rows


class CriteriaReranker(LLMReranker):
    """Per-criterion verdicts, weighted aggregation, a required gate and optional coverage.

    >>> rr = CriteriaReranker("openai/gpt-4o-mini", criteria=[{"text": "cost",
    ...                       "required": True}], explain=True, cache=False)
    >>> rr.options.criteria[0].required, rr.options.explain
    (True, True)
    """

    name = "criteria"
    default_template = "criteria/judge"
    Options = CriteriaOptions
    options: CriteriaOptions

    async def adecompose(self, query: str, instructions: str | None = None) -> Decomposition:
        """Split ``query`` into criteria as ``criteria="auto"`` does (one cached call).

        >>> from llm_rerank.testing import fake_llm
        >>> with fake_llm(lambda messages: "1. how it heats\\n2. what it costs") as fake:
        ...     found = CriteriaReranker(fake.model, cache=False).decompose("heat pump costs")
        >>> [c.text for c in found.criteria], found.fell_back, found.usage.llm_calls
        (['how it heats', 'what it costs'], False, 1)
        """
        query = validate_inputs(query, [""])[0]
        ctx = RankingContext(query=query, documents=[], criteria="auto",
                             instructions=check_instructions(instructions)
                             or self.default_instructions())
        self.prepare(ctx, None)
        await self.resolve(ctx)
        criteria = list(self.criteria(ctx))
        fell_back = [c.text for c in criteria] == [query]
        return Decomposition(criteria=criteria, fell_back=fell_back, usage=ctx.usage)

    def decompose(self, query: str, instructions: str | None = None) -> Decomposition:
        """Sync ``adecompose``."""
        return run_sync(self.adecompose(query, instructions))

    def score_kind(self) -> str:
        return "criteria_aggregate"

    def relevance(self, score: float) -> float:
        return (score + 1.0) / 2.0

    def extra_params(self) -> dict[str, Any]:
        """The logprob request of each call."""
        return logprob_params(self.options.use_logprobs, self.options.top_logprobs)

    async def _order(self, ctx: RankingContext) -> list[Scored]:
        if not self.criteria(ctx):  # criteria=None: the whole query is the one criterion
            ctx.criteria = (Criterion(text=ctx.query),)
        criteria = self.criteria(ctx)
        scored = await gather_in_order(self._judge(ctx, criteria, i)
                                       for i in range(len(ctx.documents)))
        order = sorted(scored, key=lambda s: -(s.score or 0.0))  # every score is set; stable
        if self.options.coverage and len(criteria) > 1:
            order = self._cover(order, criteria)
        if self.options.refine == "listwise" and len(order) > 1:
            order = await self._refine(ctx, order)
        return order

    async def _judge(self, ctx: RankingContext, criteria: Criteria, index: int) -> Scored:
        labels = VERDICT_VALUES
        answered = False

        def variables(max_words: int | None) -> dict[str, Any]:
            return {"passage": self.passage(ctx, index, max_words), "labels": list(labels),
                    "explain": self.options.explain}

        def parse(completion: Completion) -> list[Verdict] | None:
            nonlocal answered
            answered = True
            logprobs = completion.logprobs if self.options.use_logprobs is not False else None
            verdicts = parse_verdicts(completion.text, len(criteria), labels, logprobs)
            return verdicts if any(v.label is not None for v in verdicts) else None

        def complete(verdicts: list[Verdict]) -> bool:
            return all(v.label is not None for v in verdicts)

        tokens = len(criteria) * (TOKENS_PER_VERDICT
                                  + TOKENS_PER_REASON * self.options.explain) + 8
        found = await self.ask(ctx, variables, parse, answer_tokens=tokens, complete=complete,
                               **self.extra_params())
        source: str
        if found is None:
            verdicts = [Verdict(None) for _ in criteria]
            source = "parse_failed" if answered else ctx.stopped or "error"
        else:
            verdicts = found
            source = ("partial" if not complete(found)
                      else "logprobs" if any(v.probabilities for v in found) else "text")
        values = [expected_value(v, labels) for v in verdicts]
        total = sum(c.weight for c in criteria)
        aggregate = sum(c.weight * v for c, v in zip(criteria, values, strict=True)) / total
        passes = all(v.label not in (None, "no") for c, v in zip(criteria, verdicts, strict=True)
                     if c.required)
        details = {"criteria": criteria_details(criteria, verdicts, labels, self.options.explain),
                   "aggregate": aggregate, "passes_required": passes, "source": source}
        return Scored(index, aggregate if passes else aggregate - 1.0, details)

    def _cover(self, order: list[Scored], criteria: Criteria) -> list[Scored]:
        """Greedy xQuAD reordering of the top ``coverage_k`` (formula in the module doc)."""
        o = self.options
        total = sum(c.weight for c in criteria)
        weights = [c.weight / total for c in criteria]
        remaining = list(order)
        chosen: list[Scored] = []
        placed: list[list[float]] = []
        while remaining and len(chosen) < o.coverage_k:
            tier = max(s.details["passes_required"] for s in remaining)

            def gain(s: Scored) -> float:
                values = [row["probability"] for row in s.details["criteria"]]
                return ((1 - o.coverage_lambda) * float(s.details["aggregate"])
                        + o.coverage_lambda * coverage_gain(values, weights, placed))

            best = max((s for s in remaining if s.details["passes_required"] == tier), key=gain)
            remaining.remove(best)
            chosen.append(best)
            placed.append([row["probability"] for row in best.details["criteria"]])
        return [Scored(s.index, None, s.details) for s in chosen + remaining]

    async def _refine(self, ctx: RankingContext, order: list[Scored]) -> list[Scored]:
        """The top ``refine_top`` reranked by one pass of the strategy registered as
        ``listwise`` over them."""
        top = order[: self.options.refine_top]
        sub = ctx.child(documents=[ctx.documents[s.index] for s in top])
        refined = await self._refiner._order(sub)
        ctx.absorb(sub)
        return ([Scored(top[s.index].index, None, top[s.index].details) for s in refined]
                + [Scored(s.index, None, s.details) for s in order[len(top):]])

    @cached_property
    def _refiner(self) -> LLMReranker:
        """The reranker registered as ``listwise``, built on first use for ``refine``: this
        reranker's LLM options, one window of ``refine_top`` (so one call per query)."""
        shared = set(LLMOptions.model_fields) - {"template", "criteria"}
        options = {name: getattr(self.options, name) for name in shared}
        window = max(2, self.options.refine_top)
        refiner = get_reranker("listwise", model=self.model or "", **options,
                               window_size=window, step=window)
        assert isinstance(refiner, LLMReranker)
        return refiner
