"""Metrics against trec_eval (pytrec_eval) and ir_measures on randomized runs and qrels."""

from __future__ import annotations

import math
import random

import pytest

from llm_rerank.errors import InvalidInput
from llm_rerank.eval.metrics import (
    EvalReport,
    Metric,
    average_precision,
    evaluate,
    mrr,
    ndcg,
    precision,
    recall,
)
from llm_rerank.eval.trec import Qrels, Run, ranking

pytrec_eval = pytest.importorskip("pytrec_eval", reason="pytrec-eval-terrier cross-checks")
ir_measures = pytest.importorskip("ir_measures", reason="ir-measures cross-checks")

CUTOFFS = [1, 3, 5, 10, 50]  # 50 is longer than every random ranking
# our metric kind -> trec_eval measure family (None: use the uncut measure)
TREC_NAMES = {"ndcg": "ndcg_cut", "recall": "recall", "map": "map_cut", "p": "P"}
# uncut values: rankings here are short, so @1000 is the whole list. ("ndcg" itself is avoided:
# pytrec_eval 0.5 can hang when many evaluators compute it in one process.)
TREC_UNCUT = {"ndcg": "ndcg_cut_1000", "recall": "recall_1000", "map": "map", "p": "set_P"}


def random_case(rng: random.Random) -> tuple[Run, Qrels]:
    """Ties (few distinct scores), unjudged and negative-graded docs, queries with nothing
    relevant, run-only and qrels-only queries, doc ids whose string order is not numeric."""
    pool = [f"d{n}" for n in range(15)]
    run: Run = {}
    qrels: Qrels = {}
    for q in range(rng.randint(1, 6)):
        qid = f"q{q}"
        if q == 0 or rng.random() < 0.85:  # q0 is in both the run and the qrels
            docs = rng.sample(pool, rng.randint(1, 12))
            run[qid] = {d: float(rng.choice([0, 1, 1.5, 2, 3])) for d in docs}
        if q == 0 or rng.random() < 0.85:
            judged = rng.sample(pool, rng.randint(1, 10))
            top = rng.choice([0, 1, 2, 3])  # 0: a query without relevant documents
            qrels[qid] = {d: rng.choice([-1, *range(top + 1)]) for d in judged}
    return run, qrels


def trec_measures() -> set[str]:
    cuts = ",".join(map(str, [*CUTOFFS, 1000]))
    return {f"{name}.{cuts}" for name in TREC_NAMES.values()} | {"map", "set_P", "recip_rank"}


def truncated(run: Run, k: int) -> Run:
    """The top-k of each query in trec_eval order (for MRR@k via trec_eval's recip_rank)."""
    return {qid: {d: scores[d] for d in ranking(scores)[:k]} for qid, scores in run.items()}


@pytest.mark.parametrize("relevance_level", [1, 2])
def test_metrics_equal_trec_eval_on_random_runs(relevance_level: int) -> None:
    rng = random.Random(1234 + relevance_level)
    metrics = [Metric(kind=kind, k=k) for kind in ("ndcg", "mrr", "recall", "map", "p")
               for k in [*CUTOFFS, None]]
    for _ in range(150):
        run, qrels = random_case(rng)
        report = evaluate(run, qrels, metrics, relevance_level=relevance_level)
        evaluator = pytrec_eval.RelevanceEvaluator(
            qrels, trec_measures(), relevance_level=relevance_level)
        expected = evaluator.evaluate(run)
        assert set(report.per_query) == set(expected)
        for k in CUTOFFS:  # MRR@k == recip_rank of the run cut to k
            cut = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"},
                                                 relevance_level=relevance_level)
            for qid, values in cut.evaluate(truncated(run, k)).items():
                assert report.per_query[qid][f"mrr@{k}"] == pytest.approx(values["recip_rank"])
        for qid, values in expected.items():
            ours = report.per_query[qid]
            assert ours["mrr"] == pytest.approx(values["recip_rank"])
            for kind, trec_name in TREC_NAMES.items():
                assert ours[kind] == pytest.approx(values[TREC_UNCUT[kind]]), (kind, run, qrels)
                for k in CUTOFFS:
                    assert ours[f"{kind}@{k}"] == pytest.approx(values[f"{trec_name}_{k}"]), (
                        kind, k, run, qrels)


def without_ties(run: Run, rng: random.Random) -> Run:
    return {qid: {d: score + rng.random() / 10 for d, score in scores.items()}
            for qid, scores in run.items()}


