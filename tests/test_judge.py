"""The simulated judge's logic: prompt reading and answers for the four bundled templates."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from llm_rerank.errors import InvalidInput
from llm_rerank.eval.io import RerankRequest
from llm_rerank.models import Document
from llm_rerank.parsing import parse_permutation
from llm_rerank.prompts import PromptTemplate, truncate_words
from llm_rerank.testing.judge import Judge, Knowledge, garbage_answer
from llm_rerank.testing.prompt_reading import UnrecognizedPrompt, parse_prompt
from llm_rerank.tokens import count_word_tokens

QUERY = "what do fleas eat"
TEXTS = {
    "d0": "Cats sleep for most of the day and hunt at night.",
    "d1": "Adult fleas feed on the blood of their host animal, such as dogs and cats.",
    "d2": "Flea larvae eat organic debris and the droppings of adult fleas.",
    "d3": "The Eiffel Tower was completed in 1889 for the World's Fair.",
    "long": " ".join(f"word{n}" for n in range(400)) + " fleas eat blood",
}
QRELS = {"q1": {"d1": 3, "d2": 2, "long": 1, "d3": 0}}
Messages = list[dict[str, str]]


@pytest.fixture
def judge() -> Judge:
    return make_judge()


def make_judge(**knobs: Any) -> Judge:
    docs = [Document(id=doc_id, text=text) for doc_id, text in TEXTS.items()]
    return Judge([RerankRequest("q1", QUERY, docs)], QRELS, **knobs)


def listwise(ids: list[str], query: str = QUERY) -> Messages:
    passages = [{"id": n, "text": truncate_words(TEXTS[d], 300)} for n, d in enumerate(ids, 1)]
    return PromptTemplate.load("listwise/rankgpt").render(query=query, passages=passages)


def pairwise(a: str, b: str) -> Messages:
    return PromptTemplate.load("pairwise/prp").render(
        query=QUERY, passage_a=TEXTS[a], passage_b=TEXTS[b])


def setwise(ids: list[str]) -> Messages:
    passages = [{"id": chr(65 + n), "text": TEXTS[d]} for n, d in enumerate(ids)]
    return PromptTemplate.load("setwise/heapsort").render(query=QUERY, passages=passages)


def pointwise(doc_id: str, labels: list[str] | None = None) -> Messages:
    return PromptTemplate.load("pointwise/labels").render(
        query=QUERY, passage=truncate_words(TEXTS[doc_id], 300),
        labels=labels or ["unlikely", "likely", "very likely"])


def test_parse_prompt_reads_every_template() -> None:
    parsed = parse_prompt(listwise(["d0", "d1", "d2"]))
    assert (parsed.kind, parsed.query) == ("listwise", QUERY)
    assert [(p.label, p.text) for p in parsed.passages][1] == ("2", TEXTS["d1"])
    parsed = parse_prompt(pairwise("d1", "d2"))
    assert parsed.kind == "pairwise" and [p.label for p in parsed.passages] == ["A", "B"]
    assert parsed.passages[1].text == TEXTS["d2"]
    assert parse_prompt(setwise(["d0", "d1", "d2", "d3"])).kind == "setwise"
    assert parse_prompt(setwise(["d0", "d1"])).kind == "setwise"  # "most relevant" of 2
    parsed = parse_prompt(pointwise("d1", ["no", "yes"]))
    assert (parsed.kind, parsed.labels, parsed.passages[0].text) == (
        "pointwise", ["no", "yes"], TEXTS["d1"])


@pytest.mark.parametrize("messages", [
    [{"role": "user", "content": "Tell me a joke."}],
    [{"role": "user", "content": "Search query: q\n\nNo passages at all."}],
    [{"role": "user", "content": 'Search query: q\n\nPassage: text\n\nLabels: "only one".'}],
    [],
])
def test_unrecognised_prompts_raise(messages: Messages) -> None:
    with pytest.raises(UnrecognizedPrompt):
        parse_prompt(messages)


def test_the_kind_given_decides_and_the_prose_is_only_a_fallback(judge: Judge) -> None:
    """Issue 16: the kind comes with the request; the words of the prompt do not matter."""
    reworded = [{**m, "content": m["content"].replace("the most relevant", "the best")}
                for m in setwise(["d0", "d1"])]
    assert parse_prompt(reworded).kind == "pairwise"  # no tag: two passages read as pairwise
    assert parse_prompt(reworded, kind="setwise").kind == "setwise"
    asking = [{**m, "content": m["content"].replace("more relevant", "the most relevant")}
              for m in pairwise("d1", "d2")]
    assert parse_prompt(asking).kind == "setwise"
    assert parse_prompt(asking, kind="pairwise").kind == "pairwise"
    assert parse_prompt(asking, kind="no-such-kind").kind == "setwise"  # unknown: the prose
    answer = judge.answer(reworded, kind="setwise")
    assert (answer.text, answer.kind) == ("Passage B", "setwise")
    parsed = parse_prompt(pointwise("d1", ["no", "yes"]), kind="pointwise")
    assert (parsed.labels, parsed.passages[0].text) == (["no", "yes"], TEXTS["d1"])
    with pytest.raises(UnrecognizedPrompt, match="listwise prompt needs"):
        parse_prompt(pairwise("d1", "d2"), kind="listwise")
    with pytest.raises(UnrecognizedPrompt, match="'Query to split:'"):
        parse_prompt(pairwise("d1", "d2"), kind="decompose")
    with pytest.raises(UnrecognizedPrompt, match="criterion lines"):
        parse_prompt(pointwise("d1"), kind="criteria")


def test_a_fake_llm_passes_the_tag_to_a_responder_that_takes_it(judge: Judge) -> None:
    from llm_rerank import SetwiseReranker
    from llm_rerank.testing import fake_llm

    kinds: list[str | None] = []

    def respond(messages: Messages, tag: dict[str, str]) -> str:
        kinds.append(tag.get("kind"))
        return judge.answer(messages, kind=tag.get("kind")).text

    with fake_llm(respond) as fake:
        results = SetwiseReranker(fake.model, cache=False).rank(QUERY, list(TEXTS.values()))
    assert [r.document.text for r in results][:2] == [TEXTS["d1"], TEXTS["d2"]]
    assert kinds and set(kinds) == {"setwise"}
    assert fake.requests[0]["tag"] == {"strategy": "setwise", "kind": "setwise"}


def test_perfect_listwise_orders_by_grade_and_keeps_ties_in_prompt_order(judge: Judge) -> None:
    answer = judge.answer(listwise(["d0", "d3", "long", "d2", "d1"]))
    assert (answer.text, answer.kind, answer.garbage) == ("[5] > [4] > [3] > [1] > [2]",
                                                          "listwise", False)


def test_truncated_passages_are_matched_by_prefix(judge: Judge) -> None:
    messages = listwise(["d0", "long"])
    assert len(messages[1]["content"].split()) < 400  # the long passage was cut to 300 words
    assert judge.answer(messages).text == "[2] > [1]"
    knowledge = judge.knowledge
    assert knowledge.grade(QUERY, "  adult FLEAS feed on the\nblood") == 3
    assert knowledge.grade(QUERY, "Adult fleas feed on the bloodbath") == 0  # not a word prefix


def test_duplicate_texts_in_one_prompt_get_distinct_documents() -> None:
    docs = [Document(id="x", text="Same text."), Document(id="y", text="Same  text.")]
    knowledge = Knowledge([RerankRequest("q1", "q", docs)], {"q1": {"x": 1, "y": 3}})
    assert knowledge.grades("q", ["Same text.", "Same text."]) == [1, 3]
    assert knowledge.grades("q", ["Same text."]) == [1]  # alone: the first in input order


def test_global_index_and_unknown_query() -> None:
    other = RerankRequest("q2", "other query", [Document(id="x", text="Shared passage text.")])
    knowledge = Knowledge([RerankRequest("q1", "first", [Document(id="a", text="a")]), other],
                          {"q1": {"x": 2}})
    assert knowledge.grade("first", "Shared passage text.") == 2  # found among all documents
    assert knowledge.grade("never seen", "Shared passage text.") == 0
    judge = make_judge()
    assert judge.answer(listwise(["d1", "d2", "d0"], query="an unknown query")).text == (
        "[1] > [2] > [3]")


def test_pairwise_and_setwise_pick_the_best(judge: Judge) -> None:
    assert judge.answer(pairwise("d2", "d1")).text == "Passage B"
    assert judge.answer(pairwise("d1", "d2")).text == "Passage A"
    assert judge.answer(pairwise("d0", "d3")).text == "Passage A"  # a tie goes to the first
    assert judge.answer(setwise(["d0", "d2", "d1", "d3"])).text == "Passage C"


def test_pointwise_labels_follow_the_grade_scale(judge: Judge) -> None:
    labels = {d: judge.answer(pointwise(d)).text for d in ("d3", "long", "d2", "d1")}
    assert labels == {"d3": "unlikely", "long": "likely", "d2": "likely", "d1": "very likely"}
    five = ["0", "1", "2", "3", "4"]
    assert [judge.answer(pointwise(d, five)).text for d in ("d3", "long", "d2", "d1")] == [
        "0", "1", "3", "4"]
    assert judge.answer(pointwise("d1", ["no", "yes"])).text == "yes"
    assert judge.answer(pointwise("d0", ["no", "yes"])).text == "no"


def expected_value(judge: Judge, doc_id: str, labels: list[str]) -> float:
    answer = judge.answer(pointwise(doc_id, labels), logprobs=True)
    assert answer.logprobs is not None
    first = answer.logprobs[0]
    top = {alt["token"]: alt["logprob"] for alt in first["top_logprobs"]}
    assert first["token"] == answer.text.split()[0] and first["logprob"] == top[first["token"]]
    assert math.isclose(sum(math.exp(lp) for lp in top.values()), 1.0, rel_tol=1e-9)
    tokens = [label.split()[0] for label in labels]
    assert sorted(top) == sorted(tokens)  # one entry per label, keyed by its first word
    return sum(i * math.exp(top[token]) for i, token in enumerate(tokens))


@pytest.mark.parametrize("labels", [
    ["unlikely", "likely", "very likely"],
    ["irrelevant", "marginal", "related", "relevant", "perfect"],
    ["no", "yes"],
])
def test_pointwise_logprobs_rank_by_grade(judge: Judge, labels: list[str]) -> None:
    values = [expected_value(judge, d, labels) for d in ("d3", "long", "d2", "d1")]
    assert values == sorted(values) and values[0] < values[-1]
    assert len(set(values)) == 4  # grades 0 < 1 < 2 < 3 stay distinct


def test_noise_and_position_bias_are_deterministic_and_matter() -> None:
    ids = ["d0", "d3", "long", "d2", "d1"]
    noisy = make_judge(noise=2.0, seed=1)
    assert noisy.answer(listwise(ids)).text == make_judge(noise=2.0, seed=1).answer(
        listwise(ids)).text
    answers = {make_judge(noise=2.0, seed=seed).answer(listwise(ids)).text for seed in range(20)}
    assert len(answers) > 3
    biased = make_judge(position_bias=10.0)
    assert biased.answer(listwise(ids)).text == "[1] > [2] > [3] > [4] > [5]"
    assert biased.answer(pairwise("d3", "d1")).text == "Passage A"
    assert make_judge(position_bias=0.5).answer(pairwise("d0", "d3")).text == "Passage A"
    assert make_judge(position_bias=0.5).answer(pairwise("d1", "d2")).text == "Passage A"


def test_garbage_answers_are_malformed_but_parseable_safely() -> None:
    judge = make_judge(garbage_rate=1.0)
    answer = judge.answer(listwise(["d0", "d1", "d2"]))
    assert answer.garbage
    rng = random.Random(0)
    prompt = parse_prompt(listwise(["d0", "d1", "d2", "d3"]))
    for _ in range(30):
        text = garbage_answer(prompt, rng)
        assert sorted(parse_permutation(text, 4)) != [0, 1, 2, 3]
    for messages in (pairwise("d1", "d2"), setwise(["d0", "d1", "d2"]), pointwise("d1")):
        prompt = parse_prompt(messages)
        texts = {garbage_answer(prompt, rng) for _ in range(30)}
        valid = {f"Passage {p.label}" for p in prompt.passages} | set(prompt.labels)
        assert not texts & valid


def test_error_status_is_deterministic_per_attempt() -> None:
    judge = make_judge(error_rate=0.5, seed=3)
    messages = listwise(["d0", "d1"])
    statuses = [judge.error_status(messages, attempt) for attempt in range(40)]
    assert statuses == [make_judge(error_rate=0.5, seed=3).error_status(messages, a)
                        for a in range(40)]
    assert {429, 503, None} == set(statuses)
    assert make_judge().error_status(messages, 0) is None
    assert make_judge(error_rate=1.0).error_status(messages, 5) in (429, 503)


def test_bad_knobs_raise_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="error_rate"):
        make_judge(error_rate=1.5)
    with pytest.raises(InvalidInput, match="temperature"):
        make_judge(temperature=1.0)


def test_token_counter() -> None:
    assert count_word_tokens("Passage A") == 2
    assert count_word_tokens("[12] > [3]") == 7
    assert count_word_tokens("") == 0


def metadata_prefixed(doc_id: str) -> str:
    """A passage as LlamaIndex ``MetadataMode.EMBED`` renders it: ``key: value`` lines first."""
    return f"file_name: {doc_id}.txt\nsource: encyclopedia\n\n{TEXTS[doc_id]}"


def test_metadata_prefixed_passages_are_still_found(judge: Judge) -> None:
    knowledge = judge.knowledge
    assert knowledge.lookup(QUERY, [metadata_prefixed("d1"), metadata_prefixed("d2")]) == [3, 2]
    assert knowledge.lookup(QUERY, ["title: Fleas\n" + truncate_words(TEXTS["long"], 300)]) == [1]
    passages = [{"id": n, "text": truncate_words(metadata_prefixed(d), 300)}  # one line each
                for n, d in enumerate(["d0", "d3", "d2", "d1"], 1)]
    messages = PromptTemplate.load("listwise/rankgpt").render(query=QUERY, passages=passages)
    answer = judge.answer(messages)
    assert (answer.text, answer.unmatched) == ("[4] > [3] > [1] > [2]", 0)


def test_unmatched_passages_are_counted(judge: Judge) -> None:
    knowledge = judge.knowledge
    assert knowledge.lookup(QUERY, ["lorem ipsum dolor sit amet", TEXTS["d1"]]) == [None, 3]
    assert knowledge.lookup(QUERY, ["some words then the"]) == [None]  # a short tail: no match
    assert knowledge.lookup("an unknown query", [TEXTS["d1"]]) == [None]
    assert knowledge.grades(QUERY, ["lorem ipsum", TEXTS["d0"]]) == [0, 0]  # unjudged d0: 0
    assert judge.answer(listwise(["d0", "d1"])).unmatched == 0
    garbage = [{"id": 1, "text": "nothing like any document"}, {"id": 2, "text": TEXTS["d1"]}]
    messages = PromptTemplate.load("listwise/rankgpt").render(query=QUERY, passages=garbage)
    assert judge.answer(messages).unmatched == 1
    assert make_judge(garbage_rate=1.0).answer(messages).unmatched == 1
