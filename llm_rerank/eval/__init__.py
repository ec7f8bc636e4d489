"""Evaluation: TREC runs and qrels, the reranking input formats, and IR metrics."""

from __future__ import annotations

from .io import RerankRequest, read_requests, results_to_jsonl, write_results

__all__ = ["RerankRequest", "read_requests", "results_to_jsonl", "write_results"]
