from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from graded_docs import BEST_FIRST, GRADES, docs, prompt
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_rerank import InvalidInput, ListwiseReranker, SetwiseReranker
from llm_rerank.strategies.consistency import aggregate, borda, kemeny_refine, permutations
from llm_rerank.testing import fake_llm

NUMBERED = re.compile(r"^\[(\d+)\] doc (\d+) grade (\d+)", re.MULTILINE)
LETTERED = re.compile(r"^Passage ([A-Z]): doc (\d+) grade (\d+)", re.MULTILINE)


def listwise_judge(messages: list[dict[str, str]]) -> str:
    """Perfect: ranks a window by the hidden grade."""
    found = NUMBERED.findall(prompt(messages))
    return " > ".join(f"[{label}]" for label, _, _ in sorted(found, key=lambda f: -int(f[2])))


def first_shown_judge(messages: list[dict[str, str]]) -> str:
    """Fully position-biased: answers the passages in the order they were shown."""
    return " > ".join(f"[{label}]" for label, _, _ in NUMBERED.findall(prompt(messages)))


def shown_doc_order(request: dict[str, object]) -> list[int]:
    messages = request["messages"]
    assert isinstance(messages, list)
    return [int(doc) for _, doc, _ in NUMBERED.findall(prompt(messages))]


# --- aggregation on hand-made rankings ------------------------------------------------


def test_borda_points_and_partial_rankings() -> None:
    assert borda([[0, 1, 2], [1, 0, 2]], 3) == [3.0, 3.0, 0.0]
    # A partial answer: the candidates it leaves out share the points left (1 and 0).
    assert borda([[2]], 3) == [0.5, 0.5, 2.0]
    assert borda([], 2) == [0.0, 0.0]


def test_aggregate_majority_and_ties_in_input_order() -> None:
    assert aggregate([[2, 1, 0], [2, 0, 1], [1, 2, 0]], 3) == [2, 1, 0]
    assert aggregate([[0, 1], [1, 0]], 2) == [0, 1], "a tie keeps input order"
    assert aggregate([], 3) == [0, 1, 2], "no usable sample keeps input order"
    assert aggregate([[3]], 4) == [3, 0, 1, 2], "one partial answer completes in input order"


def test_kemeny_fixes_what_borda_gets_wrong() -> None:
    # Borda: 0 -> 7 points, 1 -> 6, 2 -> 3, 3 -> 2; but a majority (2 of 3) puts 1 above 0.
    rankings = [[0, 2, 3, 1], [1, 0, 2, 3], [1, 0, 3, 2]]
    points = borda(rankings, 4)
    assert points[0] > points[1], "Borda prefers 0 thanks to one strong vote"
    wins = [[sum(r.index(a) < r.index(b) for r in rankings) for b in range(4)] for a in range(4)]
    assert wins[1][0] == 2
    assert kemeny_refine([0, 1, 2, 3], wins) == [1, 0, 2, 3]
    assert aggregate(rankings, 4) == [1, 0, 2, 3]


@given(st.integers(1, 12), st.integers(0, 6), st.data())
@settings(max_examples=200, deadline=None)
def test_aggregate_is_always_a_permutation(size: int, samples: int, data: st.DataObject) -> None:
    rankings = [data.draw(st.lists(st.integers(0, size - 1), unique=True, max_size=size))
                for _ in range(samples)]
    assert sorted(aggregate(rankings, size)) == list(range(size))


def test_unanimous_rankings_are_kept() -> None:
    ranking = [4, 2, 0, 3, 1]
    assert aggregate([ranking] * 3, 5) == ranking


def test_permutations_are_seeded_and_start_with_the_input_order() -> None:
    window = list(range(10))
    first = permutations(window, 4, seed=7)
    assert first == permutations(window, 4, seed=7)
    assert first != permutations(window, 4, seed=8)
    assert first[0] == window and len(first) == 4
    assert all(sorted(order) == window for order in first)
    assert permutations(window, 1, seed=7) == [window]


# --- listwise -------------------------------------------------------------------------


async def test_listwise_m_permutations_are_concurrent_distinct_samples(tmp_path: Path) -> None:
    with fake_llm(listwise_judge, latency=0.05) as fake:
        reranker = ListwiseReranker(fake.model, num_permutations=3, seed=1, cache=tmp_path)
        first = await reranker.arank("q", docs(GRADES))
        assert fake.peak_in_flight == 3, "the 3 samples of the window run concurrently"
        second = await reranker.arank("q", docs(GRADES))
        again = ListwiseReranker(fake.model, num_permutations=3, seed=1, cache=tmp_path)
        third = await again.arank("q", docs(GRADES))
    assert [r.index for r in first] == BEST_FIRST
    assert (first.usage.llm_calls, first.usage.cache_hits) == (3, 0)
    assert (second.usage.llm_calls, second.usage.cache_hits) == (0, 3)
    assert (third.usage.llm_calls, third.usage.cache_hits) == (0, 3), "same seed, same samples"
    shown = [shown_doc_order(request) for request in fake.requests]
    assert list(range(20)) in shown, "sample 0 is the input order"
    assert len({tuple(order) for order in shown}) == 3


async def test_identical_shuffles_still_get_distinct_cache_entries(tmp_path: Path) -> None:
    # Two documents have two orders: with 4 samples some prompts repeat, yet each sample
    # is its own call and its own cache entry.
    with fake_llm(listwise_judge) as fake:
        reranker = ListwiseReranker(fake.model, num_permutations=4, cache=tmp_path)
        first = await reranker.arank("q", docs([1, 2]))
        second = await reranker.arank("q", docs([1, 2]))
    assert first.usage.llm_calls == 4 and second.usage.cache_hits == 4
    assert [r.index for r in first] == [1, 0]


