"""Hostile inputs, files and environments: one error line, a documented exit status, no
traceback, and never a damaged output file."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from llm_rerank.cli import main
from llm_rerank.cli.compare import build_reranker
from llm_rerank.errors import InvalidInput
from llm_rerank.eval.trec import write_run
from llm_rerank.testing import fake_llm

OLD = "previous results, must survive\n"


def rows(*extra: dict[str, object]) -> str:
    base = [{"query_id": "q1", "query": "first query",
             "candidates": [{"id": f"a{i}", "text": f"doc-{i} text"} for i in range(3)]},
            {"query_id": "q2", "query": "second query",
             "candidates": [{"id": f"b{i}", "text": f"doc-{i} other"} for i in range(2)]}]
    return "".join(json.dumps(row) + "\n" for row in [*base, *extra])


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text(rows(), encoding="utf-8")
    return path


def reverse_judge(messages: list[dict[str, str]]) -> str:
    count = messages[-1]["content"].count("\n[")
    return " > ".join(f"[{i}]" for i in range(count, 0, -1))


def failing_judge(messages: object) -> str:
    raise ValueError("backend down")


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("llm-rerank: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --- input files -----------------------------------------------------------------------------

def test_rerank_invalid_utf8_names_file_and_line(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "in.jsonl"
    bad.write_bytes(rows().encode() + b'{"query": "caf\xe9"}\n')
    assert main(["rerank", "-m", "fake/x", "-i", str(bad)]) == 2
    line = one_error_line(capsys)
    assert f"{bad}:3" in line and "UTF-8" in line and "0xe9" in line


def test_rerank_deeply_nested_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "in.jsonl"
    bad.write_text('{"query": "q", "candidates": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    assert main(["rerank", "-m", "fake/x", "-i", str(bad)]) == 2
    assert f"{bad}:1: JSON nested too deeply" in one_error_line(capsys)


def test_rerank_reads_a_bom_and_explains_a_json_array(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with_bom = tmp_path / "bom.jsonl"
    with_bom.write_bytes(b"\xef\xbb\xbf" + rows().encode())
    with fake_llm(reverse_judge) as fake:
        assert main(["rerank", "-m", fake.model, "-i", str(with_bom), "--no-cache",
                     "-o", str(tmp_path / "out.jsonl")]) == 0
    array = tmp_path / "array.json"
    array.write_text(json.dumps([json.loads(line) for line in rows().splitlines()]))
    assert main(["rerank", "-m", "fake/x", "-i", str(array)]) == 2
    assert "JSON array" in one_error_line(capsys)


def test_eval_invalid_utf8_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run, qrels = tmp_path / "run.trec", tmp_path / "qrels.txt"
    run.write_bytes(b"q1 Q0 a 1 2 t\nq1 Q0 \xff\xfe 2 1 t\n")
    qrels.write_text("q1 0 a 1\n")
    assert main(["eval", "--run", str(run), "--qrels", str(qrels)]) == 2
    line = one_error_line(capsys)
    assert f"{run}:2: not valid UTF-8" in line


def test_input_that_is_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rerank", "-m", "fake/x", "-i", str(tmp_path)]) == 2
    assert "is a directory" in one_error_line(capsys)


# --- output files ----------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["missing/out.jsonl", "."])
def test_rerank_output_path_errors(source: Path, tmp_path: Path, where: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / where
    with fake_llm(reverse_judge) as fake:
        assert main(["rerank", "-m", fake.model, "-i", str(source), "-o", str(target)]) == 2
    assert fake.calls == 0  # refused before any work
    line = one_error_line(capsys)
    assert ("does not exist" if where != "." else "is a directory") in line
    assert str(target.parent if where != "." else target) in line


def test_rerank_bad_flag_keeps_existing_output(source: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(OLD)
    with fake_llm(reverse_judge) as fake:
        assert main(["rerank", "-m", fake.model, "-i", str(source), "-o", str(out),
                     "--concurrent-queries", "0"]) == 2
        assert main(["rerank", "-m", fake.model, "-i", str(source), "-o", str(out),
                     "--top-n", "-1"]) == 2
    assert out.read_text() == OLD
    assert "--top-n must be >= 1" in capsys.readouterr().err


def test_rerank_failed_run_keeps_existing_output(source: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.trec"
    out.write_text(OLD)
    with fake_llm(failing_judge) as fake:
        status = main(["rerank", "-m", fake.model, "-i", str(source), "-o", str(out),
                       "--format", "trec", "--no-cache", "--max-retries", "0"])
    assert status == 3
    assert "backend down" in one_error_line(capsys)
    assert out.read_text() == OLD
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_rerank_output_onto_input_is_refused(source: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    before = source.read_text()
    assert main(["rerank", "-m", "fake/x", "-i", str(source), "-o", str(source)]) == 2
    assert "is the input file" in one_error_line(capsys)
    assert source.read_text() == before


def test_rerank_replaces_output_atomically(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(OLD)
    out.chmod(0o640)
    with fake_llm(reverse_judge) as fake:
        assert main(["rerank", "-m", fake.model, "-i", str(source), "-o", str(out),
                     "--no-cache"]) == 0
    assert [json.loads(line)["query_id"] for line in out.read_text().splitlines()] == ["q1", "q2"]
    assert out.stat().st_mode & 0o777 == 0o640


def test_compare_html_into_missing_directory_keeps_saved_run(
        source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run, saved = tmp_path / "a.trec", tmp_path / "b.trec"
    run.write_text("q1 Q0 a0 1 3 t\nq1 Q0 a1 2 2 t\nq2 Q0 b0 1 1 t\n")
    saved.write_text(OLD)
    with fake_llm(reverse_judge) as fake:
        status = main(["compare", str(run), "--b", f"listwise:{fake.model}", "-i", str(source),
                       "--b-save", str(saved), "--html", str(tmp_path / "no" / "r.html"),
                       "--no-cache"])
    assert status == 2 and fake.calls == 0
    assert "--html" in one_error_line(capsys)
    assert saved.read_text() == OLD


def test_compare_save_of_a_run_file_side_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "a.trec"
    run.write_text("q1 Q0 a0 1 3 t\n")
    assert main(["compare", str(run), str(run), "--a-save", str(tmp_path / "x.trec")]) == 2
    assert "--a-save needs --a" in one_error_line(capsys)


# --- TREC ids --------------------------------------------------------------------------------

@pytest.mark.parametrize(("doc_id", "problem"), [("doc 7", "contains whitespace"),
                                                 ("doc\n7", "contains whitespace"),
                                                 ("", "is empty"), ("a0", "appears twice")])
def test_trec_output_refuses_ids_a_run_cannot_hold(
        tmp_path: Path, doc_id: str, problem: str, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(rows({"query_id": "q3", "query": "third",
                            "candidates": [{"id": "a0", "text": "x"},
                                           {"id": doc_id, "text": "y"}]}))
    out = tmp_path / "out.trec"
    with fake_llm(reverse_judge) as fake:
        status = main(["rerank", "-m", fake.model, "-i", str(source), "-o", str(out),
                       "--format", "trec", "--no-cache"])
    assert status == 2 and fake.calls == 0 and not out.exists()
    line = one_error_line(capsys)
    assert f"query 'q3': document id {doc_id!r} {problem}" in line and "--format jsonl" in line


def test_trec_output_refuses_query_id_with_space_and_repeated_query(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.jsonl"
    extra = {"query": "x", "candidates": [{"id": "a", "text": "y"}]}
    source.write_text(rows({"query_id": "q 3", **extra}))
    assert main(["rerank", "-m", "fake/x", "-i", str(source), "--format", "trec"]) == 2
    assert "query id 'q 3' contains whitespace" in one_error_line(capsys)
    source.write_text(rows({"query_id": "q1", **extra}))
    assert main(["rerank", "-m", "fake/x", "-i", str(source), "--format", "trec"]) == 2
    assert "'q1' appears on two input rows" in one_error_line(capsys)


def test_write_run_checks_ids() -> None:
    with pytest.raises(InvalidInput, match="query 'q1': document id 'a b' contains whitespace"):
        write_run("unused.trec", {"q1": {"a b": 1.0}})


# --- failed calls under on_error=keep_order --------------------------------------------------

@pytest.mark.parametrize("fmt", ["jsonl", "trec"])
def test_keep_order_failures_are_counted_reported_and_strict(
        source: Path, tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"out.{fmt}"
    args = ["rerank", "-i", str(source), "-o", str(out), "--format", fmt, "--no-cache",
            "--on-error", "keep_order", "--max-retries", "0"]
    with fake_llm(failing_judge) as fake:
        assert main([*args, "-m", fake.model]) == 0
        err = capsys.readouterr().err
        assert "2 failed calls, 0 parse failures, 0 prompts shrunk" in err
        if fmt == "trec":
            assert "warning: query q1: 1 failed call (order kept)" in err
            assert "query q2" in err and "backend down" in err
            assert len(out.read_text().splitlines()) == 5
        else:
            assert all("backend down" in json.loads(line)["errors"][0]
                       for line in out.read_text().splitlines())
        assert main([*args, "-m", fake.model, "--strict"]) == 1
    assert "--strict" in capsys.readouterr().err
    assert out.exists()  # the run completed: its output is written


def test_strict_passes_a_clean_run(source: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with fake_llm(reverse_judge) as fake:
        assert main(["rerank", "-m", fake.model, "-i", str(source), "--no-cache",
                     "--strict"]) == 0
    assert "0 failed calls, 0 parse failures" in capsys.readouterr().err


# --- conflicting flags -----------------------------------------------------------------------

@pytest.mark.parametrize(("extra", "message"), [
    (["-O", "model=fake/other"], "set model with -m/--model"),
    (["-O", "api_base=http://x"], "set api_base with --api-base"),
    (["-O", "api-key=k"], "set api_key with --api-key"),
    (["-O", "cache=false"], "--cache, --cache-dir or --no-cache"),
    (["-O", "window_size=3", "-O", "window_size=4"], "window_size is given twice"),
    (["--no-cache", "--cache-dir", "c"], "contradict"),
])
def test_conflicting_flags_are_refused(source: Path, extra: list[str], message: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    with fake_llm(reverse_judge) as fake:
        assert main(["rerank", "-m", fake.model, "-i", str(source), *extra]) == 2
    assert fake.calls == 0
    assert message in one_error_line(capsys)


def test_connection_flags_refused_for_cross_encoder(
        source: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rerank", "-s", "cross-encoder", "-m", "./m", "-i", str(source),
                 "--api-base", "http://x"]) == 2
    assert "--api-base does not apply to strategy 'cross-encoder'" in one_error_line(capsys)


def test_compare_side_api_key_and_option_conflicts(source: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from llm_rerank.cli import build_parser

    args = build_parser().parse_args(["compare", "--a", "listwise:fake/x", "--a-api-key",
                                      "sk-a", "--b-api-key", "sk-b", "--no-cache", "r.trec"])
    assert build_reranker("listwise:fake/x", "a", args).llm.api_key == "sk-a"  # type: ignore[attr-defined]
    run = tmp_path / "a.trec"
    run.write_text("q1 Q0 a 1 1 t\n")
    assert main(["compare", str(run), "--b", "listwise:fake/x", "-i", str(source),
                 "--b-option", "model=fake/y"]) == 2
    assert "--b-option model=fake/y: set model with --b STRATEGY:MODEL" in one_error_line(capsys)


# --- environment and unexpected failures -----------------------------------------------------

def test_judge_server_busy_port(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, qrels = tmp_path / "in.jsonl", tmp_path / "qrels.txt"
    data.write_text(rows())
    qrels.write_text("q1 0 a0 1\n")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["judge-server", "--data", str(data), "--qrels", str(qrels),
                     "--port", str(port)]) == 2
    line = one_error_line(capsys)
    assert f"cannot listen on 127.0.0.1:{port}" in line and "--port" in line


def test_prompts_render_of_a_raising_user_template(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    template = tmp_path / "mine.j2"
    template.write_text("{% block user %}{{ query }} {{ 1 // 0 }}{% endblock %}")
    assert main(["prompts", "render", str(template)]) == 2
    line = one_error_line(capsys)
    assert "mine.j2" in line and "ZeroDivisionError" in line


def test_unexpected_errors_are_one_line_unless_debug(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def boom(args: object) -> int:
        raise RuntimeError("kaput")

    monkeypatch.setattr("llm_rerank.cli.prompts.run_list", boom)
    assert main(["prompts", "list"]) == 4
    line = one_error_line(capsys)
    assert "RuntimeError: kaput" in line and "LLM_RERANK_DEBUG=1" in line
    monkeypatch.setenv("LLM_RERANK_DEBUG", "1")
    with pytest.raises(RuntimeError, match="kaput"):
        main(["prompts", "list"])


def test_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr("llm_rerank.cli.prompts.run_list", interrupted)
    assert main(["prompts", "list"]) == 130
    assert "interrupted" in one_error_line(capsys)


def test_help_documents_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "exit status:" in out and "--strict" in out and "130" in out


def test_subprocess_has_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "in.jsonl"
    bad.write_bytes(b"\xff\n")
    code = "import sys; from llm_rerank.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-c", code, "rerank", "-m", "fake/x", "-i", str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith(f"llm-rerank: error: {bad}:1: not valid UTF-8")
    assert "Traceback" not in done.stderr


def test_compare_strict_counts_failed_calls_of_a_reranker_side(
        source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "a.trec"
    run.write_text("q1 Q0 a0 1 3 t\nq2 Q0 b0 1 1 t\n")
    with fake_llm(failing_judge) as fake:
        args = ["compare", str(run), "--b", f"listwise:{fake.model}", "-i", str(source),
                "--no-cache", "--b-option", "on_error=keep_order", "--b-option", "max_retries=0"]
        assert main(args) == 0
        assert "2 failed calls" in capsys.readouterr().err
        assert main([*args, "--strict"]) == 1


def test_prompts_shrunk_and_early_stops_are_counted() -> None:
    from llm_rerank.cli.outcome import Outcome
    from llm_rerank.models import Document, RankedResult, RankedResults

    def result(index: int) -> RankedResult:
        return RankedResult(rank=index + 1, index=index, score=1.0, relevance_score=0.5,
                            document=Document(text="t"))

    ranking = RankedResults(query="q", strategy="s", results=[result(0), result(1)],
                            prompts_shrunk=2, stopped="deadline")
    outcome = Outcome()
    outcome.add(ranking)
    assert "2 prompts shrunk, 1 stopped early" in outcome.summary("reranked")
    assert not outcome.failed
