from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_rerank import InvalidInput, ListwiseReranker, LLMCallError, get_reranker
from llm_rerank.parsing import parse_permutation, strip_reasoning
from llm_rerank.reranker import RankingContext
from llm_rerank.strategies.consistency import aggregate
from llm_rerank.testing import fake_llm

PASSAGE = re.compile(r"^\[(\d+)\] doc-(\d+)", re.MULTILINE)


def perfect_judge(messages: list[dict[str, str]]) -> str:
    """Ranks a window by the number in each 'doc-N' passage, highest first."""
    prompt = messages[-1]["content"]
    found = [(int(label), int(number)) for label, number in PASSAGE.findall(prompt)]
    return " > ".join(f"[{label}]" for label, _ in sorted(found, key=lambda p: -p[1]))


def docs(n: int) -> list[str]:
    return [f"doc-{i} text" for i in range(n)]


def test_window_plan() -> None:
    assert ListwiseReranker.windows(100, 20, 10) == [
        (80, 100), (70, 90), (60, 80), (50, 70), (40, 60), (30, 50), (20, 40), (10, 30), (0, 20)]
    assert ListwiseReranker.windows(15, 20, 10) == [(0, 15)]
    assert ListwiseReranker.windows(20, 20, 10) == [(0, 20)]
    assert ListwiseReranker.windows(25, 20, 10) == [(5, 25), (0, 20)]
    assert ListwiseReranker.windows(7, 3, 3) == [(4, 7), (1, 4), (0, 3)]


async def test_100_candidates_cost_9_calls_then_9_cache_hits(tmp_path: Path) -> None:
    with fake_llm(perfect_judge) as fake:
        reranker = ListwiseReranker(fake.model, window_size=20, step=10, cache=tmp_path)
        first = await reranker.arank("q", docs(100))
        second = await reranker.arank("q", docs(100))
    assert (first.usage.llm_calls, first.usage.cache_hits) == (9, 0)
    assert (second.usage.llm_calls, second.usage.cache_hits) == (0, 9)
    assert fake.calls == 9
    for results in (first, second):
        assert sorted(r.index for r in results) == list(range(100))
    top10 = [r.index for r in first.top(10)]
    assert top10 == list(range(99, 89, -1)), "one pass brings the global top-10 to the top"


async def test_short_lists_are_ranked_too() -> None:
    with fake_llm(perfect_judge) as fake:
        results = await ListwiseReranker(fake.model, cache=False).arank("q", docs(15))
    assert [r.index for r in results] == list(range(14, -1, -1))
    assert results.usage.llm_calls == 1


async def test_single_document_needs_no_call() -> None:
    with fake_llm(perfect_judge) as fake:
        results = await ListwiseReranker(fake.model, cache=False).arank("q", ["only"])
    assert [r.index for r in results] == [0] and fake.calls == 0


async def test_multiple_passes_and_top_n() -> None:
    with fake_llm(perfect_judge) as fake:
        results = await ListwiseReranker(fake.model, window_size=4, step=2, passes=3,
                                         cache=False).arank("q", docs(12), top_n=5)
    assert [r.index for r in results] == [11, 10, 9, 8, 7]
    assert results.usage.llm_calls == 3 * 5


async def test_garbage_answers_keep_every_document() -> None:
    answers = iter(["no idea", "<think>[3] > [1]</think>", "[2] > [2] > [99] > [0]", "3 1"])
    with fake_llm(lambda messages: next(answers)) as fake:
        results = await ListwiseReranker(fake.model, window_size=4, step=2, cache=False,
                                         parse_retries=0).arank("q", docs(8))
    assert sorted(r.index for r in results) == list(range(8))
    assert results.usage.parse_failures == 2


async def test_on_error_policy() -> None:
    def fail(messages: object) -> str:
        raise ValueError("backend down")

    with fake_llm(fail) as fake:
        strict = ListwiseReranker(fake.model, cache=False, max_retries=0)
        with pytest.raises(LLMCallError):
            await strict.arank("q", docs(5))
        lenient = ListwiseReranker(fake.model, cache=False, max_retries=0, on_error="keep_order")
        results = await lenient.arank("q", docs(5))
    assert [r.index for r in results] == [0, 1, 2, 3, 4]
    assert len(results.errors) == 1 and "backend down" in results.errors[0]


