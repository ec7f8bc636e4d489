"""Compare two rankings or two runs: agreement, metric deltas and the most-moved documents.

Agreement measures, per query:

- Kendall tau-b over the documents both rankings contain (1: same order, -1: reversed);
- rank-biased overlap, the extrapolated ``RBO_ext`` of Webber, Moffat and Zobel (2010),
  top-weighted with persistence ``p`` (0.9: the top 10 carry about 86% of the weight);
- overlap@k: the share of the top ``k`` that both rankings have in common.

>>> stats = compare_rankings(["a", "b", "c"], ["c", "b", "a"], k=2)
>>> stats["kendall_tau"], stats["overlap_at_k"]
(-1.0, 0.5)
>>> compare_rankings(["a", "b"], ["a", "b"])["rbo"]
1.0
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from ..errors import InvalidInput
from ..models import Usage
from ..wording import counted
from .metrics import parse_metrics
from .trec import ranking

RunScores = Mapping[str, Mapping[str, float]]
Judgments = Mapping[str, Mapping[str, int]]


def _check_unique(ranked: Sequence[str], side: str) -> None:
    if len(set(ranked)) != len(ranked):
        raise InvalidInput(f"ranking {side} lists a document twice")


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b of two paired score lists (ties allowed); ``None`` when undefined
    (fewer than two items, or one side all tied).

    >>> kendall_tau_b([1, 2, 3], [1, 2, 3]), kendall_tau_b([1, 2, 3], [3, 2, 1])
    (1.0, -1.0)
    >>> round(kendall_tau_b([1, 2, 3, 4], [1, 3, 2, 4]), 4)
    0.6667
    """
    if len(x) != len(y):
        raise InvalidInput(f"kendall_tau_b needs paired lists, got {len(x)} and {len(y)} items")
    concordant = discordant = ties_x = ties_y = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    pairs_x = concordant + discordant + ties_y  # pairs not tied in x
    pairs_y = concordant + discordant + ties_x  # pairs not tied in y
    if pairs_x == 0 or pairs_y == 0:
        return None
    tau = float((concordant - discordant) / (pairs_x * pairs_y) ** 0.5)
    return max(-1.0, min(1.0, tau))


def rank_biased_overlap(a: Sequence[str], b: Sequence[str], p: float = 0.9) -> float:
    """Extrapolated rank-biased overlap ``RBO_ext`` (Webber et al. 2010, eq. 32) of two
    rankings without repeats, possibly of different lengths and with different documents.

    >>> rank_biased_overlap(["a", "b"], ["b", "a"])
    0.9
    >>> rank_biased_overlap(["a"], ["a", "b"], p=0.5)  # a prefix: assumed to agree
    1.0
    """
    if not 0 < p < 1:
        raise InvalidInput(f"RBO persistence p must be in (0, 1), got {p}")
    _check_unique(a, "a")
    _check_unique(b, "b")
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    s, length = len(short), len(long_)
    if s == 0:
        return 1.0 if length == 0 else 0.0
    seen_short: set[str] = set()
    seen_long: set[str] = set()
    overlap = 0
    weighted = 0.0  # sum over d of X_d / d * p^d, plus the extrapolation for d > s
    overlap_at_s = 0
    for depth in range(1, length + 1):
        if depth <= s:
            item = short[depth - 1]
            overlap += item in seen_long
            seen_short.add(item)
        item = long_[depth - 1]
        overlap += item in seen_short
        seen_long.add(item)
        if depth == s:
            overlap_at_s = overlap
        weighted += overlap / depth * p**depth
        if depth > s:
            weighted += overlap_at_s * (depth - s) / (s * depth) * p**depth
    tail = ((overlap - overlap_at_s) / length + overlap_at_s / s) * p**length
    return float(min(1.0, (1 - p) / p * weighted + tail))


def overlap_at_k(a: Sequence[str], b: Sequence[str], k: int = 10) -> float:
    """Share of the top ``k`` shared by both rankings (divided by ``k``, or by the longer
    ranking's length when both are shorter than ``k``); 1.0 for two empty rankings.

    >>> overlap_at_k(["a", "b", "c"], ["b", "d", "a"], k=2)
    0.5
    """
    if k < 1:
        raise InvalidInput(f"k must be >= 1, got {k}")
    depth = min(k, max(len(a), len(b)))
    if depth == 0:
        return 1.0
    return len(set(a[:k]) & set(b[:k])) / depth


