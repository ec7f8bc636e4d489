"""Prometheus metrics of one server, in a registry of its own (so several apps can live in one
process). With ``--workers N`` the ``serve`` command sets ``PROMETHEUS_MULTIPROC_DIR`` and
``/metrics`` adds up the counters of every worker.

>>> metrics = Metrics()
>>> metrics.observe_request("/v2/rerank", 200, 0.05)
>>> text = metrics.render().decode()
>>> 'llm_rerank_http_requests_total{route="/v2/rerank",status="200"} 1.0' in text
True
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from ..models import Usage

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    """Requests by route and status, latency, errors by type, and LLM usage by model."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("llm_rerank_http_requests", "HTTP requests by route and status",
                                ["route", "status"], registry=r)
        self.latency = Histogram(
            "llm_rerank_http_request_duration_seconds", "HTTP request latency", ["route"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120), registry=r)
        self.errors = Counter("llm_rerank_http_errors", "error answers by route and type",
                              ["route", "type"], registry=r)
        self.llm_calls = Counter("llm_rerank_llm_calls", "LLM calls made", ["model"], registry=r)
        self.cache_hits = Counter("llm_rerank_cache_hits", "LLM answers read from the cache",
                                  ["model"], registry=r)
        self.tokens = Counter("llm_rerank_llm_tokens", "LLM tokens", ["model", "kind"],
                              registry=r)
        self.cost = Counter("llm_rerank_llm_cost_usd", "LLM cost in US dollars", ["model"],
                            registry=r)
        self.documents = Counter("llm_rerank_documents_ranked", "documents ranked", ["model"],
                                 registry=r)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def observe_error(self, route: str, kind: str) -> None:
        self.errors.labels(route, kind).inc()

    def observe_usage(self, model: str, usage: Usage, documents: int) -> None:
        self.llm_calls.labels(model).inc(usage.llm_calls)
        self.cache_hits.labels(model).inc(usage.cache_hits)
        self.tokens.labels(model, "prompt").inc(usage.prompt_tokens)
        self.tokens.labels(model, "completion").inc(usage.completion_tokens)
        self.cost.labels(model).inc(usage.cost_usd)
        self.documents.labels(model).inc(documents)

    def render(self) -> bytes:
        """The Prometheus text exposition (every worker's, in multiprocess mode)."""
        folder = os.environ.get(MULTIPROC_ENV)
        if folder:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
