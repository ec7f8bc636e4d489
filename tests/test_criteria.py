"""Criteria of multi-part queries: coercion, total parsers, CriteriaReranker and the
criteria plumbing (options, per query, batches, other strategies' prompts, cache key)."""

from __future__ import annotations

import random
import re
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_rerank import get_reranker
from llm_rerank.criteria import VERDICT_VALUES, Criterion, coerce_criteria
from llm_rerank.errors import InvalidInput
from llm_rerank.models import Document
from llm_rerank.parsing_criteria import Verdict, parse_decomposition, parse_verdicts
from llm_rerank.reranker import RankingContext, Reranker, Scored
from llm_rerank.strategies.criteria import CriteriaReranker, coverage_gain, expected_value
from llm_rerank.testing import FakeAnswer, fake_llm
from llm_rerank.testing.hostile import bomb, hostile_answer, hostile_logprobs

Messages = list[dict[str, str]]
DOCS = ["heat pumps move heat", "gas is cheap", "both: heat pumps cost less", "football"]


def user(messages: Messages) -> str:
    return messages[-1]["content"] if messages[-1]["role"] == "user" else messages[1]["content"]


def passage(messages: Messages) -> str:
    match = re.search(r"^Passage: (.*)$", user(messages), re.MULTILINE)
    assert match is not None
    return match.group(1)


def keyword_judge(messages: Messages) -> str:
    """C1 = mentions 'heat', C2 = mentions 'cost' or 'cheap'."""
    if "Query to split:" in user(messages):
        return "1. how does a heat pump heat\n2. what does it cost"
    text = passage(messages)
    c1 = "yes" if "heat" in text else "no"
    c2 = "yes" if "cost" in text or "cheap" in text else "no"
    return f"C1: {c1}\nC2: {c2}"


# --- coercion ----------------------------------------------------------------------------

def test_criteria_coercion() -> None:
    given = coerce_criteria(["a", {"text": " b  c ", "weight": 2, "required": True},
                             Criterion(text="d")])
    assert given == (Criterion(text="a"), Criterion(text="b c", weight=2.0, required=True),
                     Criterion(text="d"))
    assert coerce_criteria("auto") == "auto" and coerce_criteria(None) is None


