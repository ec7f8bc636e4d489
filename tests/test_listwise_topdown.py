from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_rerank import BudgetExceeded, InvalidInput, ListwiseReranker, LLMCallError
from llm_rerank.strategies.topdown import top_down
from llm_rerank.testing import fake_llm

PASSAGE = re.compile(r"^\[(\d+)\] doc (\d+) grade (\d+)", re.MULTILINE)


def docs(grades: list[int]) -> list[str]:
    return [f"doc {i} grade {grade}" for i, grade in enumerate(grades)]


def perfect_judge(messages: list[dict[str, str]]) -> str:
    found = PASSAGE.findall(messages[-1]["content"])
    return " > ".join(f"[{label}]" for label, _, _ in sorted(found, key=lambda f: -int(f[2])))


def spread_top(seed: int) -> list[int]:
    """100 distinct grades: the first window holds 9 of the top 16, the pivot (grade 83)
    and 10 weaker ones; the other 7 of the top 16 hide among the 80 below, anywhere."""
    rng = random.Random(seed)
    first = [99, 98, 95, 93, 90, 88, 86, 85, 84, 83, *range(60, 70)]
    rest = [*range(60), *range(70, 83), 87, 89, 91, 92, 94, 96, 97]
    rng.shuffle(first)
    rng.shuffle(rest)
    return first + rest


class Waves:
    """A fake window ranker (by a hidden grade) that counts sequential rounds of calls:
    a wave starts when a call begins while no other call is in flight."""

    def __init__(self, grades: list[int]) -> None:
        self.grades = grades
        self.in_flight = self.waves = self.calls = 0
        self.sizes: list[int] = []

    async def __call__(self, window: list[int]) -> list[int]:
        if self.in_flight == 0:
            self.waves += 1
        self.in_flight += 1
        self.calls += 1
        self.sizes.append(len(window))
        await asyncio.sleep(0.001)
        self.in_flight -= 1
        return sorted(window, key=lambda i: -self.grades[i])


@pytest.mark.parametrize("seed", range(5))
async def test_perfect_judge_gives_the_perfect_top_k_in_three_rounds(seed: int) -> None:
    grades = spread_top(seed)
    ranker = Waves(grades)
    result = await top_down(list(range(100)), 20, 10, ranker)
    best_first = sorted(range(100), key=lambda i: -grades[i])
    assert result.order[:17] == best_first[:17], "the 16 above the pivot and the pivot"
    assert sorted(result.order) == list(range(100))
    assert result.rounds == ranker.waves == 3
    assert ranker.calls == 13 and max(ranker.sizes) == 20


class Primacy(Waves):
    """A judge that knows the grades but, like an LLM, favours the first passages: it adds
    ``bonus`` to the first of a window, fading linearly to 0 for the last."""

    def __init__(self, grades: list[int], bonus: float) -> None:
        super().__init__(grades)
        self.bonus = bonus

    async def __call__(self, window: list[int]) -> list[int]:
        await super().__call__(window)
        last = len(window) - 1
        return sorted(window, key=lambda i: -(self.grades[i] + self.bonus * (
            last - window.index(i)) / last))


@pytest.mark.parametrize("seed", range(10))
async def test_a_position_biased_judge_keeps_the_whole_top_k(seed: int) -> None:
    # A bonus of 4 lifts an 88 shown first above a 91 shown last. One look at the final
    # window in first-stage order let round 1's candidates (shown first) push a 91 found
    # in round 2 out of the top 10 (seeds 1, 3, 4, 6); two looks in opposite orders cancel
    # the bonus, and so do round 2's two looks at each candidate beside the pivot.
    grades = spread_top(seed)
    ranker = Primacy(grades, bonus=4)
    result = await top_down(list(range(100)), 20, 10, ranker)
    best_first = sorted(range(100), key=lambda i: -grades[i])
    assert set(result.order[:10]) == set(best_first[:10])
    assert sorted(result.order) == list(range(100))
    assert result.rounds == ranker.waves == 3


async def test_round_two_and_the_final_window_are_each_shown_in_opposite_orders() -> None:
    shown: list[list[int]] = []

    async def recording(window: list[int]) -> list[int]:
        shown.append(list(window))
        return sorted(window, key=lambda i: -spread_top(0)[i])

    result = await top_down(list(range(100)), 20, 10, recording)
    pivot = shown[1][0]
    round_two, final = shown[1:11], shown[11:]
    for forward, backward in zip(round_two[::2], round_two[1::2], strict=True):
        assert forward[0] == pivot == backward[-1] and forward[1:] == backward[-2::-1]
    assert sorted(c for window in round_two for c in window if c != pivot) == sorted(
        [*range(20, 100), *range(20, 100)]), "every candidate below round 1's, twice"
    assert final[0] == sorted(final[0]) and final[1] == final[0][::-1]
    assert result.order[:20] == sorted(final[0], key=lambda i: -spread_top(0)[i])