async def test_passages_are_truncated() -> None:
    with fake_llm(perfect_judge) as fake:
        await ListwiseReranker(fake.model, cache=False, max_passage_words=3).arank(
            "q", ["doc-1 a b c d e f", "doc-2 g h i j k"])
    prompt = fake.requests[0]["messages"][-1]["content"]
    assert "[1] doc-1 a b\n" in prompt and "c d e" not in prompt


async def test_prompt_is_shrunk_to_fit_a_known_context_window() -> None:
    # gpt-4's window is 8k tokens (LiteLLM's bundled table); 20 passages x 600 words do not fit.
    reranker = ListwiseReranker("openai/gpt-4", cache=False, max_passage_words=None,
                                completion_kwargs={"mock_response": " > ".join(
                                    f"[{n}]" for n in range(1, 21))})
    results = await reranker.arank("q", [" ".join(["word"] * 600)] * 20)
    assert results.usage.llm_calls == 1 and results.prompts_shrunk == 1
    ctx = RankingContext(query="q", documents=[])
    assert reranker.llm.fits_context(reranker.render(ctx, lambda w: {
        "passages": [{"id": 1, "text": " ".join(["word"] * (w or 600))}] * 20}))


@pytest.mark.parametrize(
    ("options", "message"),
    [({"window_size": 1}, "window_size"), ({"step": 0}, "step"), ({"step": 30}, "step"),
     ({"passes": 0}, "passes"), ({"on_error": "ignore"}, "on_error"),
     ({"max_passage_words": 0}, "max_passage_words"), ({"max_concurrency": 0}, "max_concurrency")],
)
def test_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        ListwiseReranker("fake/x", cache=False, **options)  # type: ignore[arg-type]


def test_unknown_options_raise_type_error() -> None:
    with pytest.raises(TypeError, match="windowsize"):
        get_reranker("listwise", model="fake/x", windowsize=3)
    with pytest.raises(InvalidInput, match="unknown strategy"):
        get_reranker("nope", model="x")


def test_parser_reads_chatter_think_blocks_and_unicode_digits() -> None:
    assert parse_permutation("Sure! Of the 20 passages: [3] > [1] > [2]", 3) == [2, 0, 1]
    assert parse_permutation("<think>maybe [2] first</think>[1] > [2]", 2) == [0, 1]
    assert parse_permutation("[٣] > [１] > ［2］", 3) == [2, 0, 1]
    assert parse_permutation("3 > 1", 3) == [2, 0]
    assert parse_permutation("<think>cut off [1] > [2]", 2) == []
    assert strip_reasoning("<THINK>x</THINK> a") == "a"


@given(st.text(alphabet="[]>0123456789 ,<think/>٣abc", max_size=80), st.integers(1, 25))
@settings(max_examples=300, deadline=None)
def test_parser_never_loses_or_duplicates(answer: str, size: int) -> None:
    ranked = parse_permutation(answer, size)
    assert len(set(ranked)) == len(ranked) and all(0 <= i < size for i in ranked)
    assert sorted(aggregate([ranked], size)) == list(range(size))


@given(st.integers(1, 60), st.integers(2, 25), st.data())
@settings(max_examples=60, deadline=None)
def test_any_answers_any_sizes_keep_every_document(n: int, window: int,
                                                   data: st.DataObject) -> None:
    step = data.draw(st.integers(1, window))
    answers = iter(data.draw(st.lists(st.text(alphabet="[]>0123456789 x", max_size=40),
                                      min_size=60, max_size=60)))

    with fake_llm(lambda messages: next(answers)) as fake:
        results = ListwiseReranker(fake.model, window_size=window, step=step, cache=False,
                                   parse_retries=0).rank("q", docs(n))
    assert sorted(r.index for r in results) == list(range(n))
    assert [r.rank for r in results] == list(range(1, n + 1))
