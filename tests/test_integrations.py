"""The LangChain adapter against the real package and the simulated judge."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from integration_data import (
    GRADES,
    QRELS,
    REQUEST,
    REQUESTS,
    STRATEGIES,
    failing,
    judged,
    ndcg_at_length,
)

from llm_rerank import LLMCallError, get_reranker
from llm_rerank.eval.io import RerankRequest
from llm_rerank.testing import JudgeServer, fake_llm

lc_documents = pytest.importorskip("langchain_core.documents", reason="needs langchain-core")
from langchain_core.callbacks import BaseCallbackHandler  # noqa: E402
from langchain_core.callbacks.manager import CallbackManagerForRetrieverRun  # noqa: E402
from langchain_core.retrievers import BaseRetriever  # noqa: E402

LCDocument = lc_documents.Document


@pytest.fixture(scope="module")
def judge() -> Iterator[JudgeServer]:
    with JudgeServer(REQUESTS, QRELS) as server:
        yield server


def lc_docs(request: RerankRequest = REQUEST) -> list[Any]:
    return [LCDocument(page_content=d.text, id=d.id, metadata={"source": "bm25", "n": n})
            for n, d in enumerate(request.documents)]


class SampleRetriever(BaseRetriever):
    """Returns the sample's first-stage candidates for a query."""

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[Any]:
        request = next(r for r in REQUESTS if r.query == query)
        return lc_docs(request)


class Errors(BaseCallbackHandler):
    def __init__(self) -> None:
        self.errors: list[BaseException] = []

    def on_retriever_error(self, error: BaseException, **kwargs: Any) -> None:
        self.errors.append(error)


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_langchain_compressor_sets_relevance_score_on_copies(judge: JudgeServer,
                                                             strategy: str) -> None:
    from llm_rerank.integrations.langchain import LLMRerankCompressor

    judge.reset_stats()
    documents = lc_docs()
    compressor = judged(judge, strategy).as_langchain_compressor()
    assert isinstance(compressor, LLMRerankCompressor)
    ranked = compressor.compress_documents(documents, REQUEST.query)
    assert sorted(d.id for d in ranked) == sorted(d.id for d in documents)
    scores = [d.metadata["relevance_score"] for d in ranked]
    assert all(isinstance(s, float) and 0.0 <= s <= 1.0 for s in scores)
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]
    assert [d.metadata["rerank_position"] for d in ranked] == list(range(1, len(documents) + 1))
    assert {d.metadata["rerank_strategy"] for d in ranked} == {strategy}
    assert all(d.metadata["source"] == "bm25" for d in ranked)  # the document's own metadata
    assert all("relevance_score" not in d.metadata for d in documents)  # originals untouched
    assert GRADES[ranked[0].id] == max(GRADES.values())
    assert judge.stats().unmatched_passages == 0


def test_langchain_top_n_cuts_the_list_and_the_calls(judge: JudgeServer) -> None:
    documents = lc_docs()
    calls = {}
    for top_n in (None, 2):
        judge.reset_stats()
        compressor = judged(judge, "setwise", k=None).as_langchain_compressor(top_n=top_n)
        ranked = compressor.compress_documents(documents, REQUEST.query)
        assert len(ranked) == (top_n or len(documents))
        calls[top_n] = judge.stats().requests
    assert calls[2] < calls[None]
    with pytest.raises(ValueError, match="top_n"):
        judged(judge).as_langchain_compressor(top_n=0)


async def test_langchain_contextual_compression_retriever_async(judge: JudgeServer) -> None:
    from langchain_classic.retrievers import ContextualCompressionRetriever

    judge.reset_stats()
    retriever = ContextualCompressionRetriever(
        base_compressor=judged(judge, window_size=20, step=10).as_langchain_compressor(top_n=3),
        base_retriever=SampleRetriever())
    for request in REQUESTS:
        ranked = await retriever.ainvoke(request.query)
        assert [d.metadata["rerank_position"] for d in ranked] == [1, 2, 3]
        assert ndcg_at_length([d.id or "" for d in ranked], request) == pytest.approx(1.0)
    assert judge.stats().unmatched_passages == 0 and judge.stats().requests > 0


async def test_langchain_async_is_native_and_empty_input_makes_no_call() -> None:
    loops = []

    def respond(messages: list[dict[str, str]]) -> str:
        loops.append(asyncio.get_running_loop())
        return "[2] > [1]"

    with fake_llm(respond) as fake:
        compressor = get_reranker("listwise", model=fake.model,
                                  cache=False).as_langchain_compressor()
        assert await compressor.acompress_documents([], "q") == []
        assert compressor.compress_documents([], "q") == []
        assert fake.calls == 0
        ranked = await compressor.acompress_documents(lc_docs()[:2], "q")
    assert [d.id for d in ranked] == [REQUEST.documents[1].id, REQUEST.documents[0].id]
    assert loops == [asyncio.get_running_loop()]  # awaited here, not in a worker thread


def test_langchain_llm_failures_reach_the_callbacks() -> None:
    from langchain_classic.retrievers import ContextualCompressionRetriever

    handler = Errors()
    with fake_llm(failing) as fake:
        reranker = get_reranker("listwise", model=fake.model, cache=False, max_retries=0)
        retriever = ContextualCompressionRetriever(
            base_compressor=reranker.as_langchain_compressor(), base_retriever=SampleRetriever())
        with pytest.raises(LLMCallError):
            retriever.invoke(REQUEST.query, config={"callbacks": [handler]})
    assert len(handler.errors) == 1 and isinstance(handler.errors[0], LLMCallError)


def test_langchain_documents_go_straight_into_rank() -> None:
    with fake_llm(lambda messages: "[2] > [1]") as fake:
        results = get_reranker("listwise", model=fake.model, cache=False).rank(
            "q", lc_docs()[:2])
    assert [(r.document.id, r.document.text, r.document.metadata["n"]) for r in results] == [
        (d.id, d.text, n) for n, d in reversed(list(enumerate(REQUEST.documents[:2])))]


def test_the_compressor_holds_any_reranker_and_refuses_other_objects() -> None:
    from pydantic import ValidationError

    from llm_rerank.integrations.langchain import LLMRerankCompressor
    from llm_rerank.reranker import RankingContext, Reranker, Scored

    class Reverse(Reranker):
        name = "reverse"

        async def _order(self, ctx: RankingContext) -> list[Scored]:
            return [Scored(i) for i in reversed(range(len(ctx.documents)))]

    compressor = LLMRerankCompressor(reranker=Reverse())
    assert [d.page_content for d in compressor.compress_documents(lc_docs()[:2], "q")] == [
        d.text for d in reversed(REQUEST.documents[:2])]
    with pytest.raises(ValidationError, match="reranker"):
        LLMRerankCompressor(reranker=object())
