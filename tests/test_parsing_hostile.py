"""LLM answers are untrusted: the parsers must not crash, stall or misread (issue 9).

The stall tests run a 1 MB adversarial answer under a 10 s watchdog (SIGALRM interrupts the
regex engine): the parsers take milliseconds, the quadratic ones they replace took minutes.
It is a hang detector with a thousandfold margin, not a timing assertion.
"""

from __future__ import annotations

import math
import random
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_rerank import ListwiseReranker, PairwiseReranker, PointwiseReranker, SetwiseReranker
from llm_rerank.parsing import (
    MAX_ANSWER_CHARS,
    label_probabilities,
    parse_label,
    parse_passage_choice,
    parse_permutation,
    strip_reasoning,
)
from llm_rerank.parsing_logprobs import answer_label_position
from llm_rerank.strategies import pointwise
from llm_rerank.strategies.consistency import aggregate
from llm_rerank.testing import FakeAnswer, fake_llm
from llm_rerank.testing.hostile import (
    BOMBS,
    FRAGMENTS,
    bomb,
    hostile_answer,
    hostile_logprobs,
)

SCALE = {"unlikely": 0.0, "likely": 1.0, "very likely": 2.0}
FUZZ = settings(max_examples=10_000, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


class Stalled(Exception):
    pass


@contextmanager
def watchdog(seconds: float = 10.0) -> Iterator[None]:
    def stop(*_: object) -> None:
        raise Stalled(f"no answer after {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- crashes ---------------------------------------------------------------------------

def test_listwise_digit_run_over_python_int_limit_does_not_raise() -> None:
    assert parse_permutation("1" * 5000, 3) == []
    assert parse_permutation("[" + "1" * 5000 + "]", 3) == []
    assert parse_permutation("[2] > [" + "9" * 5000 + "] > [1]", 3) == [1, 0]
    assert parse_permutation("2, " + "9" * 5000 + ", 1", 3) == [1, 0]


def test_pointwise_logprob_of_1000_does_not_overflow() -> None:
    found = label_probabilities({"likely": 1000.0, " very": -0.5}, SCALE)
    assert found is not None and all(math.isfinite(p) for p in found.values())
    assert found["likely"] == pytest.approx(1 / (1 + math.exp(-0.5)))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 1e308])
def test_pointwise_nan_and_infinite_logprobs_give_finite_probabilities(bad: float) -> None:
    found = label_probabilities({"likely": bad, "un": -1.0, "The": -2.0}, SCALE, rest="likely")
    assert found is not None
    assert all(math.isfinite(p) and p >= 0 for p in found.values())
    assert sum(found.values()) == pytest.approx(1.0)
    assert answer_label_position([{"**": math.nan}, {"likely": bad, "un": -1.0}],
                                 SCALE) is not None


async def test_pointwise_reranker_with_hostile_logprobs_scores_finite() -> None:
    answers = iter([FakeAnswer("likely", [{"likely": 1000.0}]),
                    FakeAnswer("likely", [{"likely": math.nan, "un": math.inf}]),
                    FakeAnswer("no idea", [{"": -math.inf}])])
    with fake_llm(lambda messages: next(answers)) as fake:
        results = await PointwiseReranker(fake.model, cache=False, max_concurrency=1,
                                         parse_retries=0).arank(
            "q", ["a", "b", "c"])
    assert all(r.score is not None and math.isfinite(r.score) for r in results)
    assert sorted(r.index for r in results) == [0, 1, 2]


# --- stalls ----------------------------------------------------------------------------

def test_think_bomb_does_not_stall_strip_reasoning() -> None:
    with watchdog():
        assert strip_reasoning("<think>" * 150_000) == ""
        assert strip_reasoning("</think>" * 125_000 + " [1]") == "[1]"


def test_whitespace_bomb_does_not_stall_passage_choice() -> None:
    with watchdog():
        assert parse_passage_choice("Passage" + " " * 1_000_000 + "!", "AB") is None
        assert parse_passage_choice("Passage" + " " * 1_000_000 + "1", "AB") is None
        assert parse_passage_choice("Passage" + " " * 1_000_000 + "B", "AB") == 1


def test_passage_choice_with_case_folding_letters_and_odd_labels() -> None:
    letters = "ABCDEFGHIJKLMNOPQRS"
    assert parse_passage_choice("Passage İ", letters) is None  # was a KeyError
    assert parse_passage_choice("passage ſ is best", letters) is None
    assert parse_passage_choice("PASSAGE b is worse", ["", "A", "B"]) == 1
    assert parse_passage_choice("Passage A", ["", ""]) is None


