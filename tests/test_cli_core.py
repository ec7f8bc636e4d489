from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from llm_rerank.cli import main
from llm_rerank.testing import fake_llm


def write_input(path: Path) -> Path:
    rows = [
        {"query": "first query", "hits": [
            {"content": f"doc-{i} text", "docid": f"a{i}", "qid": "q1"} for i in range(5)]},
        {"query_id": "q2", "query": "second query",
         "candidates": [{"id": f"b{i}", "text": f"doc-{i} other"} for i in range(3)]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def reverse_judge(messages: list[dict[str, str]]) -> str:
    count = messages[-1]["content"].count("\n[")
    return " > ".join(f"[{i}]" for i in range(count, 0, -1))


def test_no_help_imports_litellm_torch_or_tqdm() -> None:
    code = (
        "import sys\nfrom llm_rerank.cli import COMMANDS, main\n"
        "for args in [['--help']] + [[c.replace('_', '-'), '--help'] for c in COMMANDS]:\n"
        "    try: main(args)\n    except SystemExit: pass\n"
        "heavy = {'litellm', 'torch', 'sentence_transformers', 'llama_cpp', 'tqdm'}"
        " & set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


@pytest.mark.parametrize("fmt", ["jsonl", "trec"])
def test_rerank_both_input_shapes(tmp_path: Path, fmt: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    source = write_input(tmp_path / "in.jsonl")
    out = tmp_path / f"out.{fmt}"
    with fake_llm(reverse_judge) as fake:
        status = main(["rerank", "-s", "listwise", "-m", fake.model, "-i", str(source),
                       "-o", str(out), "--format", fmt, "--cache-dir", str(tmp_path / "c")])
    assert status == 0
    if fmt == "trec":
        lines = [line.split() for line in out.read_text().splitlines()]
        assert [(q, d, r) for q, _, d, r, _, _ in lines[:2]] == [
            ("q1", "a4", "1"), ("q1", "a3", "2")]
        assert len(lines) == 8 and lines[-1][2] == "b0"
    else:
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert [r["query_id"] for r in rows] == ["q1", "q2"]
        assert [c["id"] for c in rows[1]["candidates"]] == ["b2", "b1", "b0"]
    assert "2 LLM calls" in capsys.readouterr().err


def test_rerank_rerun_is_served_from_cache(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    source = write_input(tmp_path / "in.jsonl")
    args = ["rerank", "-i", str(source), "-o", str(tmp_path / "o"), "--cache-dir",
            str(tmp_path / "c"), "--top-n", "2"]
    with fake_llm(reverse_judge) as fake:
        main([*args, "-m", fake.model])
        main([*args, "-m", fake.model])
    assert fake.calls == 2
    assert "0 LLM calls, 2 cache hits" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [("not json\n", "not valid JSON"), ('{"query": "q"}\n', "needs 'hits'"),
     ('{"query": "", "candidates": []}\n', "empty 'query'"),
     ('{"query_id": "1", "query": "q", "candidates": [{"id": "x"}]}\n', "no string 'text'"),
     ("\n", "no rows")],
)
def test_rerank_malformed_input(tmp_path: Path, content: str, message: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content)
    assert main(["rerank", "-m", "fake/x", "-i", str(bad), "--no-cache"]) == 2
    assert message in capsys.readouterr().err


def test_rerank_unknown_option_and_missing_file(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    source = write_input(tmp_path / "in.jsonl")
    assert main(["rerank", "-m", "fake/x", "-i", str(source), "-O", "windowsize=3"]) == 2
    assert "windowsize" in capsys.readouterr().err
    assert main(["rerank", "-m", "fake/x", "-i", str(tmp_path / "nope.jsonl")]) == 2
    assert "not found" in capsys.readouterr().err


def test_prompts_commands(capsys: pytest.CaptureFixture[str]) -> None:
    main(["prompts", "list"])
    assert "listwise/rankgpt" in capsys.readouterr().out
    main(["prompts", "show", "pairwise/prp"])
    assert "{{ passage_a }}" in capsys.readouterr().out
    main(["prompts", "render", "listwise/rankgpt", "--json", "--query", "my question"])
    messages = json.loads(capsys.readouterr().out)
    assert messages[0]["role"] == "system" and "my question" in messages[1]["content"]
    assert main(["prompts", "render", "listwise/rankgpt", "--vars", "[1]"]) == 2


def test_limit_flags_reach_the_reranker(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 8: the CLI had no --timeout and no budget flags."""
    source = write_input(tmp_path / "in.jsonl")
    with fake_llm(lambda messages: "likely") as fake:
        status = main(["rerank", "-s", "pointwise", "-m", fake.model, "-i", str(source),
                       "-o", str(tmp_path / "out.jsonl"), "--no-cache", "--timeout", "5",
                       "--max-calls", "2", "--on-budget", "keep_order", "--deadline-s", "30",
                       "--instructions", "prefer recent passages"])
    assert status == 0 and fake.calls == 4  # 2 per query
    assert "Instructions for judging relevance: prefer recent passages" in (
        fake.requests[0]["messages"][-1]["content"])
    assert "2 stopped early" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--timeout", "0"], "timeout"), (["--max-calls", "0"], "max_calls"),
    (["--on-budget", "skip"], "on_budget"), (["-O", "timeout=3"], "--timeout"),
])
def test_bad_limit_flags_are_refused(tmp_path: Path, flags: list[str], message: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    source = write_input(tmp_path / "in.jsonl")
    status = main(["rerank", "-m", "openai/x", "-i", str(source), "--no-cache", *flags])
    assert status == 2 and message in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_shows_in_a_terminal_and_is_quiet_otherwise() -> None:
    from llm_rerank.cli.progress import progress_bar

    terminal, log = _Terminal(), io.StringIO()
    for stream in (terminal, log):
        bar = progress_bar(3, "rerank", stream=stream)
        bar.update(3)
        bar.write("a warning", file=stream)
        bar.close()
    assert "rerank" in terminal.getvalue() and "3/3" in terminal.getvalue()
    assert "a warning" in terminal.getvalue()
    assert log.getvalue() == "a warning\n"
