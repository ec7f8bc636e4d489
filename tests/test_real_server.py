"""End to end against a real OpenAI-compatible server: llama-cpp-python's server running
the embedded SmolLM2-135M GGUF on a loopback port (one server for the session), ranked
through both transports. Skipped, with the reason, when the server extra or the GGUF is
missing. Kept small (3 short passages per run): each call evaluates a real model on CPU."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llm_rerank import ListwiseReranker, PointwiseReranker
from llm_rerank.testing.llama_server import MODEL_ALIAS, llama_server, missing_server_parts

pytestmark = pytest.mark.real_server

QUERY = "how long do fleas live"
PASSAGES = [
    "Paris is the capital of France and its largest city.",
    "Adult fleas live for two to three months on a host animal.",
    "A flea can live up to a year without feeding in cool, humid places.",
]
SOURCES = {"logprobs", "text", "parse_failed"}


@pytest.fixture(scope="session")
def api_base() -> Iterator[str]:
    missing = missing_server_parts()
    if missing:
        pytest.skip(f"llama-cpp-python's server needs {', '.join(missing)} "
                    "(pip install -e '.[local]' in the clone)")
    with llama_server() as base:
        yield base


def reranker(api_base: str, transport: str, **options: object) -> PointwiseReranker:
    return PointwiseReranker(f"openai/{MODEL_ALIAS}", api_base=api_base, api_key="sk-local",
                             transport=transport, cache=False, timeout=120,
                             max_concurrency=2, **options)


@pytest.mark.parametrize("transport", ["litellm", "direct"])
def test_pointwise_through_a_real_server(api_base: str, transport: str) -> None:
    results = reranker(api_base, transport).rank(QUERY, PASSAGES)
    assert sorted(r.index for r in results) == [0, 1, 2]
    usage = results.usage
    assert usage.llm_calls >= len(PASSAGES) and usage.prompt_tokens > 0
    assert usage.completion_tokens > 0
    sources = [r.details["source"] for r in results]
    assert set(sources) <= SOURCES
    assert usage.parse_failures == sources.count("parse_failed")
    for result in results:
        if result.details["source"] == "logprobs":
            assert sum(result.details["probabilities"].values()) == pytest.approx(1.0)


@pytest.mark.parametrize("transport", ["litellm", "direct"])
def test_grammar_constrained_pointwise_scores_every_passage_from_logprobs(
    api_base: str, transport: str
) -> None:
    results = reranker(api_base, transport, constrain="grammar").rank(QUERY, PASSAGES)
    assert sorted(r.index for r in results) == [0, 1, 2]
    assert [r.details["source"] for r in results] == ["logprobs"] * len(PASSAGES)
    assert all(r.details["label"] in ("unlikely", "likely", "very likely") for r in results)
    assert results.usage.llm_calls == len(PASSAGES) and results.usage.repairs == 0
    assert results.usage.prompt_tokens > 0


def test_listwise_through_a_real_server_returns_every_document_once(api_base: str) -> None:
    results = ListwiseReranker(f"openai/{MODEL_ALIAS}", api_base=api_base, api_key="sk-local",
                               transport="direct", cache=False, timeout=120).rank(QUERY, PASSAGES)
    assert sorted(r.index for r in results) == [0, 1, 2]
    assert results.usage.prompt_tokens > 0
    assert results.usage.llm_calls == 1 + results.usage.repairs
