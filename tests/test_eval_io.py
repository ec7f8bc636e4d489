"""TREC qrels/run IO, JSONL rankings, and the data set loaders."""

from __future__ import annotations

import io
import json
import os
import random
from pathlib import Path

import pytest

from llm_rerank.errors import InvalidInput
from llm_rerank.eval.datasets import (
    data_dir_from_env,
    load_noveleval,
    load_trec_dl19,
)
from llm_rerank.eval.io import write_results
from llm_rerank.eval.metrics import evaluate
from llm_rerank.eval.trec import (
    Run,
    ranking,
    read_qrels,
    read_run,
    run_from_rankings,
    write_run,
)
from llm_rerank.models import Document, RankedResult, RankedResults


def test_qrels_read_both_iteration_columns(tmp_path: Path) -> None:
    path = tmp_path / "qrels.txt"
    path.write_text("q1 0 d1 2\nq1 Q0 d2 0\n\nq2 0 d1 -1\n", encoding="utf-8")
    assert read_qrels(path) == {"q1": {"d1": 2, "d2": 0}, "q2": {"d1": -1}}


@pytest.mark.parametrize(("text", "message"), [
    ("q1 0 d1 2\nq1 0 d2\n", r"qrels.txt:2: expected 4 columns"),
    ("q1 0 d1 high\n", r"qrels.txt:1: grade 'high' is not an integer"),
    ("\n\n", r"no judgments"),
])
def test_malformed_qrels_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "qrels.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput, match=message):
        read_qrels(path)


def test_missing_files_are_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="qrels file not found"):
        read_qrels(tmp_path / "nope.txt")
    with pytest.raises(InvalidInput, match="run file not found"):
        read_run(tmp_path / "nope.txt")


def test_run_round_trip_keeps_scores_and_trec_order(tmp_path: Path) -> None:
    rng = random.Random(3)
    for _ in range(20):
        run: Run = {
            f"q{q}": {f"d{d}": rng.choice([1.0, 2.5, -3.0, 1e-7, 123456789.125, 7.0])
                      for d in rng.sample(range(30), rng.randint(1, 10))}
            for q in range(rng.randint(1, 4))
        }
        path = tmp_path / "run.trec"
        write_run(path, run, "tag1")
        assert read_run(path) == run
        lines = path.read_text(encoding="utf-8").splitlines()
        for qid, scores in run.items():
            rows = [line.split() for line in lines if line.split()[0] == qid]
            assert [row[2] for row in rows] == ranking(scores)
            assert [row[3] for row in rows] == [str(n) for n in range(1, len(scores) + 1)]
            assert {row[5] for row in rows} == {"tag1"}


def test_write_run_to_stream_and_bad_tag() -> None:
    stream = io.StringIO()
    write_run(stream, run_from_rankings({"q1": ["b", "a"]}), "bm25")
    assert stream.getvalue() == "q1 Q0 b 1 2 bm25\nq1 Q0 a 2 1 bm25\n"
    with pytest.raises(InvalidInput, match="run tag"):
        write_run(io.StringIO(), {"q": {"a": 1.0}}, "two words")


def test_run_from_rankings_preserves_order_and_rejects_duplicates() -> None:
    run = run_from_rankings({"q1": ["d9", "d10", "d1"], "q2": []})
    assert ranking(run["q1"]) == ["d9", "d10", "d1"] and run["q2"] == {}
    with pytest.raises(InvalidInput, match="twice"):
        run_from_rankings({"q1": ["a", "a"]})


@pytest.mark.parametrize(("text", "message"), [
    ("q1 Q0 d1 1 2.0\n", r"run.txt:1: expected 6 columns"),
    ("q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 x t\n", r"run.txt:2: score 'x' is not a number"),
    ("q1 Q0 d1 1 2.0 t\nq1 Q0 d1 2 1.0 t\n", r"run.txt:2: document 'd1' appears twice"),
    ("\n", r"the run is empty"),
    ('{"query_id": "q1", "candidates": [{"id": "a"}]}\n{oops\n', r"run.txt:2: not valid JSON"),
    ('{"query_id": "q1", "docs": []}\n', r"run.txt:1: a row needs 'candidates' or 'hits'"),
    ('{"candidates": [{"id": "a"}]}\n', r"run.txt:1: no query id"),
    ('{"query_id": "q1", "candidates": [{"text": "t"}]}\n', r"run.txt:1: a candidate has no 'id'"),
    ('{"query_id": "q", "candidates": [{"id": "a"}]}\n{"query_id": "q", "candidates": []}\n',
     r"run.txt:2: query 'q' appears on two rows"),
    ('{"query_id": "q", "candidates": []}\n[1, 2]\n', r"run.txt:2: expected a JSON object"),
])
def test_malformed_runs_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "run.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput, match=message):
        read_run(path)


