"""Strategies describe themselves (issue 16): a template declares its kind, each request
carries it as a tag, and the simulated judge dispatches on the tag instead of the prose.

A new strategy is one module (the class below), one template (written to ``tmp_path``) and
one registration; a bundled template reworded keeps its nDCG@10 on the judge.
"""

from __future__ import annotations

import http.client
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_rerank import PairwiseReranker, SetwiseReranker, register_reranker
from llm_rerank.cli import main
from llm_rerank.eval.io import RerankRequest
from llm_rerank.eval.metrics import ndcg
from llm_rerank.llm import Completion
from llm_rerank.llm_reranker import LLMReranker
from llm_rerank.models import Document
from llm_rerank.parsing import parse_passage_choice
from llm_rerank.prompts import PromptTemplate, prompts_dir
from llm_rerank.registry import get_reranker, reranker_class, reranker_names
from llm_rerank.reranker import RankingContext, Scored
from llm_rerank.tags import TAG_HEADER
from llm_rerank.testing import JudgeServer

StartJudge = Callable[..., JudgeServer]
QUERY = "how do heat pumps warm a house"
Data = tuple[RerankRequest, dict[str, dict[str, int]]]


@pytest.fixture
def dataset() -> Data:
    """12 documents with distinct texts, grades 0..3, shuffled."""
    rng = random.Random(5)
    docs, grades = [], {}
    for n in range(12):
        words = " ".join(rng.choice(["heat", "pump", "air", "coil", "fan", "warm"])
                         for _ in range(10))
        docs.append(Document(id=f"d{n}", text=f"Document {n} on {words}."))
        grades[f"d{n}"] = n % 4
    rng.shuffle(docs)
    return RerankRequest("q1", QUERY, docs), {"q1": grades}


def ndcg_at_10(results: Any, qrels: dict[str, dict[str, int]]) -> float:
    return ndcg([r.document.id for r in results], qrels["q1"], 10)


def on_judge(server: JudgeServer) -> dict[str, Any]:
    return {"model": "openai/judge", "api_base": server.url, "api_key": "x", "cache": False}


# --- (i) a new strategy: one module, one template, one registration -----------------------

BESTOF_TEMPLATE = """{#- Best of the rest: which remaining passage answers the query best?
    kind: setwise
    answer: passage_choice
    Variables: query (str, one line), passages (list of {id: str, text: str}); ids A, B, ...
    Answer: "Passage X"; read by llm_rerank.parsing.parse_passage_choice. -#}
{% block user -%}
Pick the passage that answers the search query best.

Search query: {{ query }}

{% for passage in passages -%}
Passage {{ passage.id }}: {{ passage.text }}
{% endfor %}
Reply with "Passage" and its letter.
{%- endblock %}
"""


class BestOfReranker(LLMReranker):
    """Selection sort: each call shows the passages not yet placed and asks for the best
    (N - 1 calls for N documents); an unusable answer places the first shown."""

    name = "bestof"
    default_template = "bestof.j2"  # replaced by the template's path in the test

    async def _order(self, ctx: RankingContext) -> list[Scored]:
        remaining = list(range(len(ctx.documents)))
        placed: list[int] = []
        while len(remaining) > 1:
            labels = [chr(ord("A") + n) for n in range(len(remaining))]

            def variables(words: int | None, shown: tuple[int, ...] = tuple(remaining),
                          names: tuple[str, ...] = tuple(labels)) -> dict[str, Any]:
                return {"passages": [{"id": label, "text": self.passage(ctx, index, words)}
                                     for label, index in zip(names, shown, strict=True)]}

            def parse(completion: Completion, names: list[str] = labels) -> int | None:
                return parse_passage_choice(completion.text, names)

            choice = await self.ask(ctx, variables, parse, answer_tokens=8)
            placed.append(remaining.pop(choice or 0))
        return [Scored(index) for index in placed + remaining]


@pytest.fixture
def bestof(tmp_path: Path) -> Iterator[type[BestOfReranker]]:
    """The plugin's one template and one registration (undone afterwards)."""
    template = tmp_path / "bestof.j2"
    template.write_text(BESTOF_TEMPLATE, encoding="utf-8")
    plugin = type("BestOf", (BestOfReranker,), {"default_template": str(template)})
    register_reranker("bestof", plugin)
    yield plugin
    import llm_rerank.registry as registry

    registry.STRATEGIES.targets.pop("bestof", None)


