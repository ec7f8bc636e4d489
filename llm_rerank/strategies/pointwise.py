"""Pointwise reranking: one call per document asks for a relevance label, all concurrent.

Cost: N calls for N documents, each showing one passage (no call for a single document).

Score: the expected label value, sum over labels of p(label) * value(label), when the
provider returns logprobs; p comes from the top alternatives of the token position where
the label is chosen, which is not always the first ("The passage is likely": the fourth;
rules in ``llm_rerank.parsing_logprobs``). A token matches a label when, stripped of
spaces and punctuation and lowercased, it is the label or the start of exactly one label
("un" -> "unlikely", " very" -> "very likely"), and the mass on tokens that match no label
("not", "The") goes to the label read from the answer text, else to the lowest label
(formula in ``llm_rerank.parsing``). With ``constrain="grammar"`` the answer can only be a
label and p is each label's share of the first position's mass on labels. Otherwise the value of
the label read from the answer text ("not likely" reads as "unlikely"). An answer without
a usable label, or a failed call absorbed by ``on_error="keep_order"``, scores the lowest
value. Ties keep input order. The ``relevance_score`` is the expected value rescaled to
[0, 1]: (score - lowest label value) / (highest - lowest).

``details``: ``label`` (the label answered, else the most probable one), ``source``
("logprobs", "text", "parse_failed", "error", or "budget"/"deadline" for documents the
query stopped before judging) and, with logprobs, ``probabilities`` (label ->
probability, summing to 1).

>>> labels = label_values(["no", "yes"])
>>> parse_label("**Yes.**", labels), parse_label("very likely", label_values(DEFAULT_LABELS))
('yes', 'very likely')
>>> top = {" very": -0.1, "likely": -2.4, "The": -3.0}
>>> probabilities = label_probabilities(top, label_values(DEFAULT_LABELS), rest="likely")
>>> {label: round(p, 2) for label, p in probabilities.items()}
{'unlikely': 0.0, 'likely': 0.13, 'very likely': 0.87}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator

from ..aio import gather_in_order
from ..errors import InvalidInput
from ..llm import Completion
from ..llm_reranker import LLMReranker
from ..options import LLMOptions
from ..parsing import label_probabilities, lowercase_words, parse_label
from ..parsing_logprobs import (
    answer_label_position,
    constrained_label_probabilities,
    label_grammar,
)
from ..reranker import RankingContext, Scored
from .common import logprob_params, merged_extra_body

DEFAULT_LABELS = ("unlikely", "likely", "very likely")
DEFAULT_MAX_TOKENS = 8
CONSTRAINED_TOP_LOGPROBS = 20  # the raw alternatives must include every label's first token
Labels = Sequence[str] | Mapping[str, float]


def label_values(labels: Labels) -> dict[str, float]:
    """Labels ordered from least to most relevant, with their values.

    A sequence gets values 0..L-1; a mapping gives them (and is ordered by value).
    """
    if isinstance(labels, str) or not isinstance(labels, (Sequence, Mapping)):
        raise InvalidInput(
            f"labels must be a sequence of str or a mapping label -> value, got {labels!r}"
        )
    pairs = list(labels.items()) if isinstance(labels, Mapping) else [
        (label, float(value)) for value, label in enumerate(labels)
    ]
    if len(pairs) < 2:
        raise InvalidInput(f"labels must hold at least two labels, got {labels!r}")
    for label, value in pairs:
        if not isinstance(label, str) or not lowercase_words(label):
            raise InvalidInput(f"every label must be a str with a letter or digit, got {label!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise InvalidInput(f"label {label!r} has value {value!r}, expected a number")
    if len({lowercase_words(label) for label, _ in pairs}) < len(pairs):
        raise InvalidInput(f"labels must differ (ignoring case and punctuation), got {labels!r}")
    return {label: float(value) for label, value in sorted(pairs, key=lambda pair: pair[1])}


@dataclass
class Judgement:
    """One document's answer: the label read from the text and/or label probabilities."""

    label: str | None
    probabilities: dict[str, float] | None


class PointwiseOptions(LLMOptions):
    """Options of ``PointwiseReranker``."""

    labels: dict[str, float] = Field(
        default_factory=lambda: label_values(DEFAULT_LABELS),
        description="labels least to most relevant: a list (values 0..L-1) or label -> value")
    use_logprobs: bool | Literal["auto"] = Field(
        "auto", description="'auto' asks for logprobs where the provider has them")
    top_logprobs: int = Field(5, ge=1, le=20, description="alternatives per token to request")
    constrain: Literal["grammar"] | None = Field(
        None, description="'grammar' sends a GBNF grammar allowing only the labels (llama.cpp "
        "servers); None sends nothing server-specific")

    @field_validator("labels", mode="plain")
    @classmethod
    def _labels(cls, value: object) -> dict[str, float]:
        return label_values(value)  # type: ignore[arg-type]


