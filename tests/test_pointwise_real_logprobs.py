"""Pointwise scoring on the logprob shapes a real small model returns (recorded from
llama-cpp-python's OpenAI server running the embedded SmolLM2-135M GGUF, DL19 passages):
the label is often not the first answer token ("The passage is likely ..."), and under a
grammar the server reports the raw (unconstrained) alternatives."""

from __future__ import annotations

import math

import pytest

from llm_rerank import InvalidInput, PointwiseReranker
from llm_rerank.parsing_logprobs import (
    answer_label_position,
    constrained_label_probabilities,
    label_grammar,
)
from llm_rerank.strategies.pointwise import DEFAULT_LABELS, label_values
from llm_rerank.testing import FakeAnswer, fake_llm

SCALE = label_values(DEFAULT_LABELS)

# 'The passage is likely to answer the search' (temperature 0, top_logprobs=5)
SENTENCE = [
    {"The": -1.16, "You": -3.18, "Yes": -3.25, "This": -3.27, "A": -3.29},
    {" passage": -0.12, " answer": -3.4, " sentence": -5.05, " pass": -5.59, " most": -5.79},
    {" is": -1.77, " provides": -1.92, " does": -2.08, " doesn": -2.89, " answers": -3.09},
    {" likely": -2.22, " very": -2.29, " not": -2.35, " highly": -2.9, " unlikely": -2.94},
    {" to": -1.08, " the": -2.59, " that": -2.94, " not": -2.99, " and": -3.52},
]
# '"unlikely"': a quote first, then the label in two pieces
QUOTED = [
    {'"': -1.89, "The": -2.35, "A": -2.42, "1": -3.4, "You": -3.41},
    {"un": -0.38, "very": -3.53, "Un": -4.11, "al": -4.67, "und": -4.87},
    {"likely": -0.0, "l": -6.44, "likelihood": -8.91, "lik": -9.04, "like": -9.89},
    {'"': -0.07, '",': -3.98, ",": -4.11, ',"': -4.51, '".': -4.8},
]
# 'The passage is not answerable with one': no label in the text
NO_LABEL = [
    {"The": -1.48, "You": -2.85, '"': -3.04, "1": -3.04, "No": -3.39},
    {" passage": -0.11, " answer": -4.39, " Passage": -4.74, " pass": -4.83},
    {" is": -1.7, " does": -1.97, " doesn": -2.34, " provides": -2.63, " answers": -3.08},
    {" not": -2.0, " likely": -2.11, " unlikely": -2.48, " very": -3.06, " indeed": -3.37},
    {" answer": -2.44, " only": -2.53, " very": -2.8, " likely": -2.88, " entirely": -3.1},
]
# 'Not likely': reading "likely" at the second position would invert the answer
NEGATED = [{"Not": -0.2, "The": -2.0}, {" likely": -0.05, " very": -3.0}]
# grammar root ::= "unlikely" | "likely" | "very likely", top_logprobs=20: the server
# reports the raw alternatives at the first position, the chosen 'un' among them
CONSTRAINED = [
    {'"': -1.89, "The": -2.35, "A": -2.42, "1": -3.4, "You": -3.41, "un": -4.03,
     "very": -4.5, "likely": -5.2, "Very": -6.0},
    {"likely": -0.0, "l": -6.85, "likelihood": -8.48},
]


def test_the_label_position_is_where_the_sentence_names_a_label() -> None:
    assert answer_label_position(SENTENCE, SCALE) is SENTENCE[3]
    assert answer_label_position(QUOTED, SCALE) is QUOTED[1]


def test_without_a_label_in_the_text_the_position_with_most_label_mass_is_read() -> None:
    assert answer_label_position(NO_LABEL, SCALE) is NO_LABEL[3]


def test_no_position_after_a_negation_is_read() -> None:
    assert answer_label_position(NEGATED, SCALE) is None
    assert answer_label_position([{"The": -0.1}, {" passage": -0.1}], SCALE) is None


def test_constrained_probabilities_are_the_labels_shares_of_label_mass() -> None:
    found = constrained_label_probabilities(CONSTRAINED[0], SCALE)
    assert found is not None
    weights = {"unlikely": math.exp(-4.03), "likely": math.exp(-5.2),
               "very likely": math.exp(-4.5) + math.exp(-6.0)}
    total = sum(weights.values())
    assert found == pytest.approx({label: w / total for label, w in weights.items()})
    assert constrained_label_probabilities({"The": -0.1}, SCALE) is None


def test_label_grammar_lists_the_labels_escaped() -> None:
    assert label_grammar(SCALE) == 'root ::= "unlikely" | "likely" | "very likely"'
    assert label_grammar({'say "no"': 0, "a\\b": 1}) == r'root ::= "say \"no\"" | "a\\b"'


@pytest.mark.parametrize(
    ("text", "positions", "label", "most_probable"),
    [("The passage is likely to answer the search", SENTENCE, "likely", "likely"),
     ('"unlikely"', QUOTED, "unlikely", "unlikely"),
     ("The passage is not answerable with one", NO_LABEL, "unlikely", "unlikely")],
)
async def test_real_answer_shapes_score_from_logprobs(
    text: str, positions: list[dict[str, float]], label: str, most_probable: str
) -> None:
    with fake_llm(lambda messages: FakeAnswer(text, positions)) as fake:
        results = await PointwiseReranker(fake.model, cache=False).arank("q", ["a", "b"])
    for result in results:
        assert result.details["source"] == "logprobs"
        assert result.details["label"] == label
        probabilities = result.details["probabilities"]
        assert max(probabilities, key=probabilities.__getitem__) == most_probable
        assert sum(probabilities.values()) == pytest.approx(1.0)


async def test_a_negated_sentence_falls_back_to_its_text() -> None:
    with fake_llm(lambda messages: FakeAnswer("Not likely", NEGATED)) as fake:
        results = await PointwiseReranker(fake.model, cache=False).arank("q", ["a", "b"])
    assert [r.details["source"] for r in results] == ["text", "text"]
    assert results[0].details["label"] == "unlikely"


async def test_grammar_constraint_is_sent_in_extra_body_and_read_conditionally() -> None:
    with fake_llm(lambda messages: FakeAnswer("unlikely", CONSTRAINED)) as fake:
        reranker = PointwiseReranker(fake.model, constrain="grammar", cache=False,
                                     completion_kwargs={"extra_body": {"top_k": 1}})
        results = await reranker.arank("q", ["a", "b"])
    params = fake.requests[0]["params"]
    assert params["extra_body"] == {"top_k": 1, "grammar": label_grammar(SCALE)}
    assert params["top_logprobs"] == 20
    expected = constrained_label_probabilities(CONSTRAINED[0], SCALE)
    for result in results:
        assert result.details["source"] == "logprobs"
        assert result.details["probabilities"] == pytest.approx(expected)


async def test_no_constraint_by_default_sends_no_server_specific_field() -> None:
    with fake_llm(lambda messages: FakeAnswer("likely", [{"likely": -0.1}])) as fake:
        await PointwiseReranker(fake.model, cache=False).arank("q", ["a", "b"])
    params = fake.requests[0]["params"]
    assert "extra_body" not in params and "grammar" not in params


def test_unknown_constraint_is_refused() -> None:
    with pytest.raises(InvalidInput, match="constrain"):
        PointwiseReranker("openai/gpt-4o-mini", constrain="regex", cache=False)
