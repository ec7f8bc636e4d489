"""Issue 19, item 15: ``max_cost_usd`` on a model without a known price did nothing
(``max_cost_usd=1e-12`` made 9 calls); it is refused, naming ``price=``, unless a price is
given."""

from __future__ import annotations

import pytest

from llm_rerank import BudgetExceeded, InvalidInput, PointwiseReranker
from llm_rerank.budget import Budget
from llm_rerank.testing import fake_llm

DOCS = ["a", "b", "c", "d"]


def test_a_cost_budget_on_an_unpriced_model_is_refused_naming_price() -> None:
    with fake_llm(lambda messages: "likely") as fake:
        ranker = PointwiseReranker(fake.model, cache=False, max_cost_usd=1e-12)
        with pytest.raises(InvalidInput, match=r"max_cost_usd.*price="):
            ranker.rank("q", DOCS)
    assert fake.calls == 0


def test_a_shared_cost_budget_on_an_unpriced_model_is_refused_too() -> None:
    with fake_llm(lambda messages: "likely") as fake:
        ranker = PointwiseReranker(fake.model, cache=False)
        with pytest.raises(InvalidInput, match="price="):
            ranker.rank_batch([("q", DOCS)], budget=Budget(max_cost_usd=1.0))
    assert fake.calls == 0


def test_with_a_price_the_cost_budget_stops_the_query() -> None:
    with fake_llm(lambda messages: "likely") as fake:
        ranker = PointwiseReranker(fake.model, cache=False, max_cost_usd=1e-12,
                                   price=(1e-3, 1e-3), max_concurrency=1)
        with pytest.raises(BudgetExceeded):
            ranker.rank("q", DOCS)
    assert fake.calls == 0


def test_other_budgets_need_no_price() -> None:
    with fake_llm(lambda messages: "likely") as fake:
        results = PointwiseReranker(fake.model, cache=False, max_calls=10,
                                    max_budget_tokens=10_000).rank("q", DOCS)
    assert len(results) == len(DOCS) and fake.calls == len(DOCS)
