from __future__ import annotations

import math
import re

import pytest
from graded_docs import docs, prompt

from llm_rerank import InvalidInput, PointwiseReranker, get_reranker
from llm_rerank.parsing_logprobs import answer_label_position
from llm_rerank.strategies.pointwise import (
    DEFAULT_LABELS,
    label_probabilities,
    label_values,
    parse_label,
)
from llm_rerank.testing import FakeAnswer, fake_llm

PASSAGE = re.compile(r"^Passage: doc (\d+) grade (\d+)", re.MULTILINE)
LABEL_LINE = re.compile(r"^Labels, from least to most relevant: (.*)\.$", re.MULTILINE)
DEFAULT = label_values(DEFAULT_LABELS)


def grade_of(messages: list[dict[str, str]]) -> int:
    found = PASSAGE.search(prompt(messages))
    assert found, prompt(messages)
    return int(found.group(2))


def offered_labels(messages: list[dict[str, str]]) -> list[str]:
    line = LABEL_LINE.search(prompt(messages))
    assert line, prompt(messages)
    return re.findall(r'"([^"]+)"', line.group(1))


def perfect_judge(messages: list[dict[str, str]]) -> str:
    """Answers the label whose position equals the hidden grade (capped at the last label)."""
    labels = offered_labels(messages)
    return labels[min(grade_of(messages), len(labels) - 1)]


def logprobs(**probabilities: float) -> list[dict[str, float]]:
    return [{token.replace("_", " "): math.log(p) for token, p in probabilities.items()}]


async def test_perfect_judge_on_a_five_point_scale_ties_keep_input_order() -> None:
    grades = [2, 4, 0, 4, 1, 3, 2]
    scale = {str(value): value for value in range(5)}
    with fake_llm(perfect_judge) as fake:
        results = await PointwiseReranker(fake.model, labels=scale, use_logprobs=False,
                                          cache=False).arank("q", docs(grades))
    assert [r.index for r in results] == [1, 3, 5, 0, 6, 4, 2]
    assert [r.score for r in results] == [4, 4, 3, 2, 2, 1, 0]
    assert all(r.details["source"] == "text" for r in results)
    assert results.usage.llm_calls == fake.calls == 7
    params = fake.requests[0]["params"]
    assert params["max_tokens"] == 8 and "logprobs" not in params


async def test_default_labels_prompt_and_text_scores() -> None:
    with fake_llm(perfect_judge) as fake:
        results = await PointwiseReranker(fake.model, cache=False).arank("q", docs([0, 2, 1]))
    assert offered_labels(fake.requests[0]["messages"]) == list(DEFAULT_LABELS)
    assert "Search query: q" in prompt(fake.requests[0]["messages"])
    assert [(r.index, r.score, r.details["label"]) for r in results] == [
        (1, 2.0, "very likely"), (2, 1.0, "likely"), (0, 0.0, "unlikely")]


async def test_expected_value_from_logprobs() -> None:
    answers = {
        0: FakeAnswer("likely", logprobs(likely=0.6, _very=0.3, un=0.1)),
        1: FakeAnswer("very likely", logprobs(Very=0.5, very=0.4, likely=0.1)),
        2: FakeAnswer("unlikely", logprobs(un=0.7, unlikely=0.2, The=0.1)),
    }
    with fake_llm(lambda messages: answers[grade_of(messages)]) as fake:
        results = await PointwiseReranker(fake.model, cache=False).arank("q", docs([0, 1, 2]))
    scores = {r.index: r.score for r in results}
    assert scores[0] == pytest.approx(0.6 * 1 + 0.3 * 2)
    assert scores[1] == pytest.approx(0.9 * 2 + 0.1 * 1)
    assert scores[2] == pytest.approx(0.0)
    assert [r.index for r in results] == [1, 0, 2]
    top = results.results[0]
    assert top.details["source"] == "logprobs" and top.details["label"] == "very likely"
    assert top.details["probabilities"]["very likely"] == pytest.approx(0.9)
    params = fake.requests[0]["params"]
    assert params["logprobs"] is True and params["top_logprobs"] == 5


async def test_logprobs_fall_back_to_text_per_call_and_can_be_turned_off() -> None:
    answers = {
        0: FakeAnswer("likely", logprobs(likely=0.5, unlikely=0.5)),
        1: FakeAnswer("very likely"),  # the provider sent no logprobs
        2: FakeAnswer("likely", logprobs(The=0.9, A=0.1)),  # no label token
    }
    with fake_llm(lambda messages: answers[grade_of(messages)]) as fake:
        auto = await PointwiseReranker(fake.model, cache=False).arank("q", docs([0, 1, 2]))
        off = await PointwiseReranker(fake.model, use_logprobs=False, cache=False).arank(
            "q", docs([0, 1, 2]))
    assert {r.index: (r.score, r.details["source"]) for r in auto} == {
        0: (0.5, "logprobs"), 1: (2.0, "text"), 2: (1.0, "text")}
    assert {r.index: (r.score, r.details["source"]) for r in off} == {
        0: (1.0, "text"), 1: (2.0, "text"), 2: (1.0, "text")}


