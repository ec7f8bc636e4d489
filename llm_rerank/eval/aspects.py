"""Diversity metrics for multi-part queries, from per-criterion (aspect) judgments.

``judgments`` maps each criterion (aspect) of one query to its grades
(``{aspect: {docid: grade}}``); a document covers an aspect when its grade there is
``>= relevance_level`` (default 1). Unjudged documents cover nothing.

- ``aspect_recall@k`` (subtopic recall): the share of the query's coverable aspects (those
  some judged document covers) that at least one of the top ``k`` covers.
- ``alpha_ndcg@k`` (Clarke et al., 2008): the document at rank ``r`` gains
  ``G(r) = sum_a J(d_r, a) * (1 - alpha) ** c_a(r)``, where ``J`` is 1 when it covers
  aspect ``a`` and ``c_a(r)`` counts the documents above it that cover ``a``;
  ``alpha-DCG@k = sum_{r<=k} G(r) / log2(r + 1)``, divided by the alpha-DCG@k of the
  ideal ranking, built greedily (at each rank the judged document with the largest
  gain; the exact ideal is NP-hard, and the greedy one is what ``ndeval`` uses).
  ``alpha = 0.5`` by default. 0 when no document covers any aspect.

>>> aspects = {"cost": {"d1": 1, "d2": 1}, "winter": {"d3": 2}}
>>> aspect_recall(["d1", "d2", "d3"], aspects, k=2)
0.5
>>> round(alpha_ndcg(["d1", "d3", "d2"], aspects, k=3), 4)
1.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

AspectJudgments = Mapping[str, Mapping[str, int]]


def _covers(judgments: AspectJudgments, relevance_level: int) -> dict[str, set[str]]:
    """docid -> the aspects it covers."""
    covers: dict[str, set[str]] = {}
    for aspect, grades in judgments.items():
        for doc_id, grade in grades.items():
            if grade >= relevance_level:
                covers.setdefault(doc_id, set()).add(aspect)
    return covers


def aspect_recall(ranked: Sequence[str], judgments: AspectJudgments, k: int = 10,
                  relevance_level: int = 1) -> float:
    """Share of the coverable aspects covered by the top ``k`` (0 when none is coverable)."""
    covers = _covers(judgments, relevance_level)
    coverable = set().union(*covers.values()) if covers else set()
    if not coverable:
        return 0.0
    found = set().union(*(covers.get(doc_id, set()) for doc_id in ranked[:k]))
    return len(found & coverable) / len(coverable)


def _alpha_dcg(ranked: Sequence[set[str]], alpha: float) -> float:
    seen: dict[str, int] = {}
    total = 0.0
    for rank, aspects in enumerate(ranked, start=1):
        gain = sum((1 - alpha) ** seen.get(aspect, 0) for aspect in aspects)
        for aspect in aspects:
            seen[aspect] = seen.get(aspect, 0) + 1
        total += gain / math.log2(rank + 1)
    return total


def _ideal(covers: Mapping[str, set[str]], k: int, alpha: float) -> list[set[str]]:
    """The greedy ideal: at each rank the document with the largest gain (ties: doc id)."""
    remaining = dict(sorted(covers.items()))
    seen: dict[str, int] = {}
    chosen: list[set[str]] = []
    while remaining and len(chosen) < k:
        doc_id = max(remaining, key=lambda d: sum(
            (1 - alpha) ** seen.get(a, 0) for a in remaining[d]))
        aspects = remaining.pop(doc_id)
        for aspect in aspects:
            seen[aspect] = seen.get(aspect, 0) + 1
        chosen.append(aspects)
    return chosen


def alpha_ndcg(ranked: Sequence[str], judgments: AspectJudgments, k: int = 10,
               alpha: float = 0.5, relevance_level: int = 1) -> float:
    """alpha-nDCG@k of one ranking (formula in the module docstring)."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    covers = _covers(judgments, relevance_level)
    ideal = _alpha_dcg(_ideal(covers, k, alpha), alpha)
    if ideal <= 0:
        return 0.0
    return _alpha_dcg([covers.get(doc_id, set()) for doc_id in ranked[:k]], alpha) / ideal
