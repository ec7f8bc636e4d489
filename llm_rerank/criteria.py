"""Criteria of a multi-part query: the parts a passage should answer.

A criterion is a self-contained part of the query (``"is it cheaper to run than a gas
boiler"``) with a ``weight`` (its share of the aggregate) and a ``required`` flag (a
passage failing it ranks below every passage passing it). Callers give criteria as
strings or ``{"text", "weight", "required"}`` mappings, or ask for ``"auto"``: one LLM
call splits the query (``prompts/criteria/decompose.j2``). A verdict on a criterion is one
of ``VERDICT_LABELS``; the LLM's decomposition and verdict answers are read by
``llm_rerank.parsing_criteria``.

>>> [(c.text, c.weight, c.required) for c in coerce_criteria(
...     ["cost", {"text": "winter heating", "weight": 2, "required": True}])]
[('cost', 1.0, False), ('winter heating', 2.0, True)]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .errors import InvalidInput
from .parsing import lowercase_words

VERDICT_LABELS = ("no", "partly", "yes")
VERDICT_VALUES: dict[str, float] = {"no": 0.0, "partly": 1.0, "yes": 2.0}
MAX_CRITERIA = 10
MAX_AUTO_PARTS = 5
MAX_CRITERION_CHARS = 300


class Criterion(BaseModel):
    """One part of a query that a passage should answer.

    >>> Criterion(text="running cost", weight=2.0).weight
    2.0
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    weight: float = 1.0
    required: bool = False


Criteria = tuple[Criterion, ...]
CriteriaSpec = Criteria | Literal["auto"] | None


def _criterion(value: object, position: int) -> Criterion:
    where = f"criterion {position}"
    if isinstance(value, Criterion):
        return value
    if isinstance(value, str):
        value = {"text": value}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{where} must be a str or a {{text, weight, required}} mapping, "
                           f"got {type(value).__name__}")
    unknown = sorted(str(key) for key in value if key not in ("text", "weight", "required"))
    if unknown:
        raise InvalidInput(f"{where} has unknown keys {unknown}; known: text, weight, required")
    text, weight, required = value.get("text"), value.get("weight", 1.0), value.get(
        "required", False)
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"{where} needs a non-empty 'text' string, got {text!r}")
    if len(text) > MAX_CRITERION_CHARS:
        raise InvalidInput(f"{where} is {len(text)} characters long; the limit is "
                           f"{MAX_CRITERION_CHARS}")
    if (isinstance(weight, bool) or not isinstance(weight, (int, float))
            or not math.isfinite(weight) or weight <= 0):
        raise InvalidInput(f"{where} ({text!r}) has weight {weight!r}; expected a number > 0")
    if not isinstance(required, bool):
        raise InvalidInput(f"{where} ({text!r}) has required={required!r}; expected true/false")
    return Criterion(text=" ".join(text.split()), weight=float(weight), required=required)


def coerce_criteria(value: object) -> CriteriaSpec:
    """``None``, ``"auto"``, or a tuple of ``Criterion`` from strings, mappings or
    ``Criterion`` objects; anything else raises ``InvalidInput`` naming the problem.

    >>> coerce_criteria("auto"), coerce_criteria(None)
    ('auto', None)
    >>> coerce_criteria("cost")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    llm_rerank.errors.InvalidInput: criteria must be a list ... (one criterion is written ['cost'])
    """
    if value is None or value == "auto":
        return value  # type: ignore[return-value]
    if isinstance(value, str):
        raise InvalidInput(f'criteria must be a list of criteria, "auto" or None, got the str '
                           f"{value!r} (one criterion is written [{value!r}])")
    if isinstance(value, (bytes, Mapping)) or not isinstance(value, Sequence):
        raise InvalidInput(f'criteria must be a list of criteria, "auto" or None, got '
                           f"{type(value).__name__}")
    if not value:
        raise InvalidInput("criteria is an empty list; give at least one, or None")
    if len(value) > MAX_CRITERIA:
        raise InvalidInput(f"{len(value)} criteria given; the limit is {MAX_CRITERIA}")
    criteria = tuple(_criterion(item, position) for position, item in enumerate(value))
    seen: set[str] = set()
    for criterion in criteria:
        key = lowercase_words(criterion.text)
        if key in seen:
            raise InvalidInput(f"criterion {criterion.text!r} is given twice")
        seen.add(key)
    return criteria