async def test_unparsable_answers_and_absorbed_errors_score_lowest() -> None:
    def judge(messages: list[dict[str, str]]) -> str:
        grade = grade_of(messages)
        if grade == 9:
            raise ValueError("backend down")
        return "I cannot say" if grade == 8 else perfect_judge(messages)

    with fake_llm(judge) as fake:
        results = await PointwiseReranker(fake.model, cache=False, max_retries=0,
                                          on_error="keep_order").arank("q", docs([8, 9, 0, 1]))
    assert [r.index for r in results] == [3, 0, 1, 2]
    assert {r.index: r.details["source"] for r in results} == {
        3: "text", 0: "parse_failed", 1: "error", 2: "text"}
    assert results.usage.parse_failures == 1 and len(results.errors) == 1


async def test_single_document_needs_no_call() -> None:
    with fake_llm(perfect_judge) as fake:
        results = await PointwiseReranker(fake.model, cache=False).arank("q", ["only"])
    assert [r.index for r in results] == [0] and fake.calls == 0


async def test_calls_run_concurrently_and_max_tokens_can_be_overridden() -> None:
    with fake_llm(perfect_judge, latency=0.05) as fake:
        reranker = PointwiseReranker(fake.model, cache=False, max_concurrency=4,
                                     completion_kwargs={"max_tokens": 64})
        await reranker.arank("q", docs([0, 1, 2, 0, 1, 2, 0, 1]))
    assert fake.peak_in_flight == 4
    assert {request["params"]["max_tokens"] for request in fake.requests} == {64}


def test_label_sets() -> None:
    assert label_values(["no", "yes"]) == {"no": 0.0, "yes": 1.0}
    assert list(label_values({"high": 3, "low": -1, "mid": 0.5})) == ["low", "mid", "high"]
    reranker = get_reranker("pointwise", model="fake/x", cache=False, labels=("no", "yes"))
    assert isinstance(reranker, PointwiseReranker)
    assert reranker.labels == {"no": 0.0, "yes": 1.0}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("very likely", "very likely"), ("Very Likely.", "very likely"), ('"likely"', "likely"),
     ("Unlikely", "unlikely"), ("unlikely, I think", "unlikely"),
     ("Label: very-likely", "very likely"), ("<think>unlikely? no</think>\nlikely", "likely"),
     ("**Likely**", "likely"), ("it is likely. not very likely", "likely"),
     ("probably", None), ("", None), ("<think>very likely", None), ("likelyhood", None)],
)
def test_parse_label(answer: str, expected: str | None) -> None:
    assert parse_label(answer, DEFAULT) == expected


def test_parse_label_on_numeric_scales() -> None:
    scale = label_values([str(value) for value in range(11)])
    assert parse_label("10", scale) == "10"
    assert parse_label("Score: 1.", scale) == "1"


@pytest.mark.parametrize(
    ("top", "expected"),
    [({"un": 0.2, "likely": 0.3, " very": 0.5}, (0.2, 0.3, 0.5)),
     ({"Unlikely": 0.5, "l": 0.5}, (0.5, 0.5, 0.0)),
     ({"very": 0.25, "Very": 0.25, "**": 0.5}, (0.0, 0.0, 1.0)),
     ({"The": 0.9, "": 0.1}, None)],
)
def test_label_probabilities_match_token_prefixes(
    top: dict[str, float], expected: tuple[float, float, float] | None
) -> None:
    found = label_probabilities({t: math.log(p) for t, p in top.items()}, DEFAULT)
    assert found == (None if expected is None else pytest.approx(dict(zip(
        DEFAULT_LABELS, expected, strict=True))))


def test_ambiguous_and_exact_tokens() -> None:
    scale = label_values([str(value) for value in range(11)])
    found = label_probabilities({"1": math.log(0.5), "10": math.log(0.5)}, scale)
    assert found is not None
    assert (found["1"], found["10"]) == pytest.approx((0.5, 0.5))
    shared = label_values(["very unlikely", "very likely"])
    assert label_probabilities({"very": 0.0}, shared) is None


def test_answer_label_position_skips_quotes_and_spaces() -> None:
    positions = [{'"': -0.01, "likely": -5.0}, {" ": -0.1}, {"likely": -0.2, "un": -1.0}]
    assert answer_label_position(positions, DEFAULT) is positions[2]
    assert answer_label_position([{"**": 0.0}], DEFAULT) is None


@pytest.mark.parametrize(
    ("options", "message"),
    [({"labels": "yes"}, "labels"), ({"labels": ["only"]}, "at least two"),
     ({"labels": ["Yes", "yes!"]}, "differ"), ({"labels": ["a", ""]}, "label"),
     ({"labels": {"a": 0, "b": "high"}}, "value"), ({"labels": ["a", 3]}, "label"),
     ({"use_logprobs": "yes"}, "use_logprobs"), ({"top_logprobs": 0}, "top_logprobs"),
     ({"top_logprobs": 21}, "top_logprobs")],
)
def test_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        PointwiseReranker("fake/x", cache=False, **options)  # type: ignore[arg-type]


def test_unknown_options_raise_type_error() -> None:
    with pytest.raises(TypeError, match="label_set"):
        get_reranker("pointwise", model="fake/x", label_set=["a", "b"])
