"""``criteria="auto"`` says when the query was kept whole, and why: in
``RankedResults.notes`` and in the CLI's summary line (not only as a parse failure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_rerank.cli import main
from llm_rerank.strategies.criteria import CriteriaReranker
from llm_rerank.testing import fake_llm

Messages = list[dict[str, str]]


def asks_decomposition(messages: Messages) -> bool:
    return any("Query to split:" in m["content"] for m in messages)


def one_part_judge(messages: Messages) -> str:
    """Answers the decomposition with one part (unusable), every verdict with yes."""
    return "1. only one part" if asks_decomposition(messages) else "C1: yes"


def test_unusable_decomposition_is_noted() -> None:
    with fake_llm(one_part_judge) as fake:
        results = CriteriaReranker(fake.model, cache=False).rank("a simple query", ["x", "y"])
    assert [row["criterion"] for row in results[0].details["criteria"]] == ["a simple query"]
    assert len(results.notes) == 1
    note = results.notes[0]
    assert "kept whole" in note and "could not be read" in note
    assert results.to_dict()["notes"] == results.notes


def test_failed_decomposition_call_is_noted() -> None:
    def judge(messages: Messages) -> str:
        if asks_decomposition(messages):
            import litellm

            raise litellm.BadRequestError("bad", llm_provider="fake", model="m")
        return "C1: yes"

    with fake_llm(judge) as fake:
        results = CriteriaReranker(fake.model, cache=False, on_error="keep_order",
                                   max_retries=0).rank("a simple query", ["x"])
    assert len(results.notes) == 1 and "kept whole" in results.notes[0]
    assert "call failed" in results.notes[0]


def test_successful_decomposition_has_no_note() -> None:
    def judge(messages: Messages) -> str:
        return "1. heat\n2. cost" if asks_decomposition(messages) else "C1: yes\nC2: no"

    with fake_llm(judge) as fake:
        results = CriteriaReranker(fake.model, cache=False).rank("heat and cost", ["x"])
    assert results.notes == []


def test_cli_summary_says_the_query_was_kept_whole(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"query_id": "q1", "query": "a simple query",
                                  "candidates": [{"id": "a", "text": "x"}]}) + "\n")
    out = tmp_path / "out.jsonl"
    with fake_llm(one_part_judge) as fake:
        status = main(["rerank", "-s", "criteria", "-m", fake.model, "-i", str(source),
                       "-o", str(out), "--criteria", "auto", "--no-cache"])
    assert status == 0
    err = capsys.readouterr().err
    summary = err.strip().splitlines()[-1]
    assert "1 query with a note" in summary and "kept whole" in summary
    assert "could not be read" in summary
    row = json.loads(out.read_text())
    assert row["notes"] and "kept whole" in row["notes"][0]
