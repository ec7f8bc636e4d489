"""Shared budgets in Redis (issue 17): one ledger across processes, atomic reservations,
failing closed, against a real redis-server."""

from __future__ import annotations

import asyncio
import time

import pytest
from graded_docs import GRADES, docs
from redis_server import RedisServer, free_port, own_redis, redis_session_url, redis_url
from test_call_path import pointwise_answer

from llm_rerank import PointwiseReranker
from llm_rerank.budget import Budget
from llm_rerank.errors import BudgetExceeded, StoreUnavailable
from llm_rerank.models import RankedResults
from llm_rerank.testing import fake_llm
from llm_rerank.transports.litellm import import_litellm

__all__ = ["own_redis", "redis_session_url", "redis_url"]  # fixtures used below


def two_processes(model: str, store: str, per_process_limits: dict[str, object],
                  on_budget: str = "keep_order", **options: object
                  ) -> list[list[RankedResults | Exception]]:
    """Two rerankers, each with its own Budget object on one ledger (as two processes have),
    ranking 2 queries of 20 documents each, all at once (32 calls in flight each)."""
    async def one() -> list[RankedResults | Exception]:
        reranker = PointwiseReranker(model, cache=False, on_budget=on_budget,
                                     max_concurrency=32, use_logprobs=False, **options)
        budget = Budget(store=store, name="team-a", **per_process_limits)  # type: ignore[arg-type]
        return await reranker.arank_batch([("q1", docs(GRADES)), ("q2", docs(GRADES))],
                                          budget=budget, return_exceptions=True)

    async def both() -> list[list[RankedResults | Exception]]:
        return list(await asyncio.gather(one(), one()))

    return asyncio.run(both())


def test_max_calls_holds_across_two_clients(redis_url: str) -> None:
    with fake_llm(pointwise_answer, latency=0.01) as fake:
        outcomes = two_processes(fake.model, redis_url, {"max_calls": 40})
    assert fake.calls == 40
    for results in (r for batch in outcomes for r in batch):
        assert isinstance(results, RankedResults)
        assert sorted(r.index for r in results) == list(range(20))
    assert sum(r.stopped == "budget" for batch in outcomes for r in batch
               if isinstance(r, RankedResults)) >= 2
    note = next(r.budget_note for batch in outcomes for r in batch
                if isinstance(r, RankedResults) and r.stopped)
    assert "max_calls=40 of the shared budget 'team-a'" in (note or "")
    assert Budget(store=redis_url, name="team-a").spent()[0] == 40


def test_on_budget_raise_gives_budget_exceeded_with_the_partial_ranking(redis_url: str) -> None:
    with fake_llm(pointwise_answer) as fake:
        outcomes = two_processes(fake.model, redis_url, {"max_calls": 40}, on_budget="raise")
    errors = [r for batch in outcomes for r in batch if isinstance(r, Exception)]
    assert fake.calls == 40 and errors and all(isinstance(e, BudgetExceeded) for e in errors)
    assert all(e.results is not None and len(e.results) == 20 for e in errors
               if isinstance(e, BudgetExceeded))


def test_max_cost_holds_within_one_calls_estimate(redis_url: str) -> None:
    with fake_llm(pointwise_answer) as fake:
        import_litellm().register_model({fake.model: {
            "input_cost_per_token": 0.001, "output_cost_per_token": 0.002,
            "litellm_provider": "fake", "mode": "chat", "max_input_tokens": 100_000}})
        outcomes = two_processes(fake.model, redis_url, {"max_cost_usd": 0.5})
        per_call = max(r.usage.cost_usd / max(r.usage.llm_calls, 1)
                       for batch in outcomes for r in batch if isinstance(r, RankedResults))
    spent = Budget(store=redis_url, name="team-a").spent()[2]
    total = sum(r.usage.cost_usd for batch in outcomes for r in batch
                if isinstance(r, RankedResults))
    assert 0 < fake.calls < 80 and abs(spent - total) < 1e-9  # settled to what was spent
    assert spent <= 0.5 + per_call


