from __future__ import annotations

import asyncio
import math
import re

import pytest
from graded_docs import BEST_FIRST, GRADES, N, docs, prompt
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_rerank import InvalidInput, LLMCallError, SetwiseReranker, get_reranker
from llm_rerank.parsing import parse_passage_choice
from llm_rerank.strategies.heap import heap_top_k
from llm_rerank.testing import fake_llm

PASSAGE = re.compile(r"^Passage ([A-Z]): doc (\d+) grade (\d+)", re.MULTILINE)


def perfect_judge(messages: list[dict[str, str]]) -> str:
    shown = PASSAGE.findall(prompt(messages))
    assert len(shown) >= 2, prompt(messages)
    label = max(shown, key=lambda found: int(found[2]))[0]
    return f"The most relevant is Passage {label}."


@pytest.mark.parametrize("num_children", [2, 3, 5, 8])
async def test_perfect_judge_top_k_then_input_order(num_children: int) -> None:
    with fake_llm(perfect_judge) as fake:
        results = await SetwiseReranker(fake.model, num_children=num_children, k=10,
                                        cache=False).arank("q", docs(GRADES))
    order = [r.index for r in results]
    assert order[:10] == BEST_FIRST[:10]
    assert order[10:] == sorted(BEST_FIRST[10:])
    assert [r.score for r in results] == [1 - rank / N for rank in range(N)]  # rank-derived
    depth = math.ceil(math.log(N, num_children))
    assert fake.calls <= N / (num_children - 1) + 10 * depth, "the documented bound"
    assert max(len(PASSAGE.findall(prompt(r["messages"]))) for r in fake.requests) == (
        num_children + 1)


async def test_call_count_for_twenty_documents() -> None:
    with fake_llm(perfect_judge) as fake:
        results = await SetwiseReranker(fake.model, cache=False).arank("q", docs(GRADES))
    assert fake.calls == results.usage.llm_calls == 31


async def test_k_above_n_sorts_everything() -> None:
    with fake_llm(perfect_judge) as fake:
        results = await SetwiseReranker(fake.model, k=50, cache=False).arank("q", docs(GRADES))
    assert [r.index for r in results] == BEST_FIRST


async def test_prompt_labels_passages_with_letters() -> None:
    with fake_llm(perfect_judge) as fake:
        await SetwiseReranker(fake.model, num_children=3, cache=False).arank("q", docs([0] * 4))
    text = prompt(fake.requests[0]["messages"])
    assert [label for label, _, _ in PASSAGE.findall(text)] == ["A", "B", "C", "D"]
    assert "Search query: q" in text and '"Passage A"' in text


async def test_garbage_answers_fall_back_to_input_order() -> None:
    with fake_llm(lambda messages: "I am not sure.") as fake:
        results = await SetwiseReranker(fake.model, k=4, cache=False).arank("q", docs(GRADES))
    assert [r.index for r in results] == list(range(N))
    assert results.usage.parse_failures == results.usage.repairs == fake.calls // 2 > 0


async def test_failures_keep_every_document_or_raise() -> None:
    def flaky(messages: list[dict[str, str]]) -> str:
        if "grade 3" in prompt(messages):
            raise ValueError("backend down")
        return perfect_judge(messages)

    with fake_llm(flaky) as fake:
        lenient = SetwiseReranker(fake.model, cache=False, max_retries=0, on_error="keep_order")
        results = await lenient.arank("q", docs(GRADES))
        assert sorted(r.index for r in results) == list(range(N))
        assert results.errors and "backend down" in results.errors[0]
        with pytest.raises(LLMCallError):
            await SetwiseReranker(fake.model, cache=False, max_retries=0).arank("q", docs(GRADES))


async def test_one_and_two_documents() -> None:
    with fake_llm(perfect_judge) as fake:
        reranker = SetwiseReranker(fake.model, cache=False)
        assert [r.index for r in await reranker.arank("q", ["only"])] == [0]
        assert fake.calls == 0
        assert [r.index for r in await reranker.arank("q", docs([1, 2]))] == [1, 0]
        assert fake.calls == 1


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("Passage C", 2), ("C", 2), ("passage c", 2), ("(b)", 1), ("**D**.", 3),
     ("After reading all of them, Passage B is the most relevant.", 1),
     ("<think>Passage A looks good</think>Passage D", 3), ("The answer is C.", 2),
     ("passages are all good, passage B", 1), ("Passage E", None), ("A or C", None),
     ("none of them", None), ("", None)],
)
def test_parse_passage_choice(answer: str, expected: int | None) -> None:
    assert parse_passage_choice(answer, "ABCD") == expected


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=40, unique=True),
       st.integers(1, 45), st.integers(1, 5))
@settings(max_examples=150, deadline=None)
def test_heap_top_k_sorts_the_top_and_keeps_the_rest_in_order(
    values: list[int], k: int, arity: int
) -> None:
    async def pick_best(candidates: list[int]) -> int:
        return max(range(len(candidates)), key=lambda p: values[candidates[p]])

    order = asyncio.run(heap_top_k(len(values), k, arity, pick_best))
    best_first = sorted(range(len(values)), key=lambda i: -values[i])
    assert order[:k] == best_first[:k]
    assert order[k:] == sorted(best_first[k:])


@pytest.mark.parametrize(
    ("options", "message"),
    [({"num_children": 1}, "num_children"), ({"num_children": 26}, "num_children"),
     ({"num_children": True}, "num_children"), ({"k": 0}, "option k=0")],
)
def test_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        SetwiseReranker("fake/x", cache=False, **options)  # type: ignore[arg-type]


def test_unknown_options_raise_type_error() -> None:
    with pytest.raises(TypeError, match="children"):
        get_reranker("setwise", model="fake/x", children=3)
