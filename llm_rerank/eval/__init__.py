"""Evaluation: TREC runs and qrels, the reranking input formats, and IR metrics."""

from __future__ import annotations

from .aspects import alpha_ndcg, aspect_recall
from .datasets import data_dir_from_env, load_noveleval, load_trec_dl19
from .io import RerankRequest, read_requests, results_to_jsonl, write_results
from .metrics import (
    EvalReport,
    Metric,
    average_precision,
    evaluate,
    mrr,
    ndcg,
    precision,
    recall,
)
from .trec import Qrels, Run, ranking, read_qrels, read_run, run_from_rankings, write_run

__all__ = [
    "EvalReport",
    "Metric",
    "Qrels",
    "RerankRequest",
    "Run",
    "alpha_ndcg",
    "aspect_recall",
    "average_precision",
    "data_dir_from_env",
    "evaluate",
    "load_noveleval",
    "load_trec_dl19",
    "mrr",
    "ndcg",
    "precision",
    "ranking",
    "read_qrels",
    "read_requests",
    "read_run",
    "recall",
    "results_to_jsonl",
    "run_from_rankings",
    "write_results",
    "write_run",
]