@pytest.mark.parametrize("size", [2, 20, 21, 39, 100, 101, 250, 1000])
@pytest.mark.parametrize("order", ["bm25-like", "reversed", "random"])
async def test_at_most_three_rounds_and_every_document_once(size: int, order: str) -> None:
    rng = random.Random(size)
    grades = {"bm25-like": [size - i + rng.randint(-20, 20) for i in range(size)],
              "reversed": list(range(size)),
              "random": rng.sample(range(size), size)}[order]
    ranker = Waves(grades)
    result = await top_down(list(range(size)), 20, 10, ranker)
    assert sorted(result.order) == list(range(size))
    assert result.rounds == ranker.waves <= 3
    assert max(ranker.sizes) <= 20
    if size <= 250:  # each window's best makes the final window while there are <= 20 windows
        assert result.order[0] == max(range(size), key=lambda i: grades[i]), "the best wins"


async def test_crowded_candidates_are_capped_by_position_in_their_window() -> None:
    # Best documents at the bottom: the first window is the worst, its pivot is weak and
    # every other document beats it. The final window keeps each window's best 3 (6 x 3)
    # and 2 of the fourths (round 1's and the first chunk's, by first-stage order): the
    # last chunk (84..99) places 99, 98, 97 there, not 96.
    grades = list(range(100))
    ranker = Waves(grades)
    result = await top_down(list(range(100)), 20, 10, ranker)
    assert result.rounds == 3 and ranker.calls == 13
    assert result.order[:4] == [99, 98, 97, 83]
    assert sorted(result.order) == list(range(100))


async def test_small_lists_take_one_window() -> None:
    ranker = Waves(list(range(15)))
    result = await top_down(list(range(15)), 20, 10, ranker)
    assert result.order == list(range(14, -1, -1)) and result.rounds == 1 == ranker.calls
    lone = await top_down([4], 20, 10, ranker)
    assert lone.order == [4] and lone.rounds == 0 and ranker.calls == 1


async def test_a_ranker_that_never_answers_keeps_the_input_order() -> None:
    async def silent(window: list[int]) -> None:
        return None

    async def unchanged(window: list[int]) -> list[int]:
        return window

    assert (await top_down(list(range(100)), 20, 10, silent)).order == list(range(100))
    assert (await top_down(list(range(100)), 20, 10, unchanged)).order[:10] == list(range(10))


@given(st.integers(2, 120), st.integers(2, 25), st.integers(1, 30), st.data())
@settings(max_examples=150, deadline=None)
def test_any_answer_keeps_every_document_once(size: int, window: int, k: int,
                                              data: st.DataObject) -> None:
    seed = data.draw(st.integers(0, 2**32))

    async def arbitrary(candidates: list[int]) -> list[int] | None:
        rng = random.Random(seed + len(candidates))
        return None if rng.random() < 0.2 else rng.sample(candidates, len(candidates))

    result = asyncio.run(top_down(list(range(size)), window, k, arbitrary))
    assert sorted(result.order) == list(range(size)) and result.rounds <= 3


# --- through ListwiseReranker -------------------------------------------------------


def counting(judge: Callable[[list[dict[str, str]]], str]
             ) -> tuple[Callable[[list[dict[str, str]]], str], list[int], list[object]]:
    """A responder that records how many calls were in flight when each one answered (the
    last of a wave sees 1), so waves = how often 1 was seen."""
    seen: list[int] = []
    holder: list[object] = []

    def respond(messages: list[dict[str, str]]) -> str:
        seen.append(holder[0].in_flight)  # type: ignore[attr-defined]
        return judge(messages)

    return respond, seen, holder


