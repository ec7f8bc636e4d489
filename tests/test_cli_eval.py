"""``llm-rerank eval`` through ``llm_rerank.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_rerank.cli import main


@pytest.fixture()
def files(tmp_path: Path) -> tuple[str, str]:
    run = tmp_path / "run.trec"
    run.write_text("q1 Q0 a 1 3 t\nq1 Q0 b 2 2 t\nq1 Q0 c 3 1 t\n"
                   "q2 Q0 a 1 3 t\nq2 Q0 b 2 2 t\nq9 Q0 a 1 1 t\n", encoding="utf-8")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 b 1\nq1 0 c 2\nq2 0 a 0\nq3 0 a 1\n", encoding="utf-8")
    return str(run), str(qrels)


def test_table_with_mean_only(files: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    run, qrels = files
    assert main(["eval", "--run", run, "--qrels", qrels, "--metrics", "mrr@10", "P_1"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["query", "mrr@10", "p@1"]
    assert lines[1].split() == ["mean", "(2)", "0.2500", "0.0000"]
    assert len(lines) == 2 and len(lines[0]) == len(lines[1])  # aligned columns
    assert "q9" in err and "no qrels" in err


def test_per_query_rows_and_relevance_level(files: tuple[str, str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    run, qrels = files
    main(["eval", "--run", run, "--qrels", qrels, "--metrics", "mrr", "--per-query",
          "--relevance-level", "2"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows[1:] == [["q1", "0.3333"], ["q2", "0.0000"], ["mean", "(2)", "0.1667"]]


def test_json_output(files: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    run, qrels = files
    main(["eval", "--run", run, "--qrels", qrels, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["metrics"] == ["ndcg@10", "mrr@10", "recall@20", "map"]
    assert report["num_queries"] == 2 and "per_query" not in report
    assert report["queries_without_qrels"] == ["q9"]
    assert report["mean"]["recall@20"] == pytest.approx(0.5)
    main(["eval", "--run", run, "--qrels", qrels, "--json", "--per-query", "--metrics", "map"])
    assert json.loads(capsys.readouterr().out)["per_query"]["q1"]["map"] == pytest.approx(
        (1 / 2 + 2 / 3) / 2)


def test_bad_input_exits_2_with_message(files: tuple[str, str], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    run, qrels = files
    assert main(["eval", "--run", run, "--qrels", qrels, "--metrics", "bleu"]) == 2
    assert "unknown metric 'bleu'" in capsys.readouterr().err
    bad = tmp_path / "bad.trec"
    bad.write_text("q1 Q0 a 1\n", encoding="utf-8")
    assert main(["eval", "--run", str(bad), "--qrels", qrels]) == 2
    assert "bad.trec:1" in capsys.readouterr().err


def test_help_lists_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    assert "--relevance-level" in capsys.readouterr().out
