"""Whatever the LLM answers, or fails to, every strategy returns each document exactly once."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_rerank import get_reranker
from llm_rerank.testing import fake_llm

STRATEGIES: dict[str, dict[str, Any]] = {
    "pointwise": {},
    "pairwise-allpair": {"method": "allpair"},
    "pairwise-heapsort": {"method": "heapsort", "k": 3},
    "pairwise-sliding": {"method": "sliding", "k": 2, "both_orders": False},
    "listwise": {"window_size": 3, "step": 2},
    "setwise": {"num_children": 2, "k": 3},
}
PLAUSIBLE = ["Passage A", "passage b", "C", "[2] > [1] > [3]", "[9] > [0]", "very likely",
             "unlikely", "<think>Passage B", "Passage Z", "likely likely", ""]
FAIL = "<raise>"
answers = st.one_of(st.sampled_from([*PLAUSIBLE, FAIL]), st.text(max_size=30))


@pytest.mark.parametrize("variant", list(STRATEGIES))
@given(size=st.integers(1, 7), script=st.lists(answers, min_size=1, max_size=12))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_document_comes_back_exactly_once(variant: str, size: int, script: list[str]) -> None:
    replies = iter(script * 100)

    def respond(messages: list[dict[str, str]]) -> str:
        reply = next(replies, "")
        if reply == FAIL:
            raise RuntimeError("simulated outage")
        return reply

    with fake_llm(respond) as fake:
        reranker = get_reranker(variant.split("-")[0], model=fake.model, cache=False,
                                max_retries=0, on_error="keep_order", **STRATEGIES[variant])
        results = reranker.rank("q", [f"doc {i}" for i in range(size)])
    assert sorted(r.index for r in results) == list(range(size))
    assert [r.rank for r in results] == list(range(1, size + 1))
    if FAIL not in script:
        assert not results.errors
    if size == 1:
        assert fake.calls == 0
