"""Every example runs, offline, against the simulated judge, and reranks what it claims to.

The examples run in-process (``runpy``, their own ``__main__``) with ``--model openai/judge
--api-base <judge>``; the judge's ``unmatched_passages`` proves that the passages the LLM saw
were the corpus's, so an example that reranked nothing would fail here.
"""

from __future__ import annotations

import importlib.util
import re
import runpy
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_rerank.testing import JudgeServer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
pytestmark = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="needs the source tree")


@pytest.fixture(autouse=True)
def _examples_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    for name in ("LLM_RERANK_MODEL", "LLM_RERANK_API_BASE", "LLM_RERANK_API_KEY",
                 "LLM_RERANK_SERVE_URL", "LLM_RERANK_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def judge() -> Iterator[JudgeServer]:
    from sample_corpus import QRELS, judge_requests

    with JudgeServer(judge_requests(), QRELS) as server:
        yield server


def run_example(name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                *args: str) -> str:
    monkeypatch.setattr(sys, "argv", [name, *args])
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    return capsys.readouterr().out


def on_judge(judge: JudgeServer, strategy: str | None = None) -> list[str]:
    args = ["--model", "openai/judge", "--api-base", judge.url, "--api-key", "x"]
    return args + (["--strategy", strategy] if strategy else [])


def top_ids(output: str) -> dict[str, list[str]]:
    """The ids listed under each question, in order (lines '  1. <id> ...' or
    '  rerank 1. <id> ...'; BM25's lines are left out)."""
    from sample_corpus import QUERIES

    found: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if line in QUERIES.values():
            current = found.setdefault(line, [])
        elif current is not None and (match := re.match(r"\s+(?:rerank )?(\d+)\. (\S+)", line)):
            current.append(match.group(2))
    return found


def assert_best_first(output: str) -> None:
    from sample_corpus import QRELS, QUERIES

    ranked = top_ids(output)
    assert set(ranked) == set(QUERIES.values())
    for query_id, query in QUERIES.items():
        assert ranked[query][0] == max(QRELS[query_id], key=QRELS[query_id].__getitem__), query


def assert_all_matched(judge: JudgeServer) -> None:
    stats = judge.stats()
    assert stats.requests > 0 and stats.unmatched_passages == 0


@pytest.mark.parametrize("strategy", ["listwise", "pointwise"])
def test_bm25_then_rerank(judge: JudgeServer, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str], strategy: str) -> None:
    pytest.importorskip("bm25s", reason="the examples extra (bm25s)")
    output = run_example("bm25_then_rerank.py", monkeypatch, capsys, *on_judge(judge, strategy))
    gains = [tuple(map(float, pair)) for pair in
             re.findall(r"nDCG@3: bm25 ([\d.]+) -> reranked ([\d.]+)", output)]
    assert len(gains) == 4 and all(after >= before for before, after in gains)
    assert sum(after for _, after in gains) > sum(before for before, _ in gains) + 1.0
    assert_best_first(output)
    assert_all_matched(judge)


def test_an_example_without_a_model_runs_its_own_judge(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("bm25s", reason="the examples extra (bm25s)")
    output = run_example("bm25_then_rerank.py", monkeypatch, capsys,
                         "--query", "why does bread dough rise")
    assert top_ids(output)["why does bread dough rise"][0] == "bread1"
    assert "bm25   1. bread5" in output  # BM25 had the pasta dough first


def test_langchain_rerank(judge: JudgeServer, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("langchain_classic", reason="the examples extra (langchain-classic)")
    output = run_example("langchain_rerank.py", monkeypatch, capsys, *on_judge(judge))
    assert_best_first(output)
    assert output.count("setwise)") == 12  # 4 questions x top 3, the strategy in metadata
    assert_all_matched(judge)


@pytest.mark.parametrize("mode", ["none", "embed"])
def test_llamaindex_rerank(judge: JudgeServer, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str], mode: str) -> None:
    pytest.importorskip("llama_index.core", reason="the examples extra (llama-index-core)")
    output = run_example("llamaindex_rerank.py", monkeypatch, capsys, *on_judge(judge),
                         "--metadata-mode", mode, "--cutoff", "0.0")
    assert_best_first(output)
    assert len(re.findall(r"relevance [01]\.\d\d, retrieval", output)) == 12
    assert_all_matched(judge)


@pytest.fixture
def serve(judge: JudgeServer, tmp_path: Path) -> Iterator[str]:
    """``llm-rerank serve`` (listwise, on the judge) in a subprocess; yields its URL."""
    if importlib.util.find_spec("llm_rerank.server") is None:
        pytest.skip("llm-rerank serve (llm_rerank.server) is not in this build")
    pytest.importorskip("uvicorn", reason="the server extra (uvicorn)")
    from cohere_rerank_tool import free_port, wait_until_healthy

    port = free_port()
    command = [sys.executable, "-c", "import sys; from llm_rerank.cli import main; "
               "sys.exit(main())", "serve", "-s", "listwise", "-m", "openai/judge",
               "--api-base", judge.url, "--api-key", "x", "--cache-dir", str(tmp_path),
               "--port", str(port), "--auth-token", "secret", "--no-access-log"]
    server = subprocess.Popen(command)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", server)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(30)


def test_cohere_rerank_tool_through_serve(judge: JudgeServer, serve: str,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("cohere", reason="the examples extra (cohere)")
    output = run_example("cohere_rerank_tool.py", monkeypatch, capsys,
                         "--url", serve, "--token", "secret", "--model", "listwise")
    assert_best_first(output)
    assert len(re.findall(r"relevance [01]\.\d\d\)", output)) == 12
    assert output.count("answer: According to") == 4
    assert_all_matched(judge)