def compare_rankings(a: Sequence[str], b: Sequence[str], k: int = 10,
                     p: float = 0.9) -> dict[str, Any]:
    """Agreement of two rankings of doc ids (best first).

    Returns ``kendall_tau`` (tau-b over the common documents, ``None`` if fewer than 2),
    ``rbo`` (``RBO_ext`` with persistence ``p``), ``overlap_at_k`` and ``common`` (how many
    documents both contain).

    >>> compare_rankings(["a", "b", "c", "d"], ["a", "c", "b", "e"], k=2)["common"]
    3
    """
    _check_unique(a, "a")
    _check_unique(b, "b")
    position_b = {doc_id: rank for rank, doc_id in enumerate(b)}
    common = [doc_id for doc_id in a if doc_id in position_b]
    tau = kendall_tau_b(list(range(len(common))), [position_b[doc_id] for doc_id in common])
    return {
        "kendall_tau": tau,
        "rbo": rank_biased_overlap(a, b, p),
        "overlap_at_k": overlap_at_k(a, b, k),
        "common": len(common),
    }


class RankedDoc(BaseModel):
    """A document in a top-k list, with its relevance grade when qrels are known."""

    doc_id: str
    grade: int | None = None


class MovedDocument(BaseModel):
    """A document whose rank differs between the runs; ``change = rank_a - rank_b``
    (positive: run B ranks it higher)."""

    doc_id: str
    rank_a: int
    rank_b: int
    change: int
    grade: int | None = None


class QueryComparison(BaseModel):
    """Agreement, metric values and moved documents for one query."""

    query_id: str
    num_docs_a: int
    num_docs_b: int
    common: int
    kendall_tau: float | None
    rbo: float
    overlap_at_k: float
    metrics_a: dict[str, float] = Field(default_factory=dict)
    metrics_b: dict[str, float] = Field(default_factory=dict)
    delta: dict[str, float] = Field(default_factory=dict)
    most_moved: list[MovedDocument] = Field(default_factory=list)
    top_a: list[RankedDoc] = Field(default_factory=list)
    top_b: list[RankedDoc] = Field(default_factory=list)


class ComparisonReport(BaseModel):
    """Two runs compared on the queries they share; ``metric_*`` need qrels.

    Means skip undefined values (a query with one common document has no tau; a query
    without judgments has no metrics). ``metric_wins[m]`` counts queries where B is
    better, tied, or worse on ``m``. ``usage_a``/``usage_b``: what each side cost, when
    known (their ``latency_s`` is summed over queries); ``wall_time_a``/``wall_time_b``: the
    seconds each side took to rank all queries, when known.
    """

    label_a: str = "A"
    label_b: str = "B"
    k: int
    rbo_p: float
    metrics: list[str]
    num_queries: int
    queries_only_in_a: list[str] = Field(default_factory=list)
    queries_only_in_b: list[str] = Field(default_factory=list)
    mean_kendall_tau: float | None
    mean_rbo: float
    mean_overlap_at_k: float
    num_judged_queries: int = 0
    metric_a: dict[str, float] = Field(default_factory=dict)
    metric_b: dict[str, float] = Field(default_factory=dict)
    metric_delta: dict[str, float] = Field(default_factory=dict)
    metric_wins: dict[str, dict[str, int]] = Field(default_factory=dict)
    usage_a: Usage | None = None
    usage_b: Usage | None = None
    wall_time_a: float | None = None
    wall_time_b: float | None = None
    per_query: list[QueryComparison]