def test_the_ledger_counts_real_tokens_and_resets(redis_url: str) -> None:
    budget = Budget(max_calls=100, store=redis_url, name="tokens")
    with fake_llm(pointwise_answer) as fake:
        results = PointwiseReranker(fake.model, cache=False, use_logprobs=False).rank_batch(
            [("q", docs(GRADES[:4]))], budget=budget)[0]
    calls, tokens, _ = budget.spent()
    assert calls == 4 == budget.calls
    assert tokens == results.usage.prompt_tokens + results.usage.completion_tokens > 0
    budget.reset()
    assert budget.spent() == (0, 0, 0.0)


def test_an_unreachable_store_fails_closed_naming_it() -> None:
    pytest.importorskip("redis")
    url = f"redis://:secret-pass@127.0.0.1:{free_port()}/0"
    budget = Budget(max_calls=10, store=url, name="team-a")
    with fake_llm(pointwise_answer) as fake:
        reranker = PointwiseReranker(fake.model, cache=False, on_error="keep_order",
                                     use_logprobs=False)
        with pytest.raises(StoreUnavailable) as raised:
            reranker.rank_batch([("q", docs(GRADES[:3]))], budget=budget)
    message = str(raised.value)
    assert fake.calls == 0 and "team-a" in message and "secret-pass" not in message
    assert f"127.0.0.1:{url.rsplit(':', 1)[1]}" in message and "no call was made" in message


def test_store_down_then_back_the_same_budget_recovers(own_redis: RedisServer) -> None:
    budget = Budget(max_calls=100, store=own_redis.url, name="team-a")
    with fake_llm(pointwise_answer) as fake:
        reranker = PointwiseReranker(fake.model, cache=False, use_logprobs=False)
        batch = [("q", docs(GRADES[:2]))]
        reranker.rank_batch(batch, budget=budget)
        own_redis.stop()
        with pytest.raises(StoreUnavailable):
            reranker.rank_batch(batch, budget=budget)
        own_redis.start()
        results = reranker.rank_batch(batch, budget=budget)[0]
    assert results.usage.llm_calls == 2 and fake.calls == 4
    assert budget.spent()[0] == 2  # the restarted Redis kept nothing (no persistence)


def test_serve_answers_503_when_the_budget_store_is_down_and_402_when_spent(
        redis_url: str) -> None:
    from starlette.testclient import TestClient

    from llm_rerank.server.app import create_app
    from llm_rerank.server.config import ServerSettings

    body = {"query": "q", "documents": docs(GRADES[:3])}
    with fake_llm(pointwise_answer) as fake:
        reranker = PointwiseReranker(fake.model, cache=False, use_logprobs=False)
        down = ServerSettings(budget_store=f"redis://127.0.0.1:{free_port()}/0",
                              budget_name="team-a", budget_max_calls=5)
        answer = TestClient(create_app({"p": reranker}, settings=down)).post(
            "/v2/rerank", json=body)
        assert answer.status_code == 503 and "team-a" in answer.json()["message"]
        assert answer.headers["retry-after"] and fake.calls == 0
        capped = ServerSettings(budget_store=redis_url, budget_name="team-a",
                                budget_max_calls=5)
        client = TestClient(create_app({"p": reranker}, settings=capped))
        assert client.post("/v2/rerank", json=body).status_code == 200
        spent = client.post("/v2/rerank", json=body)
    assert spent.status_code == 402 and "this server's budget" in spent.json()["message"]
    assert fake.calls == 5


def test_reservations_are_atomic_across_threads(redis_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def grab(_: int) -> bool:
        return Budget(max_calls=25, store=redis_url, name="race").reserve() is not None

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        granted = sum(pool.map(grab, range(200)))
    assert granted == 25 and time.monotonic() - started < 10
