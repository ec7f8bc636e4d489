"""Rate limits per model (issue 17): max_rpm / max_tpm waited for, in one process or across
processes through a real Redis; a provider's Retry-After holds everyone back."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import pytest
from graded_docs import GRADES, docs
from integration_data import QRELS, REQUEST, REQUESTS
from redis_server import free_port, redis_session_url, redis_url
from test_call_path import litellm_error

from llm_rerank import PointwiseReranker, Reranker, get_reranker
from llm_rerank.ratelimit import RateLimit
from llm_rerank.testing import JudgeServer, fake_llm

__all__ = ["redis_session_url", "redis_url"]  # fixtures used below


def judged(server: JudgeServer, **options: Any) -> Reranker:
    """Pointwise on the judge, posted directly (little client work between the limiter's
    booked start and the request's arrival)."""
    return get_reranker("pointwise", model="openai/judge", api_base=server.url, api_key="x",
                        cache=False, transport="direct", use_logprobs=False,
                        max_concurrency=16, **options)


def most_in_window(times: list[float], window: float) -> int:
    """The most call starts seen within any ``window`` seconds (unlimited: all of them)."""
    ordered = sorted(times)
    return max(sum(1 for t in ordered if start <= t < start + window) for start in ordered)


def spaced(times: list[float], interval: float) -> bool:
    """Starts an ``interval`` apart on average, with no burst (the provider sees them after
    the client's own work per call, which jitters on a busy machine)."""
    ordered = sorted(times)
    return (ordered[-1] - ordered[0] >= (len(ordered) - 1) * interval - 0.03
            and most_in_window(ordered, 2 * interval) <= 4)


def timed(respond_text: str, started: list[float]):  # type: ignore[no-untyped-def]
    def respond(messages: list[dict[str, str]]) -> str:
        started.append(time.monotonic())
        return respond_text
    return respond


def test_local_max_rpm_spaces_call_starts() -> None:
    with JudgeServer(REQUESTS, QRELS) as server:
        results = judged(server, max_rpm=1200).rank(REQUEST.query, REQUEST.documents[:8])
    assert len(results) == 8 and len(server.arrivals) == 8
    assert spaced(server.arrivals, 0.05)  # one start every 50 ms, never a burst


def test_two_clients_share_max_rpm_through_the_store(redis_url: str) -> None:
    async def both(server: JudgeServer) -> None:
        rerankers = [judged(server, max_rpm=1200, rate_limit_store=redis_url)
                     for _ in range(2)]
        await asyncio.gather(*(r.arank(REQUEST.query, REQUEST.documents[:6])
                               for r in rerankers))

    with JudgeServer(REQUESTS, QRELS) as server:
        asyncio.run(both(server))
    assert len(server.arrivals) == 12 and spaced(server.arrivals, 0.05)


def test_max_tpm_spaces_calls_by_their_tokens() -> None:
    limit = RateLimit(f"test/{uuid.uuid4()}", max_tpm=6000)  # 100 tokens a second
    assert limit.schedule(tokens=50) == pytest.approx(0.0, abs=0.01)
    assert limit.schedule(tokens=50) == pytest.approx(0.5, abs=0.02)
    limit.adjust(estimated=50, used=150)  # the last call used 100 tokens more: 1 s more
    assert limit.schedule(tokens=10) == pytest.approx(2.0, abs=0.03)


def test_max_tpm_through_the_store(redis_url: str) -> None:
    model = f"test/{uuid.uuid4()}"
    first, second = (RateLimit(model, max_tpm=6000, store=redis_url) for _ in range(2))
    assert first.schedule(tokens=50) == pytest.approx(0.0, abs=0.01)
    assert second.schedule(tokens=50) == pytest.approx(0.5, abs=0.02)
    second.adjust(estimated=50, used=150)
    assert first.schedule(tokens=10) == pytest.approx(2.0, abs=0.03)


def test_a_providers_retry_after_wins_and_holds_back_every_sharer(redis_url: str) -> None:
    started: list[float] = []

    def respond(messages: list[dict[str, str]]) -> str:
        started.append(time.monotonic())
        if len(started) == 1:
            raise litellm_error("RateLimitError", 429, headers={"retry-after": "0.6"})
        return "likely"

    with fake_llm(respond) as fake:
        reranker = PointwiseReranker(fake.model, cache=False, use_logprobs=False,
                                     max_rpm=6000, rate_limit_store=redis_url, max_concurrency=1)
        results = reranker.rank("q", docs(GRADES[:2]))
        other = RateLimit(fake.model, max_rpm=6000, store=redis_url)
        other.defer(0.5)
        waited = other.schedule()
    assert results.usage.retries == 1 and len(started) == 3
    assert started[1] - started[0] >= 0.55  # nothing starts before the Retry-After
    assert waited == pytest.approx(0.5, abs=0.05)


def test_a_failing_store_falls_back_to_the_local_clock(caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("redis")
    store = f"redis://127.0.0.1:{free_port()}/0"
    with caplog.at_level(logging.WARNING, "llm_rerank.ratelimit"), \
            JudgeServer(REQUESTS, QRELS) as server:
        reranker = judged(server, max_rpm=1200, rate_limit_store=store)
        results = reranker.rank(REQUEST.query, REQUEST.documents[:4])
    assert len(results) == 4 and spaced(server.arrivals, 0.05)
    assert len([r for r in caplog.records if "rate-limit store" in r.getMessage()]) == 1


def test_no_429s_from_a_rate_limited_provider(redis_url: str) -> None:
    with JudgeServer(REQUESTS, QRELS, max_rpm=300) as server:  # a bucket of 5, refilled 5 a second
        unlimited = judged(server).rank(REQUEST.query, REQUEST.documents)
        assert server.stats().rate_limited > 0 and unlimited.usage.retries > 0  # it does 429
        time.sleep(1.1)  # the provider's bucket refills
        server.reset_stats()
        results = judged(server, max_rpm=300, rate_limit_store=redis_url).rank(
            REQUEST.query, REQUEST.documents)
        stats = server.stats()
    assert len(results) == len(REQUEST.documents) and stats.rate_limited == 0
    assert results.usage.retries == 0
