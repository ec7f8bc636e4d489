from __future__ import annotations

from typing import ClassVar

import pytest

from llm_rerank import Document, InvalidInput, RankedResult, RankedResults, Usage, get_reranker
from llm_rerank.reranker import RankingContext, Reranker, Scored, validate_inputs
from llm_rerank.testing import fake_llm


def test_documents_accept_str_document_and_mapping() -> None:
    _, docs = validate_inputs("q", ["plain", Document(text="doc", id="d7"),
                                     {"text": "mapped", "id": 5, "lang": "en"}])
    assert [d.text for d in docs] == ["plain", "doc", "mapped"]
    assert [d.id for d in docs] == [None, "d7", "5"]
    assert docs[2].metadata == {"lang": "en"}


@pytest.mark.parametrize(
    ("query", "documents", "message"),
    [
        ("", ["a"], "query is empty"),
        ("   ", ["a"], "query is empty"),
        (3, ["a"], "query must be a str"),
        ("q", "abc", "documents must be a list"),
        ("q", None, "documents must be a list"),
        ("q", ["a", 3], "document 1 is of type int"),
        ("q", [{"id": "x"}], "document 0 is a mapping without a 'text' key"),
        ("q", [{"text": b"bytes"}], "document 0 has text of type bytes"),
        ("q", [{"text": "t", "id": [1]}], "document 0 has id of type list"),
    ],
)
def test_bad_input_is_named(query: object, documents: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        validate_inputs(query, documents)


class PageLike:
    """Shaped like a LangChain ``Document``."""

    def __init__(self, text: str, doc_id: str | None, metadata: dict[str, object]) -> None:
        self.page_content, self.id, self.metadata = text, doc_id, metadata


class NodeLike:
    """Shaped like a LlamaIndex ``TextNode`` / ``NodeWithScore``."""

    node_id = "n1"
    metadata: ClassVar[dict[str, str]] = {"file_name": "a.txt"}

    def get_content(self) -> str:
        return "node text"


def test_framework_documents_are_read_by_their_attributes() -> None:
    _, docs = validate_inputs("q", [PageLike("page", "p1", {"source": "web"}),
                                    PageLike("no id", None, {}), NodeLike()])
    assert [(d.text, d.id, d.metadata) for d in docs] == [
        ("page", "p1", {"source": "web"}), ("no id", None, {}),
        ("node text", "n1", {"file_name": "a.txt"})]
    with pytest.raises(InvalidInput, match=r"document 0 \(.*PageLike\) has text of type int"):
        validate_inputs("q", [PageLike(3, "p", {})])  # type: ignore[arg-type]


def test_an_unknown_document_type_is_named_in_full() -> None:
    stranger = type("Document", (), {})()
    with pytest.raises(InvalidInput, match=r"document 0 is of type [\w.]*test_models\.Document; "
                                           r"expected str, llm_rerank\.Document"):
        validate_inputs("q", [stranger])


@pytest.mark.parametrize("strategy", ["listwise", "pointwise", "pairwise", "setwise"])
def test_no_documents_give_empty_results_without_a_call(strategy: str) -> None:
    with fake_llm(lambda messages: "[1]") as fake:
        reranker = get_reranker(strategy, model=fake.model, cache=False)
        results = reranker.rank("q", [], top_n=3)
        batch = reranker.rank_batch([("q", []), ("r", iter([]))])
    assert (len(results), results.results, results.usage.llm_calls, fake.calls) == (0, [], 0, 0)
    assert (results.query, results.strategy, results.model) == ("q", strategy, fake.model)
    assert [len(r) for r in batch] == [0, 0]


def test_usage_adds_fieldwise() -> None:
    total = Usage(llm_calls=2, cost_usd=0.5) + Usage(llm_calls=1, cache_hits=4, cost_usd=0.25)
    assert (total.llm_calls, total.cache_hits, total.cost_usd) == (3, 4, 0.75)


def test_ranked_results_behave_like_a_list() -> None:
    results = RankedResults(
        query="q", strategy="x",
        results=[RankedResult(document=Document(text=t), index=i, rank=i + 1,
                              score=1 - i / 3, relevance_score=1 - i / 3)
                 for i, t in enumerate("abc")],
    )
    assert len(results) == 3 and results[0].document.text == "a"
    assert [r.document.text for r in results.top(2)] == ["a", "b"]
    assert [r.rank for r in results] == [1, 2, 3]
    assert results.to_dict()["results"][2]["index"] == 2


class Reverse(Reranker):
    name = "reverse"

    def score_kind(self) -> str:
        return "index"

    def relevance(self, score: float) -> float:
        return score / 4

    async def _order(self, ctx: RankingContext) -> list[Scored]:
        return [Scored(i, score=float(i)) for i in reversed(range(len(ctx.documents)))]


class Broken(Reranker):
    name = "broken"

    async def _order(self, ctx: RankingContext) -> list[Scored]:
        return [Scored(0), Scored(0)]


def test_base_builds_results_and_top_n() -> None:
    results = Reverse().rank("q", ["a", "b", "c"], top_n=2)
    assert [(r.document.text, r.index, r.rank, r.score, r.relevance_score) for r in results] == [
        ("c", 2, 1, 2.0, 0.5), ("b", 1, 2, 1.0, 0.25)]
    assert results[0].details["score_kind"] == "index"
    assert results.usage.latency_s >= 0


@pytest.mark.parametrize("top_n", [0, -1, 1.5, "3", True])
def test_bad_top_n(top_n: object) -> None:
    with pytest.raises(InvalidInput, match="top_n"):
        Reverse().rank("q", ["a"], top_n=top_n)  # type: ignore[arg-type]


def test_a_strategy_that_loses_documents_is_caught() -> None:
    with pytest.raises(Exception, match="not a permutation"):
        Broken().rank("q", ["a", "b"])


async def test_rank_works_inside_a_running_loop_and_batches_keep_order() -> None:
    assert [r.document.text for r in Reverse().rank("q", ["a", "b"])] == ["b", "a"]
    seen: list[tuple[int, str]] = []
    batch = await Reverse().arank_batch([("q1", ["a", "b"]), ("q2", ["c", "d", "e"])],
                                        on_result=lambda i, res: seen.append((i, res.query)))
    assert [[r.document.text for r in res] for res in batch] == [["b", "a"], ["e", "d", "c"]]
    assert sorted(seen) == [(0, "q1"), (1, "q2")]
    assert [res.query for res in Reverse().rank_batch([("x", ["a"]), ("y", ["b"])])] == ["x", "y"]


@pytest.mark.parametrize(("shortcut", "module", "extra"), [
    ("as_langchain_compressor", "langchain_core", "langchain"),
    ("as_llamaindex_postprocessor", "llama_index.core", "llamaindex"),
])
def test_a_missing_framework_names_its_extra(monkeypatch: pytest.MonkeyPatch, shortcut: str,
                                             module: str, extra: str) -> None:
    import importlib.util
    import sys

    from llm_rerank.integrations import MissingExtra

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == module else real(name, *a))
    monkeypatch.delitem(sys.modules, f"llm_rerank.integrations.{shortcut.split('_')[1]}",
                        raising=False)
    with pytest.raises(MissingExtra, match=rf"pip install -e '\.\[{extra}\]'") as caught:
        getattr(Reverse(), shortcut)()
    assert isinstance(caught.value, ImportError) and caught.value.extra == extra