async def test_reranker_topdown_end_to_end_rounds_calls_and_details() -> None:
    grades = spread_top(0)
    respond, seen, holder = counting(perfect_judge)
    with fake_llm(respond, latency=0.05) as fake:
        holder.append(fake)
        # round 2: 10 calls at once (top-down defaults to max_concurrency=16)
        results = await ListwiseReranker(fake.model, method="topdown", max_concurrency=10,
                                         cache=False).arank("q", docs(grades), top_n=10)
    best_first = sorted(range(100), key=lambda i: -grades[i])
    assert [r.index for r in results] == best_first[:10]
    assert results.usage.llm_calls == fake.calls == 13
    assert seen.count(1) == 3, f"sequential waves, in flight at each answer: {seen}"
    assert fake.peak_in_flight == 10, "round 2: 5 chunks, each in 2 windows"
    assert all(r.details["rounds"] == 3 for r in results)


async def test_top_n_sets_k_unless_k_is_given() -> None:
    grades = list(range(100, 0, -1))
    with fake_llm(perfect_judge) as fake:
        reranker = ListwiseReranker(fake.model, method="topdown", cache=False)
        await reranker.arank("q", docs(grades), top_n=3)
        first_window_ids = [int(doc) for _, doc, _ in PASSAGE.findall(
            fake.requests[1]["messages"][-1]["content"])]
        await ListwiseReranker(fake.model, method="topdown", k=5, cache=False).arank(
            "q", docs(grades), top_n=3)
        five = [int(doc) for _, doc, _ in PASSAGE.findall(
            fake.requests[14]["messages"][-1]["content"])]
    assert first_window_ids[0] == 2, "pivot: the 3rd of the first window, shown first"
    assert five[0] == 4, "pivot: the 5th"


async def test_sliding_stays_the_default_and_records_its_rounds() -> None:
    with fake_llm(perfect_judge) as fake:
        results = await ListwiseReranker(fake.model, cache=False).arank("q", docs(
            list(range(100))))
    assert results.usage.llm_calls == 9
    assert results[0].details["rounds"] == 9


async def test_topdown_under_max_calls_keeps_every_document() -> None:
    with fake_llm(perfect_judge) as fake:
        results = await ListwiseReranker(fake.model, method="topdown", max_calls=3,
                                         on_budget="keep_order", cache=False).arank(
            "q", docs(spread_top(1)))
        with pytest.raises(BudgetExceeded) as raised:
            await ListwiseReranker(fake.model, method="topdown", max_calls=3,
                                   cache=False).arank("q", docs(spread_top(1)))
    assert results.stopped == "budget" and results.usage.llm_calls == 3
    assert sorted(r.index for r in results) == list(range(100))
    assert raised.value.results is not None
    assert sorted(r.index for r in raised.value.results) == list(range(100))


async def test_topdown_deadline_keeps_every_document() -> None:
    with fake_llm(perfect_judge, latency=0.3) as fake:
        results = await ListwiseReranker(fake.model, method="topdown", deadline_s=0.45,
                                         cache=False).arank("q", docs(spread_top(2)))
    assert results.stopped == "deadline"
    assert sorted(r.index for r in results) == list(range(100))


async def test_topdown_failures_keep_order_or_raise() -> None:
    def fail(messages: object) -> str:
        raise ValueError("backend down")

    with fake_llm(fail) as fake:
        lenient = await ListwiseReranker(fake.model, method="topdown", max_retries=0,
                                         on_error="keep_order", cache=False).arank(
            "q", docs(list(range(100))))
        with pytest.raises(LLMCallError):
            await ListwiseReranker(fake.model, method="topdown", max_retries=0,
                                   cache=False).arank("q", docs(list(range(100))))
    assert [r.index for r in lenient] == list(range(100))
    assert len(lenient.errors) == 13


async def test_topdown_garbage_answers_keep_every_document() -> None:
    rng = random.Random(5)
    answers = ["no idea", "[2] > [2] > [99] > [0]", "<think>[3] > [1]", "[1]", "1 2 3",
               "[20] > [19] > [18]", ""]
    with fake_llm(lambda messages: rng.choice(answers)) as fake:
        for size in (25, 100, 160):
            results = await ListwiseReranker(fake.model, method="topdown", cache=False,
                                             parse_retries=0).arank("q", docs([0] * size))
            assert sorted(r.index for r in results) == list(range(size))


@pytest.mark.parametrize(
    ("options", "message"),
    [({"method": "bubble"}, "method"), ({"k": 0}, "k"),
     ({"method": "topdown", "k": 20}, "k"), ({"k": 5}, "topdown"),
     ({"method": "topdown", "step": 5}, "step"), ({"method": "topdown", "passes": 2}, "passes")],
)
def test_bad_topdown_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        ListwiseReranker("fake/x", cache=False, **options)  # type: ignore[arg-type]
