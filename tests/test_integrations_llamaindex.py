"""The LlamaIndex adapter against the real package and the simulated judge."""

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
from pydantic import Field

from llm_rerank import LLMCallError, Reranker, get_reranker
from llm_rerank.eval.io import RerankRequest
from llm_rerank.testing import JudgeServer, fake_llm
from llm_rerank.testing.server import JudgeStats

li_schema = pytest.importorskip("llama_index.core.schema", reason="needs llama-index-core")
from llama_index.core.callbacks import (  # noqa: E402
    CallbackManager,
    CBEventType,
    EventPayload,
    LlamaDebugHandler,
)
from llama_index.core.instrumentation import get_dispatcher  # noqa: E402
from llama_index.core.instrumentation.event_handlers import BaseEventHandler  # noqa: E402
from llama_index.core.instrumentation.events.rerank import (  # noqa: E402
    ReRankEndEvent,
    ReRankStartEvent,
)
from llama_index.core.postprocessor import SimilarityPostprocessor  # noqa: E402

MetadataMode, NodeWithScore, TextNode = li_schema.MetadataMode, li_schema.NodeWithScore, \
    li_schema.TextNode


@pytest.fixture(scope="module")
def judge() -> Iterator[JudgeServer]:
    with JudgeServer(REQUESTS, QRELS) as server:
        yield server


def li_nodes(request: RerankRequest = REQUEST) -> list[Any]:
    count = len(request.documents)
    return [NodeWithScore(node=TextNode(text=d.text, id_=d.id or "",
                                        metadata={"file_name": f"{d.id}.txt", "topic": "sample"}),
                          score=1.0 - n / count)
            for n, d in enumerate(request.documents)]


class Recorder(BaseEventHandler):
    events: list[Any] = Field(default_factory=list)

    def handle(self, event: Any, **kwargs: Any) -> None:
        self.events.append(event)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    root = get_dispatcher()
    handler = Recorder()
    root.add_event_handler(handler)
    yield handler
    root.event_handlers.remove(handler)


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_llamaindex_scores_survive_a_similarity_cutoff(judge: JudgeServer, strategy: str) -> None:
    from llm_rerank.integrations.llamaindex import LLMRerankPostprocessor

    nodes = li_nodes()
    postprocessor = judged(judge, strategy).as_llamaindex_postprocessor()
    assert isinstance(postprocessor, LLMRerankPostprocessor)
    ranked = postprocessor.postprocess_nodes(nodes, query_str=REQUEST.query)
    kept = SimilarityPostprocessor(similarity_cutoff=0.0).postprocess_nodes(ranked)
    assert len(kept) == len(nodes)
    scores = [n.score for n in kept]
    assert all(isinstance(s, float) and 0.0 <= s <= 1.0 for s in scores)
    assert scores == sorted(scores, reverse=True)
    assert GRADES[kept[0].node.node_id] == max(GRADES.values())


def test_llamaindex_keeps_the_retrieval_score_out_of_sight(judge: JudgeServer) -> None:
    nodes = li_nodes()
    postprocessor = judged(judge).as_llamaindex_postprocessor(top_n=3)
    ranked = postprocessor.postprocess_nodes(nodes, query_str=REQUEST.query)
    assert len(ranked) == 3
    by_id = {n.node.node_id: n for n in nodes}
    for node in ranked:
        original = by_id[node.node.node_id]
        assert node.node.metadata["retrieval_score"] == original.score
        assert "retrieval_score" not in node.node.get_content(MetadataMode.LLM)
        assert "retrieval_score" not in node.node.get_content(MetadataMode.EMBED)
        assert "retrieval_score" not in original.node.metadata  # the original is untouched
        assert node.node.get_content() == original.node.get_content()


