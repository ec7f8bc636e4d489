"""ListwiseReranker(preset="balanced") and top-down's own in-flight default: cost in calls
and sequential waves, every document once whatever the answers, and quality under a noisy,
position-biased judge against RankGPT's sliding window."""

from __future__ import annotations

import math
import random
import re
import statistics
from collections.abc import Callable

import pytest
from graded_docs import docs, prompt

from llm_rerank import InvalidInput, ListwiseReranker
from llm_rerank.eval import ndcg
from llm_rerank.strategies.listwise import TOPDOWN_MAX_CONCURRENCY
from llm_rerank.testing import FakeLLM, fake_llm

Responder = Callable[[list[dict[str, str]]], str]
PASSAGE = re.compile(r"^\[(\d+)\] doc (\d+) grade (\d+)", re.MULTILINE)


def biased_judge(seed: int, noise: float, bias: float) -> Responder:
    """A listwise judge that sees each passage's hidden grade plus N(0, noise) plus a bonus
    of ``bias`` for the first passage, fading to 0 for the last (the simulated judge's
    model); the same prompt always gets the same answer."""

    def respond(messages: list[dict[str, str]]) -> str:
        text = prompt(messages)
        found = PASSAGE.findall(text)
        rng = random.Random(f"{seed}:{text}")
        last = max(len(found) - 1, 1)
        perceived = [int(grade) + noise * rng.gauss(0, 1) + bias * (1 - p / last)
                     for p, (_, _, grade) in enumerate(found)]
        best = sorted(range(len(found)), key=lambda p: -perceived[p])
        return " > ".join(f"[{found[p][0]}]" for p in best)

    return respond


def perfect(messages: list[dict[str, str]]) -> str:
    return biased_judge(0, 0.0, 0.0)(messages)


def waves(fake: FakeLLM, seen: list[int]) -> Responder:
    """A perfect responder that records the calls in flight at each answer: the last call
    of a wave sees 1, so the waves are how often 1 was seen."""

    def respond(messages: list[dict[str, str]]) -> str:
        seen.append(fake.in_flight)
        return perfect(messages)

    return respond


def graded(seed: int, size: int = 100) -> list[int]:
    """DL19-like grades in a first-stage order that only leans towards the relevant:
    a few 3s, some 2s and 1s, most 0s."""
    rng = random.Random(seed)
    grades = [3] * 4 + [2] * 8 + [1] * 12 + [0] * (size - 24)
    return sorted(grades, key=lambda g: -(g * 0.6 + rng.gauss(0, 1.5)))


async def test_balanced_costs_18_calls_in_three_waves_for_100_documents() -> None:
    seen: list[int] = []
    with fake_llm(lambda m: "") as fake:
        fake.respond = waves(fake, seen)
        fake.latency = 0.05
        results = await ListwiseReranker(fake.model, preset="balanced", cache=False).arank(
            "q", docs(list(range(100, 0, -1))), top_n=10)
    assert [r.index for r in results] == list(range(10))
    assert results.usage.llm_calls == fake.calls == 18, "2 + 10 + 6, at most 2x sliding's 9"
    assert seen.count(1) == 3, f"sequential waves, in flight at each answer: {seen}"
    assert fake.peak_in_flight == 10, "round 2: 5 chunks, each in 2 windows, at once"
    assert all(r.details["rounds"] == 3 for r in results)


async def test_balanced_on_a_single_window_asks_it_twice_at_once() -> None:
    seen: list[int] = []
    with fake_llm(lambda m: "") as fake:
        fake.respond = waves(fake, seen)
        fake.latency = 0.05
        results = await ListwiseReranker(fake.model, preset="balanced", cache=False).arank(
            "q", docs(list(range(20))))
        shown = [[int(d) for _, d, _ in PASSAGE.findall(prompt(r["messages"]))]
                 for r in fake.requests]
    assert results.usage.llm_calls == 2 and seen.count(1) == 1
    assert sorted(shown) == sorted([list(range(20)), list(range(19, -1, -1))])
    assert [r.index for r in results] == list(range(19, -1, -1))


