from __future__ import annotations

import re
from pathlib import Path

import pytest

from llm_rerank import InvalidInput, Usage
from llm_rerank.eval.compare import (
    compare_rankings,
    compare_runs,
    kendall_tau_b,
    overlap_at_k,
    rank_biased_overlap,
    summary_text,
)
from llm_rerank.eval.report import render_html, write_html
from llm_rerank.eval.trec import run_from_rankings

DOCS = [f"d{i}" for i in range(12)]


def test_identical_rankings_agree_fully() -> None:
    stats = compare_rankings(DOCS, DOCS, k=10)
    assert stats == {"kendall_tau": 1.0, "rbo": pytest.approx(1.0), "overlap_at_k": 1.0,
                     "common": 12}


def test_reversed_ranking() -> None:
    stats = compare_rankings(DOCS, DOCS[::-1], k=5)
    assert stats["kendall_tau"] == -1.0
    assert stats["overlap_at_k"] == 0.0  # d0..d4 against d11..d7
    assert 0 < stats["rbo"] < 0.5


def test_hand_worked_examples() -> None:
    # one swap out of 6 pairs among 4 items: (5 - 1) / 6
    assert kendall_tau_b([0, 1, 2, 3], [0, 2, 1, 3]) == pytest.approx(4 / 6)
    # tau-b with ties: x=[1,1,2], y=[1,2,3]: C=2, D=0, ties only in x: 1 -> 2 / sqrt(2 * 3)
    assert kendall_tau_b([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / 6**0.5)
    assert kendall_tau_b([1], [1]) is None
    # RBO_ext of a swapped pair, p=0.9: (1-p)/p * (0 + 1 * p^2) + 1 * p^2 = 0.09 + 0.81
    assert rank_biased_overlap(["a", "b"], ["b", "a"], p=0.9) == pytest.approx(0.9)
    # disjoint rankings share nothing; a prefix is extrapolated to agree
    assert rank_biased_overlap(["a", "b"], ["c", "d"]) == 0.0
    assert rank_biased_overlap(["a"], ["a", "b"], p=0.5) == pytest.approx(1.0)
    # uneven lengths, eq. 32 by hand with p=0.5: S=[a], L=[b, a]: X1=0, X2=1, X_s=0
    # (1-p)/p * (0 + 1/2 * 1/4 + 0) + ((1 - 0)/2 + 0) * 1/4 = 0.125 + 0.125
    assert rank_biased_overlap(["a"], ["b", "a"], p=0.5) == pytest.approx(0.25)
    assert overlap_at_k(["a", "b", "c"], ["c", "x", "a"], k=3) == pytest.approx(2 / 3)
    assert overlap_at_k(["a", "b"], ["b", "a"], k=10) == 1.0  # both shorter than k


def test_tau_matches_scipy_with_ties() -> None:
    stats = pytest.importorskip("scipy.stats", reason="reference implementation")
    x = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]
    y = [2, 7, 1, 8, 2, 8, 1, 8, 2, 8]
    assert kendall_tau_b(x, y) == pytest.approx(stats.kendalltau(x, y).statistic)


def test_tau_uses_common_documents_only() -> None:
    stats = compare_rankings(["a", "x", "b", "c"], ["a", "b", "y", "c"], k=2)
    assert stats["common"] == 3 and stats["kendall_tau"] == 1.0
    assert stats["overlap_at_k"] == 0.5


def test_bad_inputs_raise() -> None:
    with pytest.raises(InvalidInput, match="twice"):
        compare_rankings(["a", "a"], ["a"])
    with pytest.raises(InvalidInput, match="p must be"):
        rank_biased_overlap(["a"], ["a"], p=1.0)
    with pytest.raises(InvalidInput, match="share no query"):
        compare_runs({"q1": {"a": 1.0}}, {"q2": {"a": 1.0}})


def make_runs() -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]],
                         dict[str, dict[str, int]]]:
    run_a = run_from_rankings({"q1": ["a", "b", "c", "d"], "q2": ["e", "f", "g"], "q3": ["z"]})
    run_b = run_from_rankings({"q1": ["c", "a", "b", "d"], "q2": ["e", "f", "g"], "q4": ["z"]})
    qrels = {"q1": {"c": 3, "a": 1}, "q2": {"e": 2}}
    return run_a, run_b, qrels


def test_compare_runs_per_query_and_means() -> None:
    run_a, run_b, qrels = make_runs()
    report = compare_runs(run_a, run_b, qrels, metrics=["ndcg@10", "mrr@10"], k=2,
                          usage_a=Usage(), usage_b=Usage(llm_calls=3, cost_usd=0.01),
                          label_a="bm25", label_b="llm")
    assert report.num_queries == 2
    assert report.queries_only_in_a == ["q3"] and report.queries_only_in_b == ["q4"]
    q1, q2 = report.per_query
    assert q2.kendall_tau == 1.0 and q2.delta == {"ndcg@10": 0.0, "mrr@10": 0.0}
    # q1: c moves from 3 to 1, a and b down by one; 2 of 6 pairs discordant
    assert q1.kendall_tau == pytest.approx(2 / 6)
    assert [(m.doc_id, m.rank_a, m.rank_b, m.change, m.grade) for m in q1.most_moved] == [
        ("c", 3, 1, 2, 3), ("a", 1, 2, -1, 1), ("b", 2, 3, -1, None)]
    assert q1.metrics_a["mrr@10"] == 1.0 and q1.metrics_b["mrr@10"] == 1.0
    assert q1.delta["ndcg@10"] > 0
    assert [d.doc_id for d in q1.top_b] == ["c", "a"] and q1.top_b[0].grade == 3
    assert report.mean_kendall_tau == pytest.approx((2 / 6 + 1) / 2)
    assert report.metric_delta["ndcg@10"] == pytest.approx(q1.delta["ndcg@10"] / 2)
    assert report.metric_wins["ndcg@10"] == {"b_better": 1, "tied": 1, "a_better": 0}
    text = summary_text(report)
    assert text.startswith("A = bm25, B = llm\n2 queries: Kendall tau 0.667")
    assert "B: 3 LLM calls" in text and "ndcg@10: A " in text
    assert "1 query only in A, 1 only in B" in text


def test_compare_runs_without_qrels_has_no_metrics() -> None:
    run_a, run_b, _ = make_runs()
    report = compare_runs(run_a, run_b)
    assert report.metrics == [] and report.metric_delta == {}
    assert all(q.metrics_a == {} for q in report.per_query)
    assert "<svg" in render_html(report)


def test_html_is_self_contained_and_escaped(tmp_path: Path) -> None:
    run_a, run_b, qrels = make_runs()
    run_a["q1"]['<script>alert("x")</script>'] = 0.5
    report = compare_runs(run_a, run_b, qrels, label_a="<b>A</b>", label_b="B & co")
    page = render_html(
        report, title="t <i>", queries={"q1": "what is <script>?"},
        texts={"a": "<script>alert(1)</script> passage", "c": "plain text"},
    )
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page and "&lt;b&gt;A&lt;/b&gt;" in page and "B &amp; co" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert "http" not in page and "<link" not in page and "@import" not in page
    assert 'class="grade g3"' in page  # c is graded 3 in q1's lists
    assert "plain text" in page
    path = write_html(tmp_path / "r.html", report)
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
