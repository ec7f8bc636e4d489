"""Hostile answers: parse time of 1 MB adversarial answers, and a reliability run.

(1) Every parser on every named 1 MB adversarial family (``llm_rerank.testing.hostile``):
the slowest of ``--repeats`` parses, plus the slowest family at 0.25, 1 and 4 MB to show
the growth is linear. (2) Fuzzed answers (hostile fragments, a few 1 MB bombs, hostile
logprob tables, 5% failed calls) through the four strategies with
``on_error="keep_order"``, counting crashes and lost or duplicated documents. The volume
run replaces ``LLMClient.complete`` on each reranker with a fake returning the answer (the
rest of the path, prompt rendering, parsing and ordering, runs for real; LiteLLM would add
~5-10 ms per call); a smaller run goes through ``fake_llm`` at the LiteLLM boundary.

Slow (``python -m pytest -m slow tests/test_hostile_answers_slow.py``, about 2 minutes);
``--write-results`` also writes the figures to ``benchmarks/results/hostile.md``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from llm_rerank import (
    ListwiseReranker,
    LLMCallError,
    PairwiseReranker,
    PointwiseReranker,
    SetwiseReranker,
    Usage,
)
from llm_rerank.llm import Completion
from llm_rerank.parsing import (
    label_probabilities,
    parse_label,
    parse_passage_choice,
    parse_permutation,
    strip_reasoning,
)
from llm_rerank.testing import FakeAnswer, fake_llm
from llm_rerank.testing.hostile import BOMBS, bomb, hostile_answer, hostile_logprobs

if TYPE_CHECKING:
    from conftest import Fragment

pytestmark = pytest.mark.slow
FRAGMENT = ("hostile", "Hostile answers: parse time and reliability")
VOLUME_ANSWERS, LITELLM_ANSWERS, REPEATS = 100_000, 20_000, 5
SLOWEST_PARSE_MS = 100.0  # per MB; parses take ~2 ms, the margin is for a loaded machine
SCALE = {"unlikely": 0.0, "likely": 1.0, "very likely": 2.0}
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXY"
PARSERS: dict[str, Callable[[str], object]] = {
    "strip_reasoning": strip_reasoning,
    "parse_permutation (20 ids)": lambda text: parse_permutation(text, 20),
    "parse_passage_choice (A, B)": lambda text: parse_passage_choice(text, "AB"),
    "parse_passage_choice (A..Y)": lambda text: parse_passage_choice(text, LETTERS),
    "parse_label": lambda text: parse_label(text, SCALE),
    "label_probabilities (answer as a token)": lambda text: label_probabilities(
        {text: -0.1, "likely": -2.0}, SCALE, "likely"),
}


def slowest(parser: Callable[[str], object], text: str, repeats: int) -> float:
    """The slowest of ``repeats`` parses, in ms."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        parser(text)
        times.append(time.perf_counter() - started)
    return max(times) * 1000


def test_parse_time_of_1mb_answers_is_small_and_linear(fragment: Fragment) -> None:
    rows, worst = [], dict.fromkeys(PARSERS, (0.0, ""))
    for family in BOMBS:
        text = bomb(family)
        row: list[object] = [family]
        for name, parser in PARSERS.items():
            ms = slowest(parser, text, REPEATS)
            row.append(f"{ms:.1f}")
            worst[name] = max(worst[name], (ms, family))
        rows.append(row)
    rows.append(["**slowest**", *(f"**{ms:.1f}** ({family})" for ms, family in worst.values())])
    scaling, growth = [], {}
    for name, parser in PARSERS.items():
        times = [max(slowest(parser, bomb(f, size), 1) for f in BOMBS)
                 for size in (250_000, 1_000_000, 4_000_000)]
        scaling.append([name, *(f"{ms:.1f}" for ms in times)])
        growth[name] = times
    fragment.add(f"""
Every parser on 1 MB adversarial answers (`llm_rerank.testing.hostile.bomb`), slowest of
{REPEATS} parses, in ms. Families: think-tag bombs, whitespace bombs, digit runs
(over Python's 4,300-digit int limit), bracket bombs, Unicode digits, repeated and negated
labels, comparison cues, letters and punctuation.

{fragment.table(["family (1 MB)", *PARSERS], rows)}

Slowest family per parser as the answer grows (ms, one parse each): linear growth.

{fragment.table(["parser", "0.25 MB", "1 MB", "4 MB"], scaling)}
""")
    assert all(ms < SLOWEST_PARSE_MS for ms, _ in worst.values()), worst
    for name, (_, one_mb, four_mb) in growth.items():  # linear: 4 MB within 4x 1 MB + slack
        assert four_mb < 4 * SLOWEST_PARSE_MS, (name, growth[name])
        assert four_mb < 8 * one_mb + 20, (name, growth[name])


COMMON: dict[str, Any] = {"cache": False, "max_retries": 0, "on_error": "keep_order"}


def listwise(model: str, rng: random.Random) -> ListwiseReranker:
    window = rng.randint(2, 8)
    return ListwiseReranker(model, window_size=window, step=rng.randint(1, window), **COMMON)


STRATEGIES: dict[str, Callable[[str, random.Random], Any]] = {
    "listwise": listwise,
    "pointwise": lambda model, rng: PointwiseReranker(model, **COMMON),
    "pairwise": lambda model, rng: PairwiseReranker(
        model, method=rng.choice(["allpair", "heapsort", "sliding"]), k=rng.randint(1, 4),
        both_orders=rng.random() < 0.7, **COMMON),
    "setwise": lambda model, rng: SetwiseReranker(
        model, num_children=rng.randint(2, 5), k=rng.randint(1, 4), **COMMON),
}