@pytest.mark.parametrize("options", [{"method": "topdown"}, {"preset": "balanced"}])
async def test_topdown_at_its_defaults_sends_round_two_in_one_wave(
        options: dict[str, str]) -> None:
    seen: list[int] = []
    with fake_llm(lambda m: "") as fake:
        fake.respond = waves(fake, seen)
        fake.latency = 0.05
        reranker = ListwiseReranker(fake.model, cache=False, **options)  # type: ignore[arg-type]
        await reranker.arank("q", docs(list(range(100))))
    assert reranker.options.max_concurrency == TOPDOWN_MAX_CONCURRENCY
    assert fake.peak_in_flight == 10 and seen.count(1) == 3, seen


async def test_a_max_concurrency_the_caller_gives_is_the_limit() -> None:
    with fake_llm(perfect, latency=0.02) as fake:
        reranker = ListwiseReranker(fake.model, preset="balanced", max_concurrency=4,
                                    cache=False)
        await reranker.arank("q", docs(list(range(100))))
    assert fake.peak_in_flight == 4
    assert ListwiseReranker("fake/x", cache=False).options.max_concurrency == 8, "sliding"


@pytest.mark.parametrize("size", [2, 15, 20, 21, 25, 100, 160])
async def test_balanced_keeps_every_document_once_whatever_the_answers(size: int) -> None:
    rng = random.Random(size)
    answers = ["no idea", "[2] > [2] > [99] > [0]", "<think>[3] > [1]", "[1]", "1 2 3",
               "[20] > [19] > [18]", ""]
    with fake_llm(lambda messages: rng.choice(answers)) as fake:
        results = await ListwiseReranker(fake.model, preset="balanced", cache=False,
                                         parse_retries=0).arank("q", docs([0] * size))
    assert sorted(r.index for r in results) == list(range(size))
    expected = 2 if size <= 20 else 2 + 2 * math.ceil((size - 20) / 19) + 6
    assert results.usage.llm_calls == expected, "one call per window shown, no re-asks"


async def mean_ndcg(options: dict[str, object], seeds: range, queries: int) -> float:
    scores = []
    for seed in seeds:
        with fake_llm(biased_judge(seed, noise=1.0, bias=1.0)) as fake:
            reranker = ListwiseReranker(fake.model, cache=False, **options)  # type: ignore[arg-type]
            for query in range(queries):
                grades = graded(1000 * seed + query)
                results = await reranker.arank("q", docs(grades), top_n=10)
                qrels = {str(i): g for i, g in enumerate(grades)}
                scores.append(ndcg([str(r.index) for r in results], qrels, 10))
    return statistics.mean(scores)


async def test_balanced_beats_sliding_and_plain_topdown_under_a_biased_noisy_judge() -> None:
    seeds, queries = range(3), 6
    sliding = await mean_ndcg({}, seeds, queries)
    topdown = await mean_ndcg({"method": "topdown"}, seeds, queries)
    balanced = await mean_ndcg({"preset": "balanced"}, seeds, queries)
    print(f"nDCG@10 sliding {sliding:.4f}, topdown {topdown:.4f}, balanced {balanced:.4f}")
    assert balanced >= sliding + 0.03, (sliding, topdown, balanced)
    assert balanced > topdown, (sliding, topdown, balanced)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"preset": "fast"}, "preset='fast'"),
     ({"preset": "balanced", "method": "sliding"}, "preset='balanced' ranks with"),
     ({"preset": "balanced", "num_permutations": 3}, "num_permutations"),
     ({"preset": "balanced", "step": 5}, "step")],
)
def test_bad_preset_options_name_the_option(options: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        ListwiseReranker("fake/x", cache=False, **options)  # type: ignore[arg-type]