def test_a_new_strategy_is_listed_and_scored_by_the_judge(
    bestof: type[BestOfReranker], judge_server: StartJudge, dataset: Data,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert "bestof" in reranker_names()
    with pytest.raises(SystemExit):
        main(["rerank", "--help"])
    assert "bestof" in capsys.readouterr().out.split("registered strategy:")[1]
    assert main(["prompts", "render", "bestof"]) == 0
    assert "Pick the passage that answers" in capsys.readouterr().out
    request, qrels = dataset
    server = judge_server([request], qrels)
    results = get_reranker("bestof", **on_judge(server)).rank(request.query, request.documents)
    assert results.strategy == "bestof"
    assert ndcg_at_10(results, qrels) == pytest.approx(1.0)
    stats = server.stats()
    assert results.usage.llm_calls == stats.requests == stats.by_kind["setwise"] == 11
    assert stats.untagged == stats.unmatched_passages == stats.bad_requests == 0


def test_the_cli_accepts_a_registered_strategy_and_refuses_an_unknown_one(
    bestof: type[BestOfReranker], judge_server: StartJudge, dataset: Data, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    request, qrels = dataset
    server = judge_server([request], qrels)
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(json.dumps({"query_id": "q1", "query": request.query, "candidates": [
        {"id": d.id, "text": d.text} for d in request.documents]}) + "\n", encoding="utf-8")
    assert main(["rerank", "-s", "bestof", "-m", "openai/judge", "--api-base", server.url,
                 "--api-key", "x", "--no-cache", "-i", str(source), "-o", str(out)]) == 0
    ranking = [c["id"] for c in json.loads(out.read_text(encoding="utf-8"))["candidates"]]
    assert ndcg(ranking, qrels["q1"], 10) == pytest.approx(1.0)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(["rerank", "-s", "nosuch", "-m", "openai/judge", "-i", str(source)])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "invalid choice: 'nosuch'" in error and "'bestof'" in error and "'listwise'" in error


# --- (ii) a bundled template reworded scores the same ---------------------------------------

def reworded(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """A copy of bundled template ``name`` with its instruction ``old`` rewritten as ``new``."""
    source = (prompts_dir() / f"{name}.j2").read_text(encoding="utf-8")
    assert old in source
    path = tmp_path / f"{name.replace('/', '-')}-reworded.j2"
    path.write_text(source.replace(old, new), encoding="utf-8")
    return path


def test_a_reworded_setwise_template_scores_the_same(
    judge_server: StartJudge, dataset: Data, tmp_path: Path
) -> None:
    """Fails on the code before issue 16: without the words "most relevant" the judge took
    each two-passage setwise prompt for a pairwise one (``by_kind``)."""
    path = reworded(tmp_path, "setwise/heapsort",
                    "Which of the {{ passages | length }} passages below is the most relevant "
                    "to the search query?",
                    "Pick, among the {{ passages | length }} passages below, the one that best "
                    "answers the search query.")
    path.write_text(path.read_text(encoding="utf-8").replace(
        "the label of the most relevant passage", "the label of the best passage"),
        encoding="utf-8")
    assert "most relevant" not in PromptTemplate.load(path).render(
        query="q", passages=[{"id": "A", "text": "a"}, {"id": "B", "text": "b"}])[-1]["content"]
    request, qrels = dataset
    scores = []
    for template in ("setwise/heapsort", str(path)):
        server = judge_server([request], qrels)
        reranker = SetwiseReranker(num_children=2, template=template, **on_judge(server))
        results = reranker.rank(request.query, request.documents)
        stats = server.stats()
        assert stats.requests == stats.by_kind["setwise"] == results.usage.llm_calls > 0
        assert stats.by_kind["pairwise"] == stats.untagged == stats.bad_requests == 0
        scores.append(ndcg_at_10(results, qrels))
    assert scores[1] == scores[0] == pytest.approx(1.0)


def test_a_reworded_pairwise_template_scores_the_same(
    judge_server: StartJudge, dataset: Data, tmp_path: Path
) -> None:
    """Fails on the code before issue 16: a pairwise prompt asking for the "most relevant"
    passage was taken for a setwise one (``by_kind``)."""
    path = reworded(tmp_path, "pairwise/prp",
                    "Which of the two passages below is more relevant to the search query?",
                    "Of the two passages below, which is the most relevant to the search query?")
    request, qrels = dataset
    scores = []
    for template in ("pairwise/prp", str(path)):
        server = judge_server([request], qrels)
        reranker = PairwiseReranker(template=template, **on_judge(server))
        results = reranker.rank(request.query, request.documents)
        stats = server.stats()
        assert stats.requests == stats.by_kind["pairwise"] == results.usage.llm_calls > 0
        assert stats.by_kind["setwise"] == stats.untagged == stats.bad_requests == 0
        scores.append(ndcg_at_10(results, qrels))
    assert scores[1] == scores[0] == pytest.approx(1.0)


# --- the tag on the wire, and the fallback for foreign clients ------------------------------

def post(server: JudgeServer, messages: list[dict[str, str]],
         tag: str | None = None) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    headers = {"Content-Type": "application/json", **({TAG_HEADER: tag} if tag else {})}
    connection.request("POST", "/v1/chat/completions", headers=headers,
                       body=json.dumps({"model": "judge", "messages": messages}))
    response = connection.getresponse()
    payload = json.loads(response.read())
    connection.close()
    return response.status, payload


def test_the_judge_reads_the_tag_and_falls_back_to_the_prose_without_one(
    judge_server: StartJudge, dataset: Data
) -> None:
    request, qrels = dataset
    server = judge_server([request], qrels)
    texts = {d.id: d.text for d in request.documents}
    best, worst = texts["d3"], texts["d0"]
    two = [{"role": "user", "content": f"Search query: {QUERY}\n\nPassage A: {worst}\n"
                                       f"Passage B: {best}\n\nWhich one?"}]
    assert post(server, two, "strategy=setwise; kind=setwise")[0] == 200
    assert server.stats().by_kind["setwise"] == 1 and server.stats().untagged == 0
    status, payload = post(server, two)  # a curl user: two passages read as pairwise
    assert status == 200 and payload["choices"][0]["message"]["content"] == "Passage B"
    assert server.stats().by_kind["pairwise"] == 1 and server.stats().untagged == 1
    asking = [{"role": "user", "content": two[0]["content"].replace(
        "Search query", "Which is the most relevant?\nSearch query")}]
    assert post(server, asking)[0] == 200  # the fallback still reads "most relevant"
    assert server.stats().by_kind["setwise"] == 2
    assert post(server, two, "kind=no-such-kind")[0] == 200  # an unknown kind: the prose
    assert server.stats().by_kind["pairwise"] == 2
    status, payload = post(server, two, "kind=listwise")  # the tag decides: no [n] lines
    assert status == 400 and "listwise prompt needs" in payload["error"]["message"]


def test_every_llm_strategy_tags_its_requests(judge_server: StartJudge, dataset: Data) -> None:
    """Each bundled LLM strategy's calls reach the judge tagged with its kind."""
    request, qrels = dataset
    for name in reranker_names():
        strategy = reranker_class(name)
        if not issubclass(strategy, LLMReranker):
            continue
        server = judge_server([request], qrels)
        options = {"criteria": ["heat pumps"]} if name == "criteria" else {}
        results = get_reranker(name, **on_judge(server), **options).rank(
            request.query, request.documents)
        stats = server.stats()
        kind = PromptTemplate.load(strategy.default_template).kind
        assert kind is not None, name
        assert stats.untagged == stats.bad_requests == 0, name
        assert stats.by_kind[kind] == stats.requests == results.usage.llm_calls > 0, name


def test_the_direct_transport_sends_the_tag(judge_server: StartJudge, dataset: Data) -> None:
    request, qrels = dataset
    server = judge_server([request], qrels)
    results = SetwiseReranker(transport="direct", **on_judge(server)).rank(
        request.query, request.documents)
    stats = server.stats()
    assert stats.by_kind["setwise"] == stats.requests == results.usage.llm_calls > 0
    assert stats.untagged == 0 and ndcg_at_10(results, qrels) == pytest.approx(1.0)


async def test_the_tag_is_not_part_of_the_cache_key(tmp_path: Path) -> None:
    from llm_rerank.llm import LLMClient
    from llm_rerank.models import Usage
    from llm_rerank.testing import fake_llm

    with fake_llm(lambda messages: "ok") as fake:
        client = LLMClient(fake.model, cache=tmp_path / "cache")
        usage = Usage()
        messages = [{"role": "user", "content": "hello"}]
        await client.complete(messages, usage, tag={"strategy": "a", "kind": "setwise"})
        await client.complete(messages, usage, tag={"strategy": "b", "kind": "pairwise"})
        await client.complete(messages, usage)
    assert (usage.llm_calls, usage.cache_hits) == (1, 2)
    assert fake.requests[0]["tag"] == {"strategy": "a", "kind": "setwise"}
