from __future__ import annotations

import re

import pytest
from graded_docs import BEST_FIRST, GRADES, N, docs, prompt

from llm_rerank import InvalidInput, LLMCallError, PairwiseReranker, get_reranker
from llm_rerank.strategies.pairwise import Method
from llm_rerank.testing import fake_llm

PASSAGE = re.compile(r"^Passage ([AB]): doc (\d+) grade (\d+)", re.MULTILINE)


def grades(messages: list[dict[str, str]]) -> dict[str, int]:
    found = {label: int(grade) for label, _, grade in PASSAGE.findall(prompt(messages))}
    assert set(found) == {"A", "B"}, prompt(messages)
    return found


def perfect_judge(messages: list[dict[str, str]]) -> str:
    shown = grades(messages)
    return "Passage A" if shown["A"] > shown["B"] else "Passage B"


def distinct_prompts(requests: list[dict[str, object]]) -> int:
    return len({prompt(request["messages"]) for request in requests})  # type: ignore[arg-type]


async def test_allpair_perfect_judge_full_order_and_win_rates() -> None:
    grade_list = [3, 0, 7, 5, 1, 6, 2, 4]
    with fake_llm(perfect_judge) as fake:
        results = await PairwiseReranker(fake.model, method="allpair", cache=False).arank(
            "q", docs(grade_list))
    assert [r.index for r in results] == [2, 5, 3, 7, 0, 6, 4, 1]
    assert fake.calls == results.usage.llm_calls == distinct_prompts(fake.requests) == 8 * 7
    assert [r.score for r in results] == [(7 - rank) / 7 for rank in range(8)]
    assert results.results[0].details == {"comparisons": 7, "wins": 7, "ties": 0,
                                          "score_kind": "win_rate"}
    assert [r.relevance_score for r in results] == [r.score for r in results]


@pytest.mark.parametrize("method", ["heapsort", "sliding"])
async def test_top_k_methods_with_a_perfect_judge(method: Method) -> None:
    with fake_llm(perfect_judge) as fake:
        results = await PairwiseReranker(fake.model, method=method, k=10, cache=False).arank(
            "q", docs(GRADES))
    order = [r.index for r in results]
    assert order[:10] == BEST_FIRST[:10]
    assert sorted(order) == list(range(N))
    assert [r.score for r in results] == [1 - rank / N for rank in range(N)]  # rank-derived
    assert all(r.details["score_kind"] == "rank" for r in results)
    assert distinct_prompts(fake.requests) == fake.calls, "the memo asks no pair twice"
    if method == "heapsort":
        assert order[10:] == sorted(BEST_FIRST[10:]), "the rest keeps input order"


async def test_call_counts_for_twenty_documents() -> None:
    """N=20, k=10, both orders: allpair 380; heapsort and sliding stay under their bounds."""
    counts = {}
    for method in ("allpair", "heapsort", "sliding"):
        with fake_llm(perfect_judge) as fake:
            await PairwiseReranker(fake.model, method=method, k=10, cache=False).arank(
                "q", docs(GRADES))
        counts[method] = fake.calls
    assert counts["allpair"] == 380
    assert counts["heapsort"] <= 2 * (2 * N + 2 * 10 * 5)
    assert counts["sliding"] <= 2 * sum(N - 1 - settled for settled in range(10))
    assert counts["heapsort"] < counts["sliding"] < counts["allpair"]


async def test_sliding_reuses_comparisons_across_passes() -> None:
    # Already sorted: pass 1 compares every adjacent pair; pass 2 repeats 18 of them for free.
    with fake_llm(perfect_judge) as fake:
        results = await PairwiseReranker(fake.model, method="sliding", k=2, cache=False).arank(
            "q", docs(list(range(N, 0, -1))))
    assert [r.index for r in results] == list(range(N))
    assert fake.calls == 2 * (N - 1)


async def test_one_order_halves_the_calls() -> None:
    with fake_llm(perfect_judge) as fake:
        reranker = PairwiseReranker(fake.model, method="allpair", both_orders=False, cache=False)
        results = await reranker.arank("q", docs(GRADES[:8]))
    assert fake.calls == 8 * 7 // 2
    assert [r.index for r in results] == sorted(range(8), key=lambda i: -GRADES[i])


@pytest.mark.parametrize("method", ["allpair", "heapsort", "sliding"])
@pytest.mark.parametrize("biased_answer", ["Passage A", "Passage B"])
async def test_position_bias_gives_ties_with_both_orders(
    method: Method, biased_answer: str
) -> None:
    with fake_llm(lambda messages: biased_answer) as fake:
        results = await PairwiseReranker(fake.model, method=method, k=3, cache=False).arank(
            "q", docs(GRADES[:6]))
    assert [r.index for r in results] == list(range(6)), "all ties: input order"
    assert all(r.details["wins"] == 0 for r in results)
    if method == "allpair":
        assert {r.score for r in results} == {0.5}


def close_pairs_biased_judge(messages: list[dict[str, str]]) -> str:
    """Tells passages apart only when their grades differ by more than 3; closer pairs get
    "Passage A" whatever the order (position bias), which both-order asking turns into ties."""
    shown = grades(messages)
    if abs(shown["A"] - shown["B"]) <= 3:
        return "Passage A"
    return "Passage A" if shown["A"] > shown["B"] else "Passage B"