def _mean(values: Iterable[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return sum(known) / len(known) if known else None


def _most_moved(a: list[str], b: list[str], judgments: Mapping[str, int] | None,
                count: int = 5) -> list[MovedDocument]:
    rank_b = {doc_id: rank for rank, doc_id in enumerate(b, start=1)}
    moved = [
        MovedDocument(doc_id=doc_id, rank_a=rank_a, rank_b=rank_b[doc_id],
                      change=rank_a - rank_b[doc_id],
                      grade=None if judgments is None else judgments.get(doc_id))
        for rank_a, doc_id in enumerate(a, start=1)
        if doc_id in rank_b and rank_a != rank_b[doc_id]
    ]
    moved.sort(key=lambda m: (-abs(m.change), min(m.rank_a, m.rank_b)))
    return moved[:count]


def compare_runs(
    run_a: RunScores,
    run_b: RunScores,
    qrels: Judgments | None = None,
    metrics: Iterable[str] = ("ndcg@10", "mrr@10"),
    k: int = 10,
    *,
    rbo_p: float = 0.9,
    usage_a: Usage | None = None,
    usage_b: Usage | None = None,
    wall_time_a: float | None = None,
    wall_time_b: float | None = None,
    label_a: str = "A",
    label_b: str = "B",
) -> ComparisonReport:
    """Compare two runs (``qid -> doc id -> score``) query by query, in trec_eval order.

    >>> report = compare_runs({"q": {"a": 2, "b": 1}}, {"q": {"a": 1, "b": 2}},
    ...                       qrels={"q": {"b": 1}}, metrics=["mrr@10"])
    >>> report.mean_kendall_tau, report.metric_delta
    (-1.0, {'mrr@10': 0.5})
    """
    if k < 1:
        raise InvalidInput(f"k must be >= 1, got {k}")
    parsed = parse_metrics(metrics) if qrels is not None else []
    shared = [qid for qid in run_a if qid in run_b]
    if not shared:
        raise InvalidInput(
            f"the runs share no query (A e.g. {list(run_a)[:3]}, B e.g. {list(run_b)[:3]})"
        )
    per_query = []
    for qid in shared:
        ranked_a, ranked_b = ranking(run_a[qid]), ranking(run_b[qid])
        judgments = qrels.get(qid) if qrels is not None else None
        stats = compare_rankings(ranked_a, ranked_b, k, rbo_p)
        query = QueryComparison(
            query_id=qid, num_docs_a=len(ranked_a), num_docs_b=len(ranked_b), **stats,
            most_moved=_most_moved(ranked_a, ranked_b, judgments),
            top_a=[RankedDoc(doc_id=d, grade=None if judgments is None else judgments.get(d))
                   for d in ranked_a[:k]],
            top_b=[RankedDoc(doc_id=d, grade=None if judgments is None else judgments.get(d))
                   for d in ranked_b[:k]],
        )
        if judgments is not None:
            for metric in parsed:
                value_a = metric.compute(ranked_a, judgments)
                value_b = metric.compute(ranked_b, judgments)
                query.metrics_a[metric.name] = value_a
                query.metrics_b[metric.name] = value_b
                query.delta[metric.name] = value_b - value_a
        per_query.append(query)
    judged = [q for q in per_query if q.metrics_a]
    names = [metric.name for metric in parsed]
    report = ComparisonReport(
        label_a=label_a, label_b=label_b, k=k, rbo_p=rbo_p, metrics=names,
        num_queries=len(per_query),
        queries_only_in_a=[qid for qid in run_a if qid not in run_b],
        queries_only_in_b=[qid for qid in run_b if qid not in run_a],
        mean_kendall_tau=_mean(q.kendall_tau for q in per_query),
        mean_rbo=sum(q.rbo for q in per_query) / len(per_query),
        mean_overlap_at_k=sum(q.overlap_at_k for q in per_query) / len(per_query),
        num_judged_queries=len(judged),
        usage_a=usage_a, usage_b=usage_b, wall_time_a=wall_time_a, wall_time_b=wall_time_b,
        per_query=per_query,
    )
    if judged:
        for name in names:
            report.metric_a[name] = sum(q.metrics_a[name] for q in judged) / len(judged)
            report.metric_b[name] = sum(q.metrics_b[name] for q in judged) / len(judged)
            report.metric_delta[name] = report.metric_b[name] - report.metric_a[name]
            deltas = [q.delta[name] for q in judged]
            report.metric_wins[name] = {
                "b_better": sum(d > 1e-12 for d in deltas),
                "tied": sum(abs(d) <= 1e-12 for d in deltas),
                "a_better": sum(d < -1e-12 for d in deltas),
            }
    return report


def summary_text(report: ComparisonReport) -> str:
    """A few lines for a terminal: agreement, metric means and deltas, cost per side.

    >>> print(summary_text(compare_runs({"q": {"a": 2, "b": 1}}, {"q": {"a": 2, "b": 1}},
    ...                                 label_a="bm25", label_b="llm")))
    A = bm25, B = llm
    1 query: Kendall tau 1.000, RBO(p=0.9) 1.000, overlap@10 1.000
    """

    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    lines = [
        f"A = {report.label_a}, B = {report.label_b}",
        f"{counted(report.num_queries, 'query')}: Kendall tau {fmt(report.mean_kendall_tau)}, "
        f"RBO(p={report.rbo_p:g}) {fmt(report.mean_rbo)}, "
        f"overlap@{report.k} {fmt(report.mean_overlap_at_k)}",
    ]
    for name in report.metric_delta:
        wins = report.metric_wins[name]
        lines.append(
            f"{name}: A {report.metric_a[name]:.4f}  B {report.metric_b[name]:.4f}  "
            f"delta {report.metric_delta[name]:+.4f}  (B better on {wins['b_better']}, "
            f"tied {wins['tied']}, worse on {wins['a_better']} of {report.num_judged_queries})"
        )
    for side, usage, wall in (("A", report.usage_a, report.wall_time_a),
                              ("B", report.usage_b, report.wall_time_b)):
        if usage is not None:
            tokens = usage.prompt_tokens + usage.completion_tokens
            took = f"wall time {wall:.1f} s, " if wall is not None else ""
            lines.append(
                f"{side}: {counted(usage.llm_calls, 'LLM call')}, {counted(tokens, 'token')}, "
                f"${usage.cost_usd:.4f}, "
                f"{took}latency {usage.latency_s:.1f} s summed over queries"
            )
    if report.queries_only_in_a or report.queries_only_in_b:
        lines.append(
            f"not compared: {counted(len(report.queries_only_in_a), 'query')} only in A, "
            f"{len(report.queries_only_in_b)} only in B"
        )
    return "\n".join(lines)