def test_jsonl_input_shapes_rank_in_candidate_order(tmp_path: Path) -> None:
    rankgpt = {"query": "x", "hits": [{"content": "t", "qid": 7, "docid": d, "rank": r}
                                      for r, d in enumerate(["d3", "d1", "d2"], start=1)]}
    candidates = {"query_id": "q2", "query": "y",
                  "candidates": [{"id": "b", "text": "t"}, {"id": "a", "text": "t"}]}
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(rankgpt) + "\n\n" + json.dumps(candidates) + "\n", encoding="utf-8")
    run = read_run(path)
    assert run == {"7": {"d3": 3.0, "d1": 2.0, "d2": 1.0}, "q2": {"b": 2.0, "a": 1.0}}


def test_rerank_output_rows_are_ordered_by_rank() -> None:
    docs = [Document(text=f"text {n}", id=f"d{n}") for n in range(3)]
    results = RankedResults(query="q", strategy="test", results=[
        RankedResult(document=docs[index], index=index, rank=rank, score=1.0 / rank,
                     relevance_score=1.0 / rank)
        for rank, index in enumerate([2, 0, 1], start=1)
    ])
    jsonl, trec = io.StringIO(), io.StringIO()
    write_results(jsonl, [("q1", results)], "jsonl", "t")
    write_results(trec, [("q1", results)], "trec", "t")
    from_jsonl = read_run(io.StringIO(jsonl.getvalue()))
    assert ranking(from_jsonl["q1"]) == ["d2", "d0", "d1"]
    assert ranking(read_run(io.StringIO(trec.getvalue()))["q1"]) == ["d2", "d0", "d1"]
    # the rank field wins over the list order
    row = json.loads(jsonl.getvalue())
    row["candidates"].reverse()
    assert ranking(read_run(io.StringIO(json.dumps(row)))["q1"]) == ["d2", "d0", "d1"]


def test_data_dir_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLM_RERANK_DATA", raising=False)
    with pytest.raises(InvalidInput, match="LLM_RERANK_DATA"):
        data_dir_from_env()
    assert data_dir_from_env(tmp_path) == tmp_path
    monkeypatch.setenv("LLM_RERANK_DATA", str(tmp_path))
    assert data_dir_from_env() == tmp_path
    with pytest.raises(InvalidInput, match="data folder not found"):
        data_dir_from_env(tmp_path / "missing")


def test_load_noveleval_from_small_copy(tmp_path: Path) -> None:
    folder = tmp_path / "noveleval"
    folder.mkdir()
    (folder / "corpus.tsv").write_text(
        'b-1\t"He said ""hi""\tthen\tleft"\na-0\tplain text\nb-0\tsecond\nc-0\tunjudged\n',
        encoding="utf-8")
    (folder / "queries.tsv").write_text("a\tquery a\nb\tquery b\nc\tno judgments\n",
                                        encoding="utf-8")
    (folder / "qrels.txt").write_text("b 0 b-0 2\nb 0 b-1 0\na 0 a-0 1\n", encoding="utf-8")
    requests, qrels = load_noveleval(tmp_path)
    assert [r.query_id for r in requests] == ["a", "b"]
    assert [d.id for d in requests[1].documents] == ["b-1", "b-0"]  # corpus order
    assert requests[1].documents[0].text == 'He said "hi"\tthen\tleft'
    assert qrels["b"] == {"b-0": 2, "b-1": 0}
    assert load_noveleval(folder)[0] == requests  # the data set folder itself works too
    (folder / "qrels.txt").write_text("a 0 zz 1\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"not in corpus\.tsv"):
        load_noveleval(tmp_path)


def test_loaders_report_missing_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"bm25_dl19_top100\.jsonl"):
        load_trec_dl19(tmp_path)
    with pytest.raises(InvalidInput, match=r"corpus\.tsv"):
        load_noveleval(tmp_path)


def shared_data() -> Path:
    value = os.environ.get("LLM_RERANK_DATA")
    if not value or not (Path(value) / "trec-dl19").is_dir():
        pytest.skip("set LLM_RERANK_DATA to the evaluation data folder to run this test")
    return Path(value)


def test_trec_dl19_reference_figures() -> None:
    data = shared_data()
    requests, qrels = load_trec_dl19(data)
    assert len(requests) == 43 and all(len(r.documents) == 100 for r in requests)
    bm25 = read_run(data / "trec-dl19" / "bm25_dl19_top100.jsonl")
    assert round(evaluate(bm25, qrels, ["ndcg@10"]).mean["ndcg@10"], 4) == 0.5058
    ideal = run_from_rankings({
        r.query_id: sorted((d.id for d in r.documents if d.id is not None),
                           key=lambda doc_id, q=r.query_id: -qrels[q].get(doc_id, 0))
        for r in requests
    })
    assert round(evaluate(ideal, qrels, ["ndcg@10"]).mean["ndcg@10"], 4) == 0.8922


def test_noveleval_shape() -> None:
    data = shared_data()
    requests, qrels = load_noveleval(data)
    assert len(requests) == 21 and all(len(r.documents) == 20 for r in requests)
    assert sum(len(j) for j in qrels.values()) == 420