async def test_a_tie_goes_to_the_document_with_more_net_wins_in_heapsort() -> None:
    # 19 beats the documents it is compared with outright, then ties with 16, which came
    # first in the input: input order alone would put 16 on top.
    grades = [16, 13, 19, 6, 9, 4, 15]
    with fake_llm(close_pairs_biased_judge) as fake:
        results = await PairwiseReranker(fake.model, method="heapsort", k=1,
                                         cache=False).arank("q", docs(grades))
    assert results[0].index == 2


async def test_a_tie_goes_to_the_document_with_more_net_wins_in_sliding() -> None:
    # Bottom-up: 19 beats 0 and 5 outright, then ties with 18, which has won nothing yet.
    with fake_llm(close_pairs_biased_judge) as fake:
        results = await PairwiseReranker(fake.model, method="sliding", k=1,
                                         cache=False).arank("q", docs([3, 18, 5, 0, 19]))
    assert results[0].index == 4


@pytest.mark.parametrize(
    ("method", "biased_answer", "expected"),
    [("allpair", "Passage B", [5, 4, 3, 2, 1, 0]),  # A is the earlier document: it always loses
     ("sliding", "Passage A", [5, 4, 3, 0, 1, 2]),  # A is the challenger from below: it wins
     ("heapsort", "Passage A", [5, 2, 0, 1, 3, 4])],
)
async def test_one_order_follows_position_bias(
    method: Method, biased_answer: str, expected: list[int]
) -> None:
    with fake_llm(lambda messages: biased_answer) as fake:
        results = await PairwiseReranker(fake.model, method=method, k=3, both_orders=False,
                                         cache=False).arank("q", docs(GRADES[:6]))
    assert [r.index for r in results] == expected


async def test_inconsistent_or_unparsable_answers_are_ties() -> None:
    answers = {(0, 1): "Passage A", (1, 0): "Passage A",  # inconsistent: a tie
               (0, 2): "Passage B", (2, 0): "no idea",  # unparsable: a tie
               (1, 2): "Passage B", (2, 1): "Passage A"}  # consistent: 2 wins

    def judge(messages: list[dict[str, str]]) -> str:
        shown = {label: int(doc) for label, doc, _ in PASSAGE.findall(prompt(messages))}
        return answers[(shown["A"], shown["B"])]

    with fake_llm(judge) as fake:
        reranker = PairwiseReranker(fake.model, method="allpair", cache=False)
        results = await reranker.arank("q", docs([0, 0, 0]))
    assert [(r.index, r.score) for r in results] == [(2, 0.75), (0, 0.5), (1, 0.25)]
    assert results.usage.parse_failures == 1 and results.usage.repairs == 1
    assert fake.calls == 7  # the unusable answer was asked again once


async def test_failures_keep_every_document_or_raise() -> None:
    def flaky(messages: list[dict[str, str]]) -> str:
        if "grade 3" in prompt(messages):
            raise ValueError("backend down")
        return perfect_judge(messages)

    with fake_llm(flaky) as fake:
        for method in ("allpair", "heapsort", "sliding"):
            lenient = PairwiseReranker(fake.model, method=method, cache=False, max_retries=0,
                                       on_error="keep_order")
            results = await lenient.arank("q", docs([1, 3, 2, 0]))
            assert sorted(r.index for r in results) == [0, 1, 2, 3]
            assert results.errors and "backend down" in results.errors[0]
        strict = PairwiseReranker(fake.model, cache=False, max_retries=0)
        with pytest.raises(LLMCallError):
            await strict.arank("q", docs([1, 3, 2, 0]))


@pytest.mark.parametrize("method", ["allpair", "heapsort", "sliding"])
async def test_one_and_two_documents(method: Method) -> None:
    with fake_llm(perfect_judge) as fake:
        reranker = PairwiseReranker(fake.model, method=method, cache=False)
        single = await reranker.arank("q", ["doc 0 grade 1"])
        assert fake.calls == 0 and [r.index for r in single] == [0]
        pair = await reranker.arank("q", docs([1, 2]))
    assert [r.index for r in pair] == [1, 0] and fake.calls == 2


def test_outcome_of_both_orders() -> None:
    assert PairwiseReranker.outcome_of_both_orders(0, 1) == 1.0
    assert PairwiseReranker.outcome_of_both_orders(1, 0) == 0.0
    assert PairwiseReranker.outcome_of_both_orders(0, 0) == 0.5
    assert PairwiseReranker.outcome_of_both_orders(1, 1) == 0.5


@pytest.mark.parametrize(
    ("options", "message"),
    [({"method": "bubble"}, "method"), ({"k": 0}, "option k=0"), ({"k": 2.5}, "option k=2.5"),
     ({"both_orders": "yes"}, "both_orders"), ({"on_error": "skip"}, "on_error")],
)
def test_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        PairwiseReranker("fake/x", cache=False, **options)  # type: ignore[arg-type]


def test_unknown_options_raise_type_error() -> None:
    with pytest.raises(TypeError, match="window_size"):
        get_reranker("pairwise", model="fake/x", window_size=3)