@pytest.mark.parametrize("name", BOMBS)
def test_every_parser_survives_every_1mb_bomb(name: str) -> None:
    answer = bomb(name)
    with watchdog():
        strip_reasoning(answer)
        ranked = parse_permutation(answer, 20)
        choice = parse_passage_choice(answer, "ABCD")
        label = parse_label(answer, SCALE)
    assert len(set(ranked)) == len(ranked) and all(0 <= i < 20 for i in ranked)
    assert choice is None or 0 <= choice < 4
    assert label is None or label in SCALE


# --- misreads --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("answer", "expected"),
    [("not very likely", "likely"), ("Not likely", "unlikely"), ("NOT likely.", "unlikely"),
     ("It isn't likely", "unlikely"), ("not at all likely", "unlikely"),
     ("un-likely", "unlikely"), ("Not sure, likely", "likely"),
     ("not unlikely", None), ("Likely, not very likely", "likely")],
)
def test_negated_labels_read_as_the_label_below(answer: str, expected: str | None) -> None:
    assert parse_label(answer, SCALE) == expected


def test_negated_label_on_a_binary_and_a_numeric_scale() -> None:
    assert parse_label("Not relevant.", {"irrelevant": 0, "relevant": 1}) == "irrelevant"
    assert parse_label("not 3", {str(v): v for v in range(5)}) == "2"


def test_logprob_mass_on_non_label_tokens_is_not_renormalised_away() -> None:
    top = {"not": -0.1, "likely": -2.0}
    covered = label_probabilities(top, SCALE)
    assert covered is not None and covered["likely"] < 0.2  # was 1.0
    blended = label_probabilities(top, SCALE, rest="unlikely")
    likely = math.exp(-2.0) / (math.exp(-0.1) + math.exp(-2.0))  # the sum exceeds 1
    assert blended == pytest.approx({"unlikely": 1 - likely, "likely": likely, "very likely": 0})


async def test_not_likely_with_logprobs_scores_low() -> None:
    answer = FakeAnswer("not likely", [{"not": -0.1, "likely": -2.0}])
    with fake_llm(lambda messages: answer) as fake:
        results = await PointwiseReranker(fake.model, cache=False).arank("q", ["a", "b"])
    top = results.results[0]
    assert top.score == pytest.approx(0.1301, abs=1e-4)  # was 1.0 ("likely" for sure)
    assert top.details["label"] == "unlikely"
    assert sum(top.details["probabilities"].values()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("answer", "labels", "expected"),
    [("Passage A is less relevant than Passage B.", "AB", 1),
     ("Passage A is less relevant than Passage B.", "ABC", 1),
     ("B is worse", "AB", 0), ("Passage B is worse.", "AB", 0),
     ("Passage A is not relevant to the query.", "AB", 1),
     ("Passage A isn't as relevant as Passage B", "AB", 1),
     ("Passage B is better than Passage A", "AB", 1),
     ("I prefer Passage A over Passage B", "AB", 0),
     ("Passage A is relevant, but Passage B is more relevant", "AB", 1),
     ("Passage A is relevant but Passage B is more relevant", "AB", 1),
     ("Passage A covers cats. Passage C answers the query best.", "ABC", 2),
     ("Passage B is the least relevant", "ABC", None),
     ("Passage A and Passage B are equally relevant", "AB", None)],
)
def test_answers_naming_the_loser_pick_the_winner(answer: str, labels: str,
                                                  expected: int | None) -> None:
    assert parse_passage_choice(answer, labels) == expected


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("Of the 20 passages... 3, 1, 2", [2, 0, 1]),
     ("I compared all 20 passages; ranking: 3 > 1 > 2", [2, 0, 1]),
     ("Passage 20 is off-topic. 2, 3, 1", [1, 2, 0]),
     ("17", [16]), ("The best is 4.", [])],
)
def test_unbracketed_ranking_ignores_chatter_numbers(answer: str, expected: list[int]) -> None:
    assert parse_permutation(answer, 20) == expected


# --- totality: fuzz, 10,000 answers through every parser --------------------------------
# Hypothesis draws bytes that pick structured fragments (one cheap draw per example keeps
# 10,000 examples per test affordable), plus a few characters of free text.

POOL = (*FRAGMENTS, *(str(n) for n in range(32)), "9" * 4301, "1" * 5000, "٣١٢", "𝟑 > 𝟏",
        "１，２", " " * 200, "not very", "Passage A is less relevant than Passage B")
LABEL_SETS = [SCALE, {"no": 0, "yes": 1}, {str(v): v for v in range(11)},
              {"irrelevant": 0, "relevant": 1, "highly relevant": 2}]