@pytest.mark.parametrize(("value", "message"), [
    ("cost", "one criterion is written ['cost']"),
    ([], "empty list"),
    ([""], "non-empty 'text'"),
    ([3], "must be a str or a {text, weight, required} mapping, got int"),
    ([{"text": "a", "wieght": 2}], "unknown keys ['wieght']"),
    ([{"text": "a", "weight": 0}], "weight 0"),
    ([{"text": "a", "weight": float("nan")}], "weight nan"),
    ([{"text": "a", "weight": True}], "weight True"),
    ([{"text": "a", "required": "yes"}], "required='yes'"),
    (["a", "A"], "given twice"),
    ([str(i) * 3 for i in range(11)], "the limit is 10"),
    (["x" * 301], "301 characters"),
    ({"text": "a"}, "got dict"),
])
def test_bad_criteria_are_named(value: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        coerce_criteria(value)


def test_bad_criteria_option_and_argument() -> None:
    with pytest.raises(InvalidInput, match="CriteriaReranker: option criteria"):
        CriteriaReranker("fake/x", criteria="costs", cache=False)
    rr = get_reranker("listwise", model="fake/x", cache=False)
    with pytest.raises(InvalidInput, match="weight"):
        rr.rank("q", ["a"], criteria=[{"text": "a", "weight": -1}])


# --- parsers -----------------------------------------------------------------------------

@pytest.mark.parametrize(("answer", "parts"), [
    ("1. heat\n2. cost", ["heat", "cost"]),
    ("Here are the parts:\n- How it heats?\n- **What it costs?**\nHope this helps",
     ["How it heats?", "What it costs?"]),
    ('["a part", "b part", "c part"]', ["a part", "b part", "c part"]),
    ("<think>1. wrong\n2. wrong2</think>Part 1: heat\nPart 2: cost", ["heat", "cost"]),
    ("1. heat\n2. heat\n3. cost", ["heat", "cost"]),
    ("heat\ncost", ["heat", "cost"]),
])
def test_decomposition_reads_lists(answer: str, parts: list[str]) -> None:
    assert parse_decomposition(answer) == parts


@pytest.mark.parametrize("answer", [
    "", "1. only one part", "I cannot split this query.", "1. a\n2. b\n3. c\n4. d\n5. e\n6. f",
    '["one"]', "[1, 2]", "<think>1. a\n2. b", "- \n- ?",
])
def test_decomposition_unusable_gives_none(answer: str) -> None:
    assert parse_decomposition(answer) is None


@pytest.mark.parametrize(("answer", "labels"), [
    ("C1: yes\nC2: no\nC3: partly", ["yes", "no", "partly"]),
    ("1) Yes.\n2) Not partly\n3: **partly**", ["yes", "no", "partly"]),
    ("Criterion 3: yes\nCriterion 1 - no", ["no", None, "yes"]),
    ("yes\nno\npartly", ["yes", "no", "partly"]),
    ("C1: maybe\nC2: yes", [None, "yes", None]),
    ("C9: yes\nC0: no", [None, None, None]),
    ("C1: yes\nC1: no", ["yes", None, None]),
    ("Sure! All good.", [None, None, None]),
])
def test_verdicts(answer: str, labels: list[str | None]) -> None:
    assert [v.label for v in parse_verdicts(answer, 3, VERDICT_VALUES)] == labels


def test_verdict_reasons_and_single_criterion() -> None:
    verdicts = parse_verdicts("C1: yes - it says so.\nC2: no: off topic", 2, VERDICT_VALUES)
    assert [(v.label, v.reason) for v in verdicts] == [("yes", "it says so."),
                                                       ("no", "off topic")]
    assert parse_verdicts("Partly, it mentions costs.", 1, VERDICT_VALUES)[0].label == "partly"


def test_verdict_logprobs_are_read_at_each_label() -> None:
    logprobs = [{"C": 0.0}, {"1": 0.0}, {":": 0.0}, {" yes": -0.1, " partly": -2.5},
                {"\n": 0.0}, {"C": 0.0}, {"2": 0.0}, {":": 0.0}, {" no": -0.2, " yes": -1.8}]
    verdicts = parse_verdicts("C1: yes\nC2: no", 2, VERDICT_VALUES, logprobs)
    assert verdicts[0].probabilities is not None and verdicts[1].probabilities is not None
    # p(yes) = e^-0.1 plus the mass no label holds (1 - e^-0.1 - e^-2.5), see parsing.py
    assert verdicts[0].probabilities["yes"] == pytest.approx(0.918, abs=0.001)
    assert verdicts[1].probabilities["yes"] == pytest.approx(0.165, abs=0.001)
    assert 0.9 < expected_value(verdicts[0], VERDICT_VALUES) < 1.0
    # logprobs that do not spell the answer are ignored, not misread
    assert parse_verdicts("C1: yes", 1, VERDICT_VALUES, [{"x": 0.0}])[0].probabilities is None


def test_parsers_are_total_and_fast_on_hostile_answers() -> None:
    rng = random.Random(7)
    for _ in range(300):
        answer = hostile_answer(rng)
        parts = parse_decomposition(answer)
        assert parts is None or 2 <= len(parts) <= 5
        verdicts = parse_verdicts(answer, 3, VERDICT_VALUES, hostile_logprobs(rng))
        assert len(verdicts) == 3
        for verdict in verdicts:
            assert 0.0 <= expected_value(verdict, VERDICT_VALUES) <= 1.0
    for name in ("newlines", "digits_commas", "think_open", "whitespace_only", "digit_run"):
        started = time.perf_counter()
        parse_decomposition(bomb(name))
        parse_verdicts(bomb(name), 4, VERDICT_VALUES)
        assert time.perf_counter() - started < 2.0, name


# --- the strategy ------------------------------------------------------------------------

def test_every_document_once_and_details() -> None:
    with fake_llm(keyword_judge) as fake:
        rr = CriteriaReranker(fake.model, criteria=["heat", "cost"], cache=False)
        results = rr.rank("heat pump and cost", DOCS)
    assert sorted(r.index for r in results) == [0, 1, 2, 3]
    assert [r.document.text for r in results][:1] == ["both: heat pumps cost less"]
    assert results[-1].document.text == "football"
    top = results[0].details
    assert top["criteria"] == [{"criterion": "heat", "label": "yes", "probability": 1.0},
                               {"criterion": "cost", "label": "yes", "probability": 1.0}]
    assert top["aggregate"] == 1.0 and top["passes_required"] is True
    assert [r.relevance_score for r in results] == sorted(
        (r.relevance_score for r in results), reverse=True)
    assert fake.calls == 4


def test_garbage_answers_keep_every_document() -> None:
    rng = random.Random(3)
    with fake_llm(lambda messages: hostile_answer(rng)) as fake:
        rr = CriteriaReranker(fake.model, criteria=["a", "b"], cache=False)
        results = rr.rank("q", [f"doc {i}" for i in range(8)])
    assert sorted(r.index for r in results) == list(range(8))
    assert all(0.0 <= r.relevance_score <= 1.0 for r in results)


def test_required_criterion_gates() -> None:
    # doc 0 is strong on the optional, heavy criterion but fails the required one
    def judge(messages: Messages) -> str:
        return {"A": "C1: yes\nC2: no", "B": "C1: no\nC2: partly"}[passage(messages)]

    criteria = [{"text": "main", "weight": 5}, {"text": "must", "required": True}]
    with fake_llm(judge) as fake:
        ungated = CriteriaReranker(fake.model, criteria=[{"text": "main", "weight": 5},
                                                         "must"], cache=False)
        assert [r.document.text for r in ungated.rank("q", ["A", "B"])] == ["A", "B"]
        gated = CriteriaReranker(fake.model, criteria=criteria, cache=False)
        results = gated.rank("q", ["A", "B"])
    assert [r.document.text for r in results] == ["B", "A"]
    assert results[1].details["passes_required"] is False
    assert results[1].score == pytest.approx(5 / 6 - 1)
    assert results[1].relevance_score == pytest.approx((5 / 6) / 2)


def test_coverage_gain_formula() -> None:
    # two criteria, equal weights; the placed document fully covers criterion 1
    assert coverage_gain([1.0, 0.0], [0.5, 0.5], [[1.0, 0.0]]) == 0.0
    assert coverage_gain([0.5, 1.0], [0.5, 0.5], [[0.5, 0.0]]) == pytest.approx(
        0.5 * 0.5 * 0.5 + 0.5 * 1.0 * 1.0)
    assert coverage_gain([1.0, 1.0], [0.5, 0.5], []) == 1.0


def test_coverage_reorders_the_top_by_hand() -> None:
    # P and Q answer part 1 (v = 1, 0): aggregate 0.5; R answers part 2 partly (0, 0.5): 0.25.
    # Without coverage: P, Q, R. With lambda = 0.8 (weights 0.5 each):
    #   1st: P = 0.2 * 0.5 + 0.8 * (0.5 * 1) = 0.5; Q the same; R = 0.2 * 0.25 + 0.8 * 0.25
    #        = 0.25 -> P (first of the tied in the aggregate order)
    #   2nd: Q = 0.2 * 0.5 + 0.8 * (0.5 * 1 * (1 - 1)) = 0.1;
    #        R = 0.2 * 0.25 + 0.8 * (0.5 * 0.5 * (1 - 0)) = 0.25 -> R
    answers = {"P": "C1: yes\nC2: no", "Q": "C1: yes\nC2: no", "R": "C1: no\nC2: partly"}
    with fake_llm(lambda m: answers[passage(m)]) as fake:
        plain = CriteriaReranker(fake.model, criteria=["one", "two"], cache=False)
        assert [r.document.text for r in plain.rank("q", list("PQR"))] == list("PQR")
        covered = CriteriaReranker(fake.model, criteria=["one", "two"], coverage=True,
                                   coverage_lambda=0.8, cache=False)
        results = covered.rank("q", list("PQR"))
        assert [r.document.text for r in results] == list("PRQ")
        assert [r.details["score_kind"] for r in results] == ["rank"] * 3
        assert [r.details["aggregate"] for r in results] == [0.5, 0.25, 0.5]
        # coverage_k = 1 leaves everything below the first place in the aggregate order
        top_one = CriteriaReranker(fake.model, criteria=["one", "two"], coverage=True,
                                   coverage_lambda=0.8, coverage_k=1, cache=False)
        assert [r.document.text for r in top_one.rank("q", list("PQR"))] == list("PQR")
        # lambda = 0.5: R's gain at the 2nd place is 0.125 + 0.125 = 0.25, Q's 0.25: a tie,
        # which keeps the aggregate order
        half = CriteriaReranker(fake.model, criteria=["one", "two"], coverage=True,
                                coverage_lambda=0.5, cache=False)
        assert [r.document.text for r in half.rank("q", list("PQR"))] == list("PQR")


def test_coverage_keeps_the_required_gate() -> None:
    answers = {"A": "C1: yes\nC2: no", "B": "C1: no\nC2: yes"}
    with fake_llm(lambda m: answers[passage(m)]) as fake:
        rr = CriteriaReranker(fake.model, criteria=[{"text": "one", "required": True}, "two"],
                              coverage=True, coverage_lambda=1.0, cache=False)
        results = rr.rank("q", ["B", "A", "A"])
    assert [r.document.text for r in results] == ["A", "A", "B"]


def test_auto_decomposition_is_used_and_falls_back() -> None:
    with fake_llm(keyword_judge) as fake:
        rr = CriteriaReranker(fake.model, cache=False)  # criteria="auto" by default
        results = rr.rank("how does a heat pump heat and what does it cost", DOCS)
    assert [row["criterion"] for row in results[0].details["criteria"]] == [
        "how does a heat pump heat", "what does it cost"]
    assert fake.calls == 5 and results.usage.llm_calls == 5

    def one_part(messages: Messages) -> str:
        return "1. only" if "Query to split:" in user(messages) else "C1: yes"

    with fake_llm(one_part) as fake:
        rr = CriteriaReranker(fake.model, cache=False, parse_retries=1)
        results = rr.rank("a simple query", ["x", "y"])
    assert [row["criterion"] for row in results[0].details["criteria"]] == ["a simple query"]
    assert results.usage.parse_failures == 1 and results.usage.repairs == 1
    assert fake.calls == 2 + 2  # decomposition and its re-ask, then two judgments


def test_decomposition_is_cached_per_query(tmp_path: object) -> None:
    with fake_llm(keyword_judge) as fake:
        rr = CriteriaReranker(fake.model, cache=str(tmp_path))
        rr.rank("heat and cost", DOCS)
        again = rr.rank("heat and cost", DOCS)
    assert fake.calls == 5
    assert again.usage.cache_hits == 5 and again.usage.llm_calls == 0


def test_cache_key_includes_criteria(tmp_path: object) -> None:
    def judge(messages: Messages) -> str:
        return "[1] > [2]" if "[1]" in user(messages) else keyword_judge(messages)

    with fake_llm(judge) as fake:
        rr = CriteriaReranker(fake.model, cache=str(tmp_path))
        hits = [rr.rank("q", ["heat"], criteria=criteria).usage.cache_hits
                for criteria in (["heat", "cost"], ["heat", "cost"], ["heat", "price"])]
        assert hits == [0, 1, 0] and fake.calls == 2
        listwise = get_reranker("listwise", model=fake.model, cache=str(tmp_path))
        hits = [listwise.rank("q", ["a", "b"], criteria=criteria).usage.cache_hits
                for criteria in (None, ["heat"], ["heat"], ["cost"])]
    assert hits == [0, 0, 1, 0] and fake.calls == 5


def test_explain_asks_and_returns_reasons() -> None:
    seen: list[str] = []

    def judge(messages: Messages) -> str:
        seen.append(user(messages))
        return "C1: yes - it explains the compressor.\nC2: no - no prices."

    with fake_llm(judge) as fake:
        plain = CriteriaReranker(fake.model, criteria=["how", "cost"], cache=False)
        assert "reason" not in plain.rank("q", ["a", "b"])[0].details["criteria"][0]
        explained = CriteriaReranker(fake.model, criteria=["how", "cost"], explain=True,
                                     cache=False)
        rows = explained.rank("q", ["a", "b"])[0].details["criteria"]
    assert rows[0]["reason"] == "it explains the compressor." and rows[1]["reason"] == (
        "no prices.")
    assert "one short sentence" not in seen[0] and "one short sentence" in seen[-1]
    assert fake.requests[0]["params"]["max_tokens"] < fake.requests[-1]["params"]["max_tokens"]


def test_logprob_expectations_set_the_score() -> None:
    def judge(messages: Messages) -> FakeAnswer:
        sure = passage(messages) == "sure"
        top = {" yes": -0.05, " partly": -3.0} if sure else {" yes": -0.7, " partly": -0.7}
        return FakeAnswer("C1: yes", [{"C": 0.0}, {"1": 0.0}, {":": 0.0}, top])

    with fake_llm(judge) as fake:
        rr = CriteriaReranker(fake.model, criteria=["x"], cache=False)
        results = rr.rank("q", ["unsure", "sure"])
    assert [r.document.text for r in results] == ["sure", "unsure"]
    assert results[0].details["source"] == "logprobs"
    assert results[1].details["criteria"][0]["probability"] < 0.9


def test_partial_answer_is_kept_after_the_reask() -> None:
    with fake_llm(lambda m: "C1: yes") as fake:
        rr = CriteriaReranker(fake.model, criteria=["a", "b"], cache=False)
        results = rr.rank("q", ["x", "y"])
    rows = results[0].details["criteria"]
    assert [row["label"] for row in rows] == ["yes", None]
    assert results[0].details["source"] == "partial"
    assert results.usage.repairs == 2 and results.usage.parse_failures == 0


def test_refine_listwise_reranks_the_top() -> None:
    def judge(messages: Messages) -> str:
        if "[1]" in user(messages):
            assert "- heat" in user(messages)  # the criteria are in the listwise prompt
            return "[2] > [1]"
        return keyword_judge(messages)

    with fake_llm(judge) as fake:
        rr = CriteriaReranker(fake.model, criteria=["heat", "cost"], refine="listwise",
                              refine_top=2, cache=False)
        results = rr.rank("q", DOCS)
    assert [r.document.text for r in results][:2] == ["heat pumps move heat",
                                                      "both: heat pumps cost less"]
    assert sorted(r.index for r in results) == [0, 1, 2, 3]
    assert results.usage.llm_calls == 5


def test_refine_builds_its_listwise_reranker_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from llm_rerank.strategies import listwise

    built: list[object] = []
    original = listwise.ListwiseReranker.__init__

    def counting_init(self: listwise.ListwiseReranker, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(listwise.ListwiseReranker, "__init__", counting_init)

    def judge(messages: Messages) -> str:
        shown = len(re.findall(r"^\[\d+\]", user(messages), re.MULTILINE))
        return (" > ".join(f"[{i}]" for i in range(shown, 0, -1)) if shown
                else keyword_judge(messages))

    with fake_llm(judge) as fake:
        rr = CriteriaReranker(fake.model, criteria=["heat", "cost"], refine="listwise",
                              refine_top=3, cache=False)
        first = rr.rank("q", DOCS)
        second = rr.rank("another q", DOCS[:2])  # fewer documents than refine_top
    assert len(built) == 1
    assert first.usage.llm_calls == 5 and second.usage.llm_calls == 3  # one refine call each
    shown = [len(re.findall(r"^\[\d+\]", user(r["messages"]), re.MULTILINE))
             for r in fake.requests if "[1]" in user(r["messages"])]
    assert shown == [3, 2]  # each query's top, in one window


def test_child_context_shares_the_query_accounts_and_absorb_folds_flags_back() -> None:
    ctx = RankingContext("q", [Document(text=t) for t in "abc"], top_n=2,
                         instructions="be strict", deadline=12.5)
    ctx.prompts_shrunk = 1
    ctx.stopped = None
    sub = ctx.child(documents=ctx.documents[:2])
    assert (sub.query, sub.instructions, sub.top_n, sub.deadline) == ("q", "be strict", 2, 12.5)
    assert sub.usage is ctx.usage and sub.errors is ctx.errors and sub.budget is ctx.budget
    assert (sub.prompts_shrunk, sub.stopped, sub.budget_note) == (0, None, None)
    assert [d.text for d in sub.documents] == ["a", "b"] and len(ctx.documents) == 3
    sub.usage.llm_calls += 1
    sub.errors.append("boom")
    sub.prompts_shrunk, sub.stopped, sub.budget_note = 2, "budget", "max_calls=1"
    ctx.absorb(sub)
    assert ctx.usage.llm_calls == 1 and ctx.errors == ["boom"]
    assert (ctx.prompts_shrunk, ctx.stopped, ctx.budget_note) == (3, "budget", "max_calls=1")
    ctx.absorb(ctx.child(stopped="deadline"))
    assert ctx.stopped == "budget"  # the first stop reason stays


def test_every_llm_strategy_renders_criteria_and_promptless_ones_refuse() -> None:
    prompts: list[str] = []

    def judge(messages: Messages) -> str:
        prompts.append(user(messages))
        return "Passage A" if "Passage A" in prompts[-1] else "[1] > [2]" if "[1]" in (
            prompts[-1]) else "likely"

    with fake_llm(judge) as fake:
        for name in ("pointwise", "pairwise", "listwise", "setwise"):
            prompts.clear()
            rr = get_reranker(name, model=fake.model, cache=False, criteria=["part one"])
            rr.rank("q", ["a", "b"], criteria=["part two"])
            assert prompts and all("- part two" in p and "part one" not in p for p in prompts)
            prompts.clear()
            rr.rank("q", ["a", "b"])
            assert all("- part one" in p for p in prompts), name

    class Reverse(Reranker):  # like the cross-encoder: no prompt, so no criteria
        async def _order(self, ctx: RankingContext) -> list[Scored]:
            return [Scored(i) for i in reversed(range(len(ctx.documents)))]

    with pytest.raises(InvalidInput, match="takes no criteria"):
        Reverse().rank("q", ["a"], criteria=["x"])


def test_batch_items_carry_criteria() -> None:
    with fake_llm(keyword_judge) as fake:
        rr = CriteriaReranker(fake.model, cache=False)
        results = rr.rank_batch([("q1", DOCS, None, ["heat"]),
                                 ("q2", DOCS, "be strict", [{"text": "cost", "weight": 2}]),
                                 ("q3", DOCS)])
    assert [row["criterion"] for row in results[0][0].details["criteria"]] == ["heat"]
    assert [row["criterion"] for row in results[1][0].details["criteria"]] == ["cost"]
    assert len(results[2][0].details["criteria"]) == 2  # auto
    strict = [r for r in fake.requests if "be strict" in r["messages"][-1]["content"]]
    assert len(strict) == len(DOCS)
    with pytest.raises(InvalidInput, match="criteria"):
        rr.rank_batch([("q", DOCS, None, "nope")])


def test_expected_value_without_label() -> None:
    assert expected_value(Verdict(None), VERDICT_VALUES) == 0.0


VARIANTS: dict[str, dict[str, object]] = {
    "given": {"criteria": ["a", {"text": "b", "required": True}]},
    "auto+coverage+refine": {"coverage": True, "coverage_k": 3, "refine": "listwise",
                             "refine_top": 3},
}
PLAUSIBLE = ["C1: yes\nC2: no", "1. a part\n2. b part", "C2: partly", "yes", "[2] > [1]",
             "no\nno", "<think>C1: yes", "C1: not partly\nC2: yes - because", ""]
FAIL = "<raise>"


@pytest.mark.parametrize("variant", list(VARIANTS))
@given(size=st.integers(1, 6), script=st.lists(
    st.one_of(st.sampled_from([*PLAUSIBLE, FAIL]), st.text(max_size=30)),
    min_size=1, max_size=10))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_document_once_whatever_the_answers(variant: str, size: int,
                                                  script: list[str]) -> None:
    replies = iter(script * 100)

    def respond(messages: Messages) -> str:
        reply = next(replies, "")
        if reply == FAIL:
            raise RuntimeError("simulated outage")
        return reply

    with fake_llm(respond) as fake:
        rr = CriteriaReranker(fake.model, cache=False, max_retries=0, on_error="keep_order",
                              **VARIANTS[variant])  # type: ignore[arg-type]
        results = rr.rank("q", [f"doc {i}" for i in range(size)])
    assert sorted(r.index for r in results) == list(range(size))
    assert [r.rank for r in results] == list(range(1, size + 1))
    assert all(0.0 <= r.relevance_score <= 1.0 for r in results)