async def test_m1_is_the_plain_strategy_and_shares_its_cache(tmp_path: Path) -> None:
    with fake_llm(listwise_judge) as fake:
        plain = await ListwiseReranker(fake.model, cache=tmp_path).arank("q", docs(GRADES))
        many = await ListwiseReranker(fake.model, num_permutations=3,
                                      cache=tmp_path).arank("q", docs(GRADES))
    assert many.usage.cache_hits == 1 and many.usage.llm_calls == 2
    assert [r.index for r in plain] == [r.index for r in many]


async def test_shuffled_orders_overrule_a_position_only_judge() -> None:
    # The judge answers in the shown order. One sample returns the input order; the
    # aggregated samples of shuffled orders cannot all agree with it.
    with fake_llm(first_shown_judge) as fake:
        single = await ListwiseReranker(fake.model, cache=False).arank("q", docs(GRADES))
        several = await ListwiseReranker(fake.model, num_permutations=5, cache=False,
                                         seed=3).arank("q", docs(GRADES))
    assert [r.index for r in single] == list(range(20))
    assert [r.index for r in several] != list(range(20))
    assert sorted(r.index for r in several) == list(range(20))


async def test_garbage_samples_are_left_out_and_every_document_stays() -> None:
    rng = random.Random(0)
    answers = ["no idea", "[2] > [2] > [99] > [0]", "<think>unfinished", "", "[1]",
               "Passage 3 is best", "[3] > [1]"]

    def hostile(messages: list[dict[str, str]]) -> str:
        return rng.choice([*answers, listwise_judge(messages)])

    with fake_llm(hostile) as fake:
        for options in ({"method": "sliding", "step": 2}, {"method": "topdown"}):
            results = await ListwiseReranker(
                fake.model, window_size=5, num_permutations=3, parse_retries=0, cache=False,
                **options).arank("q", docs(list(range(30))))
            assert sorted(r.index for r in results) == list(range(30))
            assert results.usage.parse_failures > 0


async def test_samples_keep_the_budget() -> None:
    with fake_llm(listwise_judge) as fake:
        results = await ListwiseReranker(
            fake.model, num_permutations=3, max_calls=4, on_budget="keep_order",
            window_size=10, step=5, cache=False).arank("q", docs(GRADES))
    assert fake.calls == 4 and results.stopped == "budget"
    assert sorted(r.index for r in results) == list(range(20))


# --- setwise --------------------------------------------------------------------------


def setwise_judge(messages: list[dict[str, str]]) -> str:
    shown = LETTERED.findall(prompt(messages))
    return f"Passage {max(shown, key=lambda f: int(f[2]))[0]}"


def noisy_setwise_judge(messages: list[dict[str, str]]) -> str:
    """Perceives grade + a large noise drawn from the prompt (a new order, new noise)."""
    text = prompt(messages)
    rng = random.Random(text)
    shown = LETTERED.findall(text)
    return f"Passage {max(shown, key=lambda f: int(f[2]) + rng.gauss(0, 8))[0]}"


async def test_setwise_permutations_perfect_judge_and_cache(tmp_path: Path) -> None:
    with fake_llm(setwise_judge, latency=0.02) as fake:
        plain = await SetwiseReranker(fake.model, k=5, cache=False).arank("q", docs(GRADES))
        reranker = SetwiseReranker(fake.model, num_permutations=3, k=5, cache=tmp_path)
        first = await reranker.arank("q", docs(GRADES))
        assert fake.peak_in_flight == 3
        second = await reranker.arank("q", docs(GRADES))
    assert [r.index for r in first] == [r.index for r in plain]
    assert [r.index for r in first.top(5)] == BEST_FIRST[:5]
    assert first.usage.llm_calls == 3 * plain.usage.llm_calls
    assert second.usage.cache_hits == first.usage.llm_calls and second.usage.llm_calls == 0


async def test_setwise_votes_beat_a_single_noisy_answer() -> None:
    def hits(results: object, grades: list[int]) -> int:
        best = set(sorted(range(len(grades)), key=lambda i: -grades[i])[:5])
        return len(best & {r.index for r in results.top(5)})  # type: ignore[attr-defined]

    single = voted = 0
    with fake_llm(noisy_setwise_judge) as fake:
        for trial in range(10):
            grades = random.Random(trial).sample(range(20), 20)
            single += hits(await SetwiseReranker(fake.model, k=5, cache=False).arank(
                "q", docs(grades)), grades)
            voted += hits(await SetwiseReranker(fake.model, k=5, num_permutations=5,
                                                cache=False).arank("q", docs(grades)), grades)
    assert voted > single, (voted, single)


async def test_setwise_garbage_keeps_every_document() -> None:
    answers = iter(["Passage Z", "nothing", "Passage B", "<think>"] * 500)
    with fake_llm(lambda messages: next(answers)) as fake:
        results = await SetwiseReranker(fake.model, num_permutations=3, parse_retries=0,
                                        cache=False).arank("q", docs(GRADES))
    assert sorted(r.index for r in results) == list(range(20))


@pytest.mark.parametrize(
    ("cls", "options", "message"),
    [(ListwiseReranker, {"num_permutations": 0}, "num_permutations"),
     (ListwiseReranker, {"num_permutations": 2.5}, "num_permutations"),
     (ListwiseReranker, {"seed": "x"}, "seed"),
     (SetwiseReranker, {"num_permutations": 0}, "num_permutations"),
     (SetwiseReranker, {"num_permutations": 1000}, "num_permutations")],
)
def test_bad_permutation_options(cls: type[ListwiseReranker | SetwiseReranker],
                                 options: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        cls("fake/x", cache=False, **options)  # type: ignore[arg-type]
