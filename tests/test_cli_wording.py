"""What the CLI prints reads right: counts pluralised ("1 query", "1 LLM call"), and errors
that speak CLI flags, not Python keywords."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_rerank.cli import main
from llm_rerank.eval.compare import compare_runs, summary_text
from llm_rerank.testing import fake_llm


def reverse_judge(messages: list[dict[str, str]]) -> str:
    count = messages[-1]["content"].count("\n[")
    return " > ".join(f"[{i}]" for i in range(count, 0, -1))


def test_rerank_summary_of_one_query_and_one_call(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"query_id": "q1", "query": "q", "candidates": [
        {"id": "a", "text": "first"}, {"id": "b", "text": "second"}]}) + "\n")
    with fake_llm(reverse_judge) as fake:
        assert main(["rerank", "-m", fake.model, "-i", str(source), "-o",
                     str(tmp_path / "out.jsonl"), "--no-cache"]) == 0
    summary = capsys.readouterr().err.strip().splitlines()[-1]
    assert summary.startswith("reranked 1 query: 1 LLM call, 0 cache hits, ")
    assert "0 failed calls, 0 parse failures, 0 prompts shrunk" in summary


def test_demo_of_one_query_says_query_and_call(capsys: pytest.CaptureFixture[str]) -> None:
    with fake_llm(reverse_judge) as fake:
        assert main(["demo", "-s", "listwise", "-m", fake.model, "--no-cache",
                     "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "Reranking 1 sample query x 10 candidates" in out
    assert "Mean nDCG@10 over 1 query:" in out and "Usage: 1 LLM call, 0 cache hits" in out


def test_compare_summary_of_one_query() -> None:
    text = summary_text(compare_runs({"q": {"a": 2, "b": 1}}, {"q": {"a": 2, "b": 1}}))
    assert "\n1 query: Kendall tau" in text


def test_eval_without_aspects_names_the_flag(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run, qrels = tmp_path / "run.trec", tmp_path / "qrels"
    run.write_text("q1 Q0 d1 1 1.0 x\n")
    qrels.write_text("q1 0 d1 1\n")
    status = main(["eval", "--run", str(run), "--qrels", str(qrels),
                   "--metrics", "aspect_recall@10"])
    assert status == 2
    err = capsys.readouterr().err
    assert "--aspects FILE" in err and "aspects=" not in err