@st.composite
def answers(draw: st.DrawFn) -> tuple[str, int, dict[str, float]]:
    """An answer of up to 16 fragments and free text, a window size and a label set."""
    picks, free = draw(st.binary(min_size=2, max_size=18)), draw(st.text(max_size=4))
    pieces = [POOL[byte % len(POOL)] for byte in picks[2:]]
    pieces.insert(picks[0] % (len(pieces) + 1), free)
    return "".join(pieces), 1 + picks[0] % 30, LABEL_SETS[picks[1] % len(LABEL_SETS)]


@FUZZ
@given(answers())
def test_fuzz_every_parser_is_total(drawn: tuple[str, int, dict[str, float]]) -> None:
    answer, size, labels = drawn
    stripped = strip_reasoning(answer)
    assert len(stripped) <= len(answer) and stripped == stripped.strip()
    ranked = parse_permutation(answer, size)
    assert len(set(ranked)) == len(ranked) and all(0 <= i < size for i in ranked)
    assert sorted(aggregate([ranked], size)) == list(range(size))
    count = min(size + 1, 25)
    choice = parse_passage_choice(answer, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[:count])
    assert choice is None or 0 <= choice < count
    assert parse_label(answer, labels) in (None, *labels)


LOGPROBS = (0.0, -0.0, -0.1, -2.0, -30.0, 0.5, 2.0, 1000.0, 1e308, -1e308, 5e-324, -745.2,
            math.nan, math.inf, -math.inf, -math.nan)
TOKENS = ("likely", " very", "un", "l", "not", "", " ", "**", "yes", "No", "1", "10", "The",
          "Very", "relevant", "ir", "<think>", "İ", "highly", "Unlikely")


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[dict[str, float]], dict[str, float], str | None]:
    """Top-logprob tables for up to a few positions, a label set and a fallback label."""
    picks = draw(st.binary(min_size=2, max_size=30))
    labels = LABEL_SETS[picks[0] % len(LABEL_SETS)]
    rest = [*labels, None][picks[1] % (len(labels) + 1)]
    positions: list[dict[str, float]] = [{}]
    for first, second in zip(picks[2::2], picks[3::2], strict=False):
        if first >= 240:
            positions.append({})
        positions[-1][TOKENS[first % len(TOKENS)]] = LOGPROBS[second % len(LOGPROBS)]
    return positions, labels, rest


@FUZZ
@given(tables())
def test_fuzz_label_probabilities_are_finite_and_sum_to_at_most_one(
    drawn: tuple[list[dict[str, float]], dict[str, float], str | None],
) -> None:
    positions, labels, rest = drawn
    top = answer_label_position(positions, labels)
    assert top is None or any(top is position for position in positions)
    for table in positions:
        found = label_probabilities(table, labels, rest)
        if found is None:
            continue
        assert set(found) == set(labels)
        assert all(math.isfinite(p) and p >= 0 for p in found.values())
        assert sum(found.values()) <= 1 + 1e-9
        if rest is not None:
            assert sum(found.values()) == pytest.approx(1.0)


def test_long_answers_are_read_at_both_ends() -> None:
    filler = "x " * MAX_ANSWER_CHARS
    assert parse_permutation(filler + "[2] > [1]", 2) == [1, 0]
    assert parse_passage_choice("Passage B. " + filler, "AB") == 1


# --- strategies: every document back exactly once, whatever the answers ----------------

Factory = Callable[[str], Any]
COMMON: dict[str, Any] = {"cache": False, "max_retries": 0, "on_error": "keep_order"}
STRATEGIES: dict[str, Factory] = {
    "listwise": lambda model: ListwiseReranker(model, window_size=4, step=2, **COMMON),
    "pointwise": lambda model: PointwiseReranker(model, **COMMON),
    "pairwise": lambda model: PairwiseReranker(model, method="heapsort", k=3, **COMMON),
    "setwise": lambda model: SetwiseReranker(model, num_children=3, k=3, **COMMON),
}


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
async def test_hostile_answers_through_a_strategy_keep_every_document(strategy: str) -> None:
    rng = random.Random(strategy)

    def respond(messages: object) -> FakeAnswer:
        if rng.random() < 0.05:
            raise ValueError("backend down")
        return FakeAnswer(hostile_answer(rng), hostile_logprobs(rng) or None)

    with fake_llm(respond) as fake:
        reranker = STRATEGIES[strategy](fake.model)
        while fake.calls < 300:
            size = rng.randint(1, 9)
            results = await reranker.arank("q", [f"doc {i}" for i in range(size)])
            assert sorted(r.index for r in results) == list(range(size))
            assert [r.rank for r in results] == list(range(1, size + 1))


def test_pointwise_parsers_are_still_importable_from_the_strategy() -> None:
    assert pointwise.parse_label is parse_label
    assert pointwise.label_probabilities is label_probabilities