@dataclass
class Tally:
    rankings: int = 0
    answers: int = 0
    failed_calls: int = 0
    bombs: int = 0
    parse_failures: int = 0
    crashes: int = 0
    broken: int = 0  # rankings with a lost or duplicated document
    first_error: str = ""
    seconds: float = 0.0


class HostileSource:
    """Hostile answers: fragments, sometimes a 1 MB bomb, sometimes a failed call."""

    def __init__(self, rng: random.Random, tally: Tally) -> None:
        self.rng, self.tally = rng, tally

    def answer(self) -> tuple[str, list[dict[str, float]] | None]:
        self.tally.answers += 1
        if self.rng.random() < 0.05:
            self.tally.failed_calls += 1
            raise ValueError("backend down")
        if self.rng.random() < 0.002:
            self.tally.bombs += 1
            text = bomb(self.rng.choice(BOMBS))
        else:
            text = hostile_answer(self.rng)
        return text, hostile_logprobs(self.rng) or None


async def rank_once(reranker: Any, rng: random.Random, tally: Tally) -> None:
    size = rng.randint(1, 12)
    tally.rankings += 1
    try:
        results = await reranker.arank("q", [f"doc {i}" for i in range(size)])
    except Exception as exc:  # a crash is what this run counts
        tally.crashes += 1
        tally.first_error = tally.first_error or repr(exc)[:200]
        return
    tally.parse_failures += results.usage.parse_failures
    if sorted(r.index for r in results) != list(range(size)):
        tally.broken += 1


async def volume_run(strategy: str, answers: int, seed: int) -> Tally:
    """Answers injected by replacing ``LLMClient.complete`` on the reranker."""
    rng, tally = random.Random(seed), Tally()
    source = HostileSource(rng, tally)

    async def complete(messages: Any, usage: Usage, **params: Any) -> Completion:
        try:
            text, logprobs = source.answer()
        except ValueError as exc:
            raise LLMCallError(str(exc), model="fake") from exc
        usage.llm_calls += 1
        return Completion(text, logprobs)

    started = time.perf_counter()
    while tally.answers < answers:
        reranker = STRATEGIES[strategy]("openai/none", rng)
        reranker.llm.complete = complete
        await rank_once(reranker, rng, tally)
    tally.seconds = time.perf_counter() - started
    return tally


async def litellm_run(strategy: str, answers: int, seed: int) -> Tally:
    """Answers from a ``fake_llm`` provider, through LiteLLM, retries and usage."""
    rng, tally = random.Random(seed), Tally()
    source = HostileSource(rng, tally)

    def respond(messages: Any) -> FakeAnswer:
        text, logprobs = source.answer()
        return FakeAnswer(text, logprobs)

    started = time.perf_counter()
    with fake_llm(respond) as fake:
        while tally.answers < answers:
            await rank_once(STRATEGIES[strategy](fake.model, rng), rng, tally)
    tally.seconds = time.perf_counter() - started
    return tally


def reliability_table(fragment: Fragment, tallies: dict[str, Tally]) -> str:
    header = ["strategy", "rankings", "answers", "of which failed calls", "1 MB bombs",
              "parse failures", "crashes", "lost or duplicated", "seconds"]
    rows: list[list[object]] = [
        [name, t.rankings, t.answers, t.failed_calls, t.bombs, t.parse_failures, t.crashes,
         t.broken, f"{t.seconds:.1f}"] for name, t in tallies.items()]
    total = [sum(getattr(t, key) for t in tallies.values()) for key in
             ("rankings", "answers", "failed_calls", "bombs", "parse_failures", "crashes",
              "broken")]
    rows.append(["**total**", *total, f"{sum(t.seconds for t in tallies.values()):.1f}"])
    errors = [f"{name}: {t.first_error}" for name, t in tallies.items() if t.first_error]
    return fragment.table(header, rows) + ("\n\nFirst errors: " + "; ".join(errors)
                                           if errors else "")


def assert_reliable(tallies: dict[str, Tally], answers: int) -> None:
    for name, tally in tallies.items():
        assert tally.answers >= answers // len(STRATEGIES), name
        assert tally.bombs > 0 and tally.failed_calls > 0 and tally.parse_failures > 0, name
        assert (tally.crashes, tally.broken) == (0, 0), (name, tally.first_error)


def test_hostile_answers_never_crash_or_lose_documents(fragment: Fragment) -> None:
    volume = {name: asyncio.run(volume_run(name, VOLUME_ANSWERS // len(STRATEGIES), seed))
              for seed, name in enumerate(STRATEGIES)}
    fragment.add(f"""
Reliability: fuzzed hostile answers (12 fragments of think tags, brackets, huge and Unicode
digit runs, passage letters, comparison cues, negated labels, odd Unicode; 0.2% whole 1 MB
bombs; hostile logprob tables with NaN, inf and 1e308; 5% failed calls) through each
strategy with `on_error="keep_order"`, 1 to 12 documents per ranking, random strategy
options. Volume run: `LLMClient.complete` replaced on each reranker by a fake returning the
answer (prompt rendering, parsing and ordering run for real):

{reliability_table(fragment, volume)}
""")
    assert_reliable(volume, VOLUME_ANSWERS)


def test_hostile_answers_through_litellm(fragment: Fragment) -> None:
    boundary = {name: asyncio.run(litellm_run(name, LITELLM_ANSWERS // len(STRATEGIES), seed))
                for seed, name in enumerate(STRATEGIES, start=10)}
    fragment.add(f"""
Through `fake_llm` at the LiteLLM boundary (LiteLLM, tenacity and usage run for real):

{reliability_table(fragment, boundary)}
""")
    assert_reliable(boundary, LITELLM_ANSWERS)