@pytest.mark.parametrize("mode", ["none", "embed", "all"])
def test_llamaindex_metadata_mode_and_the_judge_still_finds_the_passages(
        judge: JudgeServer, mode: str) -> None:
    """With metadata lines prepended (EMBED, ALL) the perfect judge still ranks perfectly."""
    judge.reset_stats()
    seen: list[str] = []

    def spy(reranker: Reranker) -> Reranker:
        arank = reranker.arank

        async def recording(query: str, documents: Any, top_n: Any = None, **kw: Any) -> Any:
            seen.extend(d["text"] for d in documents)
            return await arank(query, documents, top_n, **kw)

        reranker.arank = recording  # type: ignore[method-assign]
        return reranker

    postprocessor = spy(judged(judge, window_size=20, step=10)).as_llamaindex_postprocessor(
        metadata_mode=MetadataMode(mode))
    for request in REQUESTS:
        ranked = postprocessor.postprocess_nodes(li_nodes(request), query_str=request.query)
        ids = [n.node.node_id for n in ranked]
        assert ndcg_at_length(ids, request) == pytest.approx(1.0)
    assert any("file_name:" in text for text in seen) == (mode != "none")
    stats: JudgeStats = judge.stats()
    assert stats.unmatched_passages == 0 and stats.requests == len(REQUESTS)


def test_llamaindex_garbage_text_is_counted_unmatched(judge: JudgeServer) -> None:
    judge.reset_stats()
    nodes = [NodeWithScore(node=TextNode(text=f"unrelated text number {n}"), score=0.5)
             for n in range(4)]
    judged(judge).as_llamaindex_postprocessor().postprocess_nodes(nodes, query_str=REQUEST.query)
    assert judge.stats().unmatched_passages == 4


async def test_llamaindex_events_carry_usage_and_async_is_native(judge: JudgeServer,
                                                                  recorder: Recorder) -> None:
    from llm_rerank.integrations.llamaindex import LLMRerankEndEvent

    loops = []

    def respond(messages: list[dict[str, str]]) -> str:
        loops.append(asyncio.get_running_loop())
        return "[2] > [1]"

    with fake_llm(respond) as fake:
        postprocessor = get_reranker("listwise", model=fake.model,
                                     cache=False).as_llamaindex_postprocessor()
        ranked = await postprocessor.apostprocess_nodes(li_nodes()[:2], query_str="q")
    assert [n.node.node_id for n in ranked] == [REQUEST.documents[1].id, REQUEST.documents[0].id]
    assert loops == [asyncio.get_running_loop()]
    start = [e for e in recorder.events if isinstance(e, ReRankStartEvent)]
    end = [e for e in recorder.events if isinstance(e, ReRankEndEvent)]
    assert len(start) == len(end) == 1
    assert (start[0].model_name, start[0].top_n, len(start[0].nodes)) == (fake.model, 2, 2)
    assert isinstance(end[0], LLMRerankEndEvent) and end[0].class_name() == "ReRankEndEvent"
    assert end[0].usage.llm_calls == 1 and end[0].nodes == ranked


def test_llamaindex_empty_input_and_failures() -> None:
    debug = LlamaDebugHandler()
    with fake_llm(failing) as fake:
        reranker = get_reranker("listwise", model=fake.model, cache=False, max_retries=0)
        postprocessor = reranker.as_llamaindex_postprocessor(
            callback_manager=CallbackManager([debug]))
        assert postprocessor.postprocess_nodes([], query_str="q") == []
        assert fake.calls == 0
        with pytest.raises(ValueError, match="needs a query"):
            postprocessor.postprocess_nodes(li_nodes())
        with pytest.raises(LLMCallError):
            postprocessor.postprocess_nodes(li_nodes(), query_str="q")
    [(_, end)] = debug.get_event_pairs(CBEventType.RERANKING)
    assert isinstance(end.payload[EventPayload.EXCEPTION], LLMCallError)


def test_llamaindex_nodes_go_straight_into_rank() -> None:
    nodes = li_nodes()[:2]
    with fake_llm(lambda messages: "[2] > [1]") as fake:
        reranker = get_reranker("listwise", model=fake.model, cache=False)
        from_scored = reranker.rank("q", nodes)
        from_nodes = reranker.rank("q", [n.node for n in nodes])
    for results in (from_scored, from_nodes):
        assert [(r.document.id, r.document.text, r.document.metadata["topic"])
                for r in results] == [(n.node.node_id, n.node.get_content(), "sample")
                                      for n in reversed(nodes)]