def test_values_equal_ir_measures() -> None:
    # ir_measures picks a provider per measure; not all of them break score ties the way
    # trec_eval does (its RR@k does not), so these runs have no ties (ties are covered
    # against pytrec_eval above). Some providers also score judged queries missing from
    # the run as 0, so compare the queries we evaluate.
    rng = random.Random(7)
    measures = [ir_measures.nDCG @ 10, ir_measures.RR @ 10, ir_measures.R @ 5,
                ir_measures.AP, ir_measures.P @ 3]
    names = dict(zip(measures, ["ndcg@10", "mrr@10", "recall@5", "map", "p@3"], strict=True))
    for _ in range(60):
        run, qrels = random_case(rng)
        run = without_ties(run, rng)
        report = evaluate(run, qrels, names.values())
        assert report.num_queries == len(set(run) & set(qrels))
        for value in ir_measures.iter_calc(measures, qrels, run):
            if value.query_id in report.per_query:
                ours = report.per_query[value.query_id][names[value.measure]]
                assert ours == pytest.approx(value.value), (value, run, qrels)


def test_ranking_breaks_ties_like_trec_eval() -> None:
    # all tied: trec_eval ranks by doc id descending as strings, so "d2" before "d10"
    scores = {"d10": 1.0, "d2": 1.0, "d1": 1.0, "x": 0.5}
    assert ranking(scores) == ["d2", "d10", "d1", "x"]
    qrels = {"q": {"d10": 1}}
    trec = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate({"q": scores})
    assert trec["q"]["recip_rank"] == 0.5 == mrr(ranking(scores), qrels["q"])


def test_per_ranking_helpers_by_hand() -> None:
    judged = {"a": 3, "b": 0, "c": 1, "z": 2}
    ranked = ["b", "a", "x", "c"]
    ideal = 3 + 2 / math.log2(3) + 1 / math.log2(4)
    assert ndcg(ranked, judged, 3) == pytest.approx((3 / math.log2(3)) / ideal)
    assert ndcg(["a", "z", "c"], judged, 3) == pytest.approx(1.0)
    assert mrr(ranked, judged) == 0.5 and mrr(ranked, judged, k=1) == 0.0
    assert mrr(ranked, judged, relevance_level=3) == 0.5
    assert recall(ranked, judged, 4) == pytest.approx(2 / 3)
    assert recall(ranked, judged, 4, relevance_level=2) == pytest.approx(1 / 2)
    assert precision(ranked, judged, 10) == pytest.approx(0.2)
    assert average_precision(ranked, judged) == pytest.approx((1 / 2 + 2 / 4) / 3)
    assert ndcg(ranked, {"a": 0}, 10) == recall(ranked, {}, 10) == 0.0


@pytest.mark.parametrize(("text", "name"), [
    ("ndcg@10", "ndcg@10"), ("NDCG_cut_10", "ndcg@10"), ("ndcg_cut.5", "ndcg@5"),
    ("nDCG", "ndcg"), ("mrr@10", "mrr@10"), ("RR@10", "mrr@10"), ("recip_rank", "mrr"),
    ("recall@20", "recall@20"), ("recall_20", "recall@20"), ("R@100", "recall@100"),
    ("map", "map"), ("MAP", "map"), ("AP", "map"), ("map_cut_100", "map@100"),
    ("p@5", "p@5"), ("P_5", "p@5"), ("precision@1", "p@1"),
])
def test_metric_names_parse(text: str, name: str) -> None:
    assert Metric.parse(text).name == name


@pytest.mark.parametrize("text", ["bleu", "ndcg@", "ndcg@x", "@10", ""])
def test_unknown_metric_lists_known_ones(text: str) -> None:
    with pytest.raises(InvalidInput, match="ndcg@K"):
        Metric.parse(text)
    with pytest.raises(InvalidInput, match="cutoff must be >= 1"):
        Metric.parse("ndcg@0")


def test_report_names_unevaluated_queries() -> None:
    run = {"q1": {"a": 1.0}, "q2": {"a": 1.0}, "q9": {"a": 1.0}}
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"a": 1}}
    report = evaluate(run, qrels, ["mrr@10", "ndcg_cut_10", "ndcg@10"])
    assert isinstance(report, EvalReport)
    assert report.metrics == ["mrr@10", "ndcg@10"]  # the two spellings are one metric
    assert report.num_queries == 2 and list(report.per_query) == ["q1", "q2"]
    assert report.mean == {"mrr@10": 0.5, "ndcg@10": 0.5}
    assert report.queries_without_qrels == ["q9"]
    assert report.queries_without_run == ["q3"]


def test_evaluate_without_shared_queries_is_an_error() -> None:
    with pytest.raises(InvalidInput, match="no query of the run"):
        evaluate({"q1": {"a": 1.0}}, {"q2": {"a": 1}}, ["map"])
    with pytest.raises(InvalidInput, match="no metrics"):
        evaluate({"q1": {"a": 1.0}}, {"q1": {"a": 1}}, [])
