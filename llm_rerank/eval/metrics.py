"""IR metrics with trec_eval's conventions, per ranking and over a whole run.

- nDCG: linear gains (the grade; negative grades count 0), ``log2(rank + 1)`` discount,
  ideal DCG from all judged grades of the query (cut at ``k``). Independent of
  ``relevance_level``, as in trec_eval.
- MRR, Recall, MAP, P: a document is relevant when its grade is ``>= relevance_level``
  (default 1, trec_eval's ``-l`` default); unjudged documents are not relevant.
- A run is evaluated on the queries that are in both the run and the qrels (trec_eval
  without ``-c``), each ranked in trec_eval's order (score descending, ties by doc id
  descending).

>>> judgments = {"d1": 2, "d2": 0, "d3": 1}
>>> round(ndcg(["d2", "d1", "d3"], judgments, k=10), 4)
0.6697
>>> mrr(["d2", "d1", "d3"], judgments), recall(["d2", "d1"], judgments, k=2)
(0.5, 0.5)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ..errors import InvalidInput
from .aspects import AspectJudgments, alpha_ndcg, aspect_recall
from .trec import ranking

T = TypeVar("T")
MetricKind = Literal["ndcg", "mrr", "recall", "map", "p", "alpha_ndcg", "aspect_recall"]
ASPECT_KINDS = frozenset({"alpha_ndcg", "aspect_recall"})  # need per-part (aspect) qrels

_ALIASES: dict[str, MetricKind] = {
    "ndcg": "ndcg", "ndcg_cut": "ndcg",
    "mrr": "mrr", "rr": "mrr", "recip_rank": "mrr",
    "recall": "recall", "r": "recall",
    "map": "map", "ap": "map", "map_cut": "map",
    "p": "p", "precision": "p",
    "alpha_ndcg": "alpha_ndcg", "aspect_recall": "aspect_recall",
    "subtopic_recall": "aspect_recall",
}
_METRIC_PATTERN = re.compile(r"^([a-z_]+?)(?:[@_.](\d+))?$")
KNOWN_METRICS = (
    "ndcg@K, mrr@K, recall@K, map (or map@K), p@K (trec_eval names like ndcg_cut_10, P_5 too); "
    "with per-part qrels: alpha_ndcg@K, aspect_recall@K"
)


class Metric(BaseModel):
    """A metric and its optional cutoff ``k`` (``None``: the whole ranking).

    >>> Metric.parse("NDCG_cut_10").name, Metric.parse("map").name
    ('ndcg@10', 'map')
    """

    model_config = ConfigDict(frozen=True)

    kind: MetricKind
    k: int | None = Field(default=None, ge=1)

    @property
    def name(self) -> str:
        """The canonical name, e.g. ``ndcg@10``, used as the key in reports."""
        return self.kind if self.k is None else f"{self.kind}@{self.k}"

    @classmethod
    def parse(cls, text: str) -> Metric:
        """Parse ``"ndcg@10"``, ``"ndcg_cut_10"``, ``"mrr@10"``, ``"recall@20"``, ``"map"``..."""
        match = _METRIC_PATTERN.match(text.strip().lower())
        kind = _ALIASES.get(match.group(1)) if match else None
        if match is None or kind is None:
            raise InvalidInput(f"unknown metric {text!r}; known: {KNOWN_METRICS}")
        k = int(match.group(2)) if match.group(2) is not None else None
        if k == 0:
            raise InvalidInput(f"metric {text!r}: the cutoff must be >= 1")
        return cls(kind=kind, k=k)

    def compute(
        self, ranked: Sequence[str], judgments: Mapping[str, int], relevance_level: int = 1,
        aspects: AspectJudgments | None = None,
    ) -> float:
        """This metric for one ranking (best first) against one query's judgments (and, for
        ``alpha_ndcg`` and ``aspect_recall``, its per-part judgments ``aspects``).

        >>> Metric.parse("aspect_recall@1").compute(["d1"], {}, aspects={"a": {"d1": 1},
        ...                                                            "b": {"d2": 2}})
        0.5
        """
        if self.kind == "ndcg":
            return ndcg(ranked, judgments, self.k)
        if self.kind in ASPECT_KINDS:
            k = self.k or len(ranked)
            if self.kind == "alpha_ndcg":
                return alpha_ndcg(ranked, aspects or {}, k, relevance_level=relevance_level)
            return aspect_recall(ranked, aspects or {}, k, relevance_level=relevance_level)
        return _BINARY[self.kind](ranked, judgments, self.k, relevance_level)


def _cut(items: Sequence[T], k: int | None) -> Sequence[T]:
    return items if k is None else items[:k]


def _relevant(judgments: Mapping[str, int], relevance_level: int) -> set[str]:
    return {doc_id for doc_id, grade in judgments.items() if grade >= relevance_level}


def dcg(gains: Iterable[float]) -> float:
    """Discounted cumulative gain of gains in rank order (``gain / log2(rank + 1)``)."""
    return sum(gain / math.log2(rank + 1) for rank, gain in enumerate(gains, start=1))


def ndcg(ranked: Sequence[str], judgments: Mapping[str, int], k: int | None = None) -> float:
    """nDCG@k (trec_eval ``ndcg_cut_k``; ``k=None`` is ``ndcg``); 0 when nothing is relevant.

    >>> ndcg(["a", "b"], {"a": 1, "b": 3}, k=2) < ndcg(["b", "a"], {"a": 1, "b": 3}, k=2) == 1.0
    True
    """
    ideal = dcg(_cut(sorted((max(g, 0) for g in judgments.values()), reverse=True), k))
    if ideal <= 0:
        return 0.0
    return dcg(max(judgments.get(doc_id, 0), 0) for doc_id in _cut(ranked, k)) / ideal


def mrr(
    ranked: Sequence[str], judgments: Mapping[str, int], k: int | None = None,
    relevance_level: int = 1,
) -> float:
    """Reciprocal rank of the first relevant document within the top ``k`` (0 if none).

    >>> mrr(["a", "b", "c"], {"c": 1}), mrr(["a", "b", "c"], {"c": 1}, k=2)
    (0.3333333333333333, 0.0)
    """
    relevant = _relevant(judgments, relevance_level)
    for rank, doc_id in enumerate(_cut(ranked, k), start=1):
        if doc_id in relevant:
            return 1.0 / rank
    return 0.0


def recall(
    ranked: Sequence[str], judgments: Mapping[str, int], k: int | None = None,
    relevance_level: int = 1,
) -> float:
    """Share of the relevant documents found in the top ``k`` (0 if nothing is relevant).

    >>> recall(["a", "b", "c"], {"a": 1, "c": 2, "d": 1}, k=2)
    0.3333333333333333
    """
    relevant = _relevant(judgments, relevance_level)
    if not relevant:
        return 0.0
    return sum(doc_id in relevant for doc_id in _cut(ranked, k)) / len(relevant)


def precision(
    ranked: Sequence[str], judgments: Mapping[str, int], k: int | None = None,
    relevance_level: int = 1,
) -> float:
    """Relevant documents in the top ``k`` divided by ``k`` (trec_eval ``P_k``: a short
    ranking is not padded); ``k=None``: relevant share of the whole ranking (``set_P``).

    >>> precision(["a", "b"], {"a": 1}, k=5), precision(["a", "b"], {"a": 1})
    (0.2, 0.5)
    """
    relevant = _relevant(judgments, relevance_level)
    top = _cut(ranked, k)
    denominator = k if k is not None else len(top)
    if denominator == 0:
        return 0.0
    return sum(doc_id in relevant for doc_id in top) / denominator


def average_precision(
    ranked: Sequence[str], judgments: Mapping[str, int], k: int | None = None,
    relevance_level: int = 1,
) -> float:
    """Average precision (trec_eval ``map``; with ``k``, ``map_cut_k``): the precision at
    each relevant document retrieved, summed, over the number of relevant documents.

    >>> average_precision(["a", "b", "c"], {"a": 1, "c": 1, "d": 1})
    0.5555555555555555
    """
    relevant = _relevant(judgments, relevance_level)
    if not relevant:
        return 0.0
    found, total = 0, 0.0
    for rank, doc_id in enumerate(_cut(ranked, k), start=1):
        if doc_id in relevant:
            found += 1
            total += found / rank
    return total / len(relevant)


_BINARY: dict[str, Callable[[Sequence[str], Mapping[str, int], int | None, int], float]] = {
    "mrr": mrr, "recall": recall, "map": average_precision, "p": precision,
}


class EvalReport(BaseModel):
    """Metric values per query and their means over the evaluated queries.

    ``queries_without_qrels``: run queries with no judgments (not evaluated, as in trec_eval);
    ``queries_without_run``: judged queries the run does not cover (also not evaluated).
    """

    metrics: list[str]
    relevance_level: int
    num_queries: int
    mean: dict[str, float]
    per_query: dict[str, dict[str, float]]
    queries_without_qrels: list[str] = Field(default_factory=list)
    queries_without_run: list[str] = Field(default_factory=list)


def parse_metrics(names: Iterable[str | Metric]) -> list[Metric]:
    """Parse metric names, dropping repeats (``ndcg@10`` and ``ndcg_cut_10`` are one metric)."""
    parsed: list[Metric] = []
    for name in names:
        metric = name if isinstance(name, Metric) else Metric.parse(name)
        if metric not in parsed:
            parsed.append(metric)
    if not parsed:
        raise InvalidInput(f"no metrics given; known: {KNOWN_METRICS}")
    return parsed


def evaluate(
    run: Mapping[str, Mapping[str, float]],
    qrels: Mapping[str, Mapping[str, int]],
    metrics: Iterable[str | Metric] = ("ndcg@10", "mrr@10", "recall@20", "map"),
    relevance_level: int = 1,
    aspects: Mapping[str, AspectJudgments] | None = None,
) -> EvalReport:
    """Evaluate a run on the queries it shares with the qrels (trec_eval without ``-c``).
    ``aspects`` (``{qid: {part: {docid: grade}}}``) are the per-part judgments that
    ``alpha_ndcg@K`` and ``aspect_recall@K`` need (a query without any scores 0 there).

    >>> report = evaluate({"q1": {"a": 2.0, "b": 1.0}}, {"q1": {"b": 1}}, ["mrr@10", "p@1"])
    >>> report.mean
    {'mrr@10': 0.5, 'p@1': 0.0}
    """
    parsed = parse_metrics(metrics)
    needing = [m.name for m in parsed if m.kind in ASPECT_KINDS]
    if needing and aspects is None:
        raise InvalidInput(f"{', '.join(needing)} need per-part judgments (qid criterion docid "
                           "grade): pass aspects=")
    evaluated = [qid for qid in run if qid in qrels]
    if not evaluated:
        raise InvalidInput(
            "no query of the run has judgments in the qrels "
            f"(run queries e.g. {list(run)[:3]}, qrels queries e.g. {list(qrels)[:3]})"
        )
    per_query = {
        qid: {m.name: m.compute(ranking(run[qid]), qrels[qid], relevance_level,
                                (aspects or {}).get(qid)) for m in parsed}
        for qid in evaluated
    }
    mean = {
        m.name: sum(values[m.name] for values in per_query.values()) / len(per_query)
        for m in parsed
    }
    return EvalReport(
        metrics=[m.name for m in parsed],
        relevance_level=relevance_level,
        num_queries=len(evaluated),
        mean=mean,
        per_query=per_query,
        queries_without_qrels=[qid for qid in run if qid not in qrels],
        queries_without_run=[qid for qid in qrels if qid not in run],
    )