class PointwiseReranker(LLMReranker):
    """Relevance labels per document, scored by their expected value.

    ``labels``: least to most relevant, e.g. ``("no", "yes")`` or ``{"0": 0, ..., "4": 4}``.
    ``use_logprobs``: ``"auto"`` asks for logprobs and lets LiteLLM drop the request where
    the provider lacks them; ``True`` asks without that safety net; ``False`` never asks.
    ``top_logprobs``: alternatives per token to request (1..20). Answers are capped at
    8 tokens unless ``completion_kwargs`` sets ``max_tokens`` (raise it for reasoning models).
    ``constrain="grammar"``: each request carries ``extra_body={"grammar": ...}``, a GBNF
    grammar whose only sentences are the labels, which llama.cpp's server and
    llama-cpp-python's server apply (other servers: pass their own field in
    ``completion_kwargs["extra_body"]``); 20 alternatives are then asked for, since the
    server reports them before the grammar. Hosted APIs refuse or ignore the field: the
    default (``None``) sends nothing server-specific.

    >>> rr = PointwiseReranker("openai/gpt-4o-mini", labels=["no", "yes"], cache=False)
    >>> rr.labels
    {'no': 0.0, 'yes': 1.0}
    """

    name = "pointwise"
    default_template = "pointwise/labels"
    Options = PointwiseOptions
    options: PointwiseOptions

    @property
    def labels(self) -> dict[str, float]:
        return self.options.labels

    def score_kind(self) -> str:
        return "expected_label"

    def relevance(self, score: float) -> float:
        low, high = min(self.labels.values()), max(self.labels.values())
        return (score - low) / (high - low)

    def extra_params(self) -> dict[str, Any]:
        """Extra LiteLLM parameters of each call: the logprob request, and the grammar
        (merged into ``completion_kwargs``' own ``extra_body``) under ``constrain``."""
        options = self.options
        if options.constrain is None:
            return logprob_params(options.use_logprobs, options.top_logprobs)
        params = logprob_params(options.use_logprobs,
                                max(options.top_logprobs, CONSTRAINED_TOP_LOGPROBS))
        params["extra_body"] = merged_extra_body(options.completion_kwargs,
                                                 grammar=label_grammar(self.labels))
        return params

    async def _order(self, ctx: RankingContext) -> list[Scored]:
        if len(ctx.documents) == 1:
            return [Scored(0)]
        scored = await gather_in_order(self._judge(ctx, i) for i in range(len(ctx.documents)))
        return sorted(scored, key=lambda s: -(s.score or 0.0))  # every score is set; stable

    def _label_probabilities(self, logprobs: list[dict[str, float]],
                             label: str | None) -> dict[str, float] | None:
        """The labels' probabilities from an answer's logprobs (``label``: the one its text
        names), ``None`` when no token position weighs a label."""
        if self.options.constrain is not None:
            return constrained_label_probabilities(logprobs[0], self.labels)
        top = answer_label_position(logprobs, self.labels)
        rest = label or next(iter(self.labels))  # takes the mass on non-label tokens
        return label_probabilities(top, self.labels, rest) if top else None

    async def _judge(self, ctx: RankingContext, index: int) -> Scored:
        answered = False

        def variables(max_words: int | None) -> dict[str, Any]:
            return {"passage": self.passage(ctx, index, max_words), "labels": list(self.labels)}

        def parse(completion: Completion) -> Judgement | None:
            nonlocal answered
            answered = True
            label = parse_label(completion.text, self.labels)
            probabilities = None
            if self.options.use_logprobs is not False and completion.logprobs:
                probabilities = self._label_probabilities(completion.logprobs, label)
            return Judgement(label, probabilities) if label or probabilities else None

        judgement = await self.ask(ctx, variables, parse, answer_tokens=DEFAULT_MAX_TOKENS,
                                   **self.extra_params())
        if judgement is None:
            source = "parse_failed" if answered else ctx.stopped or "error"
            return Scored(index, min(self.labels.values()), {"label": None, "source": source})
        if judgement.probabilities is None:
            assert judgement.label is not None
            return Scored(index, self.labels[judgement.label],
                          {"label": judgement.label, "source": "text"})
        probabilities = judgement.probabilities
        expected = sum(p * self.labels[label] for label, p in probabilities.items())
        label = judgement.label or max(probabilities, key=probabilities.__getitem__)
        return Scored(index, expected,
                      {"label": label, "source": "logprobs", "probabilities": probabilities})
