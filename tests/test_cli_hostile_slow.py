"""Hostile inputs, files and environments against the ``llm-rerank`` command line.

Each case runs the CLI as a subprocess in a temporary directory and records its exit status,
the first line of stderr, whether a Python traceback appeared, and whether an output file
that existed before the run still holds its old content (a failed run must not damage it).
LLM cases use the simulated judge on 127.0.0.1: one healthy, one that answers every request
with 429/503. The test fails when any case shows a traceback, a damaged file or an exit
status other than the one expected.

Slow (``python -m pytest -m slow tests/test_cli_hostile_slow.py``, under a minute);
``--write-results`` also writes the table to ``benchmarks/results/cli_hostile.md``.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from llm_rerank.eval import read_qrels, read_requests
from llm_rerank.testing import JudgeServer

if TYPE_CHECKING:
    from conftest import Fragment

pytestmark = pytest.mark.slow
FRAGMENT = ("cli_hostile", "CLI under hostile input")

ROOT = Path(__file__).resolve().parent.parent
ENTRY = "import sys; from llm_rerank.cli import main; sys.exit(main(sys.argv[1:]))"
OLD = "previous output, must survive\n"
ROWS = [
    {"query_id": "q1", "query": "flea life cycle",
     "candidates": [{"id": "a", "text": "the flea life cycle"}, {"id": "b", "text": "cats"},
                    {"id": "c", "text": "fleas lay eggs"}]},
    {"query_id": "q2", "query": "capital of france",
     "candidates": [{"id": "d", "text": "paris is the capital"}, {"id": "e", "text": "rain"}]},
]
QRELS = "q1 0 a 2\nq1 0 c 1\nq2 0 d 2\n"


@dataclass
class Case:
    """One hostile run: ``args`` after ``llm-rerank``; ``files`` written first (relative
    names); ``guard`` is an output file filled with OLD before the run and checked after."""

    name: str
    args: list[str]
    files: dict[str, bytes] = field(default_factory=dict)
    guard: str | None = None
    expect: int | None = None
    prepare: Callable[[Path], None] | None = None
    skip: str | None = None


def jsonl(rows: list[dict[str, object]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def with_candidate(doc_id: str) -> bytes:
    row = {"query_id": "q3", "query": "third", "candidates": [
        {"id": "x", "text": "one"}, {"id": doc_id, "text": "two"}]}
    return jsonl([*ROWS, row])


def cases(judge: str, broken: str) -> list[Case]:
    good = jsonl(ROWS)
    llm = ["-m", "openai/judge", "--api-base", judge, "--api-key", "k", "--no-cache"]
    bad_llm = ["-m", "openai/judge", "--api-base", broken, "--api-key", "k", "--no-cache",
               "--max-retries", "0"]
    rerank = ["rerank", *llm, "-i", "in.jsonl"]
    inp = {"in.jsonl": good}
    template = b"{% block user %}{{ query }} {{ 1 // 0 }}{% endblock %}"
    is_root = os.geteuid() == 0
    return [
        Case("invalid UTF-8 input", ["rerank", *llm, "-i", "bad.jsonl", "-o", "out.jsonl"],
             {"bad.jsonl": good + b'{"query": "caf\xe9"}\n'}, guard="out.jsonl", expect=2),
        Case("UTF-8 BOM input (accepted)", ["rerank", *llm, "-i", "bom.jsonl", "-o", "o.jsonl"],
             {"bom.jsonl": b"\xef\xbb\xbf" + good}, expect=0),
        Case("empty input file", ["rerank", *llm, "-i", "empty.jsonl"], {"empty.jsonl": b""},
             expect=2),
        Case("JSON array instead of JSONL", ["rerank", *llm, "-i", "a.json"],
             {"a.json": json.dumps(ROWS).encode()}, expect=2),
        Case("indented JSON document", ["rerank", *llm, "-i", "p.json"],
             {"p.json": json.dumps(ROWS[0], indent=2).encode()}, expect=2),
        Case("deeply nested JSON line", ["rerank", *llm, "-i", "deep.jsonl"],
             {"deep.jsonl": b'{"query": "q", "candidates": ' + b"[" * 200_000 + b"]" * 200_000
              + b"}\n"}, expect=2),
        Case("integer past Python's digit limit", ["rerank", *llm, "-i", "big.jsonl"],
             {"big.jsonl": b'{"query": "q", "query_id": ' + b"9" * 5000 + b"}\n"}, expect=2),
        Case("row without query", ["rerank", *llm, "-i", "m.jsonl"],
             {"m.jsonl": b'{"query_id": "q1", "candidates": [{"id": "a", "text": "t"}]}\n'},
             expect=2),
        Case("candidate without text", ["rerank", *llm, "-i", "m.jsonl"],
             {"m.jsonl": b'{"query_id": "q1", "query": "q", "candidates": [{"id": "a"}]}\n'},
             expect=2),
        Case("input file missing", ["rerank", *llm, "-i", "nope.jsonl"], expect=2),
        Case("input is a directory", ["rerank", *llm, "-i", "."], expect=2),
        Case("input unreadable (chmod 000)", ["rerank", *llm, "-i", "secret.jsonl"],
             {"secret.jsonl": good}, expect=2,
             prepare=lambda d: (d / "secret.jsonl").chmod(0),
             skip="running as root: permissions are not enforced" if is_root else None),
        Case("-o into a missing directory", [*rerank, "-o", "missing/out.jsonl"], inp,
             expect=2),
        Case("-o onto a directory", [*rerank, "-o", "outdir"], inp, expect=2,
             prepare=lambda d: (d / "outdir").mkdir()),
        Case("-o /dev/null (special file, written directly)", [*rerank, "-o", "/dev/null"],
             inp, expect=0),
        Case("-o into a read-only directory", [*rerank, "-o", "ro/out.jsonl"], inp, expect=2,
             prepare=lambda d: ((d / "ro").mkdir(), (d / "ro").chmod(0o555)),
             skip="running as root: permissions are not enforced" if is_root else None),
        Case("-o onto the input file", [*rerank, "-o", "in.jsonl"], inp, guard=None, expect=2),
        Case("bad flag after a good -o", [*rerank, "-o", "out.jsonl", "--concurrent-queries",
                                         "0"], inp, guard="out.jsonl", expect=2),
        Case("negative --top-n", [*rerank, "-o", "out.jsonl", "--top-n", "-3"], inp,
             guard="out.jsonl", expect=2),
        Case("unknown strategy", [*rerank, "-s", "magic", "-o", "out.jsonl"], inp,
             guard="out.jsonl", expect=2),
        Case("unknown -O option", [*rerank, "-O", "windowsize=5", "-o", "out.jsonl"], inp,
             guard="out.jsonl", expect=2),
        Case("-O model=... besides -m", [*rerank, "-O", "model=openai/other"], inp, expect=2),
        Case("-O api_key=... besides --api-key", [*rerank, "-O", "api_key=x"], inp, expect=2),
        Case("--no-cache with --cache-dir", [*rerank, "--cache-dir", "c"], inp, expect=2),
        Case("--api-base for cross-encoder", ["rerank", "-s", "cross-encoder", "-m", "./m",
                                              "-i", "in.jsonl", "--api-base", judge], inp,
             expect=2),
        Case("TREC: doc id with a space", [*rerank, "--format", "trec", "-o", "out.trec"],
             {"in.jsonl": with_candidate("doc 7")}, guard="out.trec", expect=2),
        Case("TREC: doc id with a newline", [*rerank, "--format", "trec", "-o", "out.trec"],
             {"in.jsonl": with_candidate("doc\n7")}, guard="out.trec", expect=2),
        Case("TREC: duplicate doc id", [*rerank, "--format", "trec", "-o", "out.trec"],
             {"in.jsonl": with_candidate("x")}, guard="out.trec", expect=2),
        Case("TREC: --tag with a space", [*rerank, "--format", "trec", "--tag", "my run"], inp,
             expect=2),
        Case("LLM fails (on_error=raise)", ["rerank", *bad_llm, "-i", "in.jsonl", "-o",
                                            "out.jsonl"], inp, guard="out.jsonl", expect=3),
        Case("LLM fails, --on-error keep_order", ["rerank", *bad_llm, "--on-error",
                                                  "keep_order", "-i", "in.jsonl",
                                                  "--format", "trec", "-o", "o.trec"],
             inp, expect=0),
        Case("... same with --strict", ["rerank", *bad_llm, "--on-error", "keep_order", "-i",
                                        "in.jsonl", "-o", "o.jsonl", "--strict"], inp, expect=1),
        Case("eval: invalid UTF-8 run", ["eval", "--run", "run.trec", "--qrels", "qrels.txt"],
             {"run.trec": b"q1 Q0 a 1 2 t\nq1 Q0 \xff 2 1 t\n", "qrels.txt": QRELS.encode()},
             expect=2),
        Case("eval: run with 5 columns", ["eval", "--run", "run.trec", "--qrels", "qrels.txt"],
             {"run.trec": b"q1 Q0 a 1 2\n", "qrels.txt": QRELS.encode()}, expect=2),
        Case("eval: qrels missing", ["eval", "--run", "run.trec", "--qrels", "nope.txt"],
             {"run.trec": b"q1 Q0 a 1 2 t\n"}, expect=2),
        Case("eval: unknown metric", ["eval", "--run", "run.trec", "--qrels", "qrels.txt",
                                      "--metrics", "bleu"],
             {"run.trec": b"q1 Q0 a 1 2 t\n", "qrels.txt": QRELS.encode()}, expect=2),
        Case("compare --html into a missing directory",
             ["compare", "run.trec", "--b", "listwise:openai/judge", "--b-api-base", judge,
              "--b-api-key", "k", "-i", "in.jsonl", "--b-save", "b.trec", "--html",
              "no/r.html", "--no-cache"],
             {**inp, "run.trec": b"q1 Q0 a 1 2 t\nq2 Q0 d 1 1 t\n"}, guard="b.trec", expect=2),
        Case("compare --b-save onto a directory",
             ["compare", "run.trec", "--b", "listwise:openai/judge", "-i", "in.jsonl",
              "--b-save", "."], {**inp, "run.trec": b"q1 Q0 a 1 2 t\n"}, expect=2),
        Case("compare --b-option model=...",
             ["compare", "run.trec", "--b", "listwise:openai/judge", "-i", "in.jsonl",
              "--b-option", "model=x"], {**inp, "run.trec": b"q1 Q0 a 1 2 t\n"}, expect=2),
        Case("judge-server on a busy port",
             ["judge-server", "--data", "in.jsonl", "--qrels", "qrels.txt", "--port",
              judge.rsplit(":", 1)[1].split("/")[0]],
             {**inp, "qrels.txt": QRELS.encode()}, expect=2),
        Case("judge-server --port 70000", ["judge-server", "--data", "in.jsonl", "--qrels",
                                           "qrels.txt", "--port", "70000"],
             {**inp, "qrels.txt": QRELS.encode()}, expect=2),
        Case("prompts render: template raises", ["prompts", "render", "mine.j2"],
             {"mine.j2": template}, expect=2),
        Case("prompts render: template not UTF-8", ["prompts", "render", "latin.j2"],
             {"latin.j2": b"{% block user %}caf\xe9 {{ query }}{% endblock %}"}, expect=2),
        Case("prompts show: unknown name", ["prompts", "show", "listwise/nope"], expect=2),
        Case("prompts render --vars not an object", ["prompts", "render", "listwise/rankgpt",
                                                     "--vars", "[1]"], expect=2),
    ]


def first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), "")


def run_case(case: Case, folder: Path, env: dict[str, str]) -> list[object]:
    command = "llm-rerank " + shlex.join(case.args)
    if case.skip:
        return [case.name, f"`{command}`", "skipped", case.skip, "n/a", "n/a"]
    for name, content in case.files.items():
        (folder / name).write_bytes(content)
    if case.guard:
        (folder / case.guard).write_text(OLD)
    if case.prepare:
        case.prepare(folder)
    done = subprocess.run([sys.executable, "-c", ENTRY, *case.args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=300)
    traceback = "Traceback" in done.stderr or "Traceback" in done.stdout
    intact = "n/a"
    if case.guard:
        intact = "yes" if (folder / case.guard).read_text() == OLD else "NO"
    status = str(done.returncode)
    if case.expect is not None and done.returncode != case.expect:
        status += f" (expected {case.expect})"
    line = first_line(done.stderr).replace("|", "\\|")
    return [case.name, f"`{command}`", status, f"`{line}`" if line else "",
            "YES" if traceback else "no", intact]


def interrupt_case(folder: Path, env: dict[str, str]) -> list[object]:
    """Ctrl-C (SIGINT) on a running judge-server."""
    args = ["judge-server", "--data", "in.jsonl", "--qrels", "qrels.txt", "--port", "0"]
    (folder / "in.jsonl").write_bytes(jsonl(ROWS))
    (folder / "qrels.txt").write_text(QRELS)
    process = subprocess.Popen([sys.executable, "-c", ENTRY, *args], cwd=folder, env=env,
                               stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    started = process.stderr.readline()
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=60)
    stderr = started + rest
    line = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", first_line(stderr))
    return ["Ctrl-C on judge-server", f"`llm-rerank {shlex.join(args)}` + SIGINT",
            str(process.returncode), f"`{line}`",
            "YES" if "Traceback" in stderr else "no", "n/a"]


def test_hostile_cli_runs_fail_cleanly(fragment: Fragment) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    requests = read_requests(io.StringIO(jsonl(ROWS).decode()))
    qrels = read_qrels(io.StringIO(QRELS))
    rows: list[list[object]] = []
    started = time.perf_counter()
    with JudgeServer(requests, qrels) as judge, \
            JudgeServer(requests, qrels, error_rate=1.0) as broken:
        names = {judge.url: "JUDGE", broken.url: "BROKEN", str(judge.port): "PORT"}
        for case in cases(judge.url, broken.url):
            with tempfile.TemporaryDirectory() as folder:
                env["LLM_RERANK_CACHE_DIR"] = str(Path(folder) / "cache")
                row = run_case(case, Path(folder), env)
            for value, name in names.items():
                row = [str(cell).replace(value, name) for cell in row]
            rows.append(row)
    with tempfile.TemporaryDirectory() as folder:
        rows.append(interrupt_case(Path(folder), env))
    elapsed = time.perf_counter() - started
    tracebacks = [row[0] for row in rows if row[4] == "YES"]
    damaged = [row[0] for row in rows if row[5] == "NO"]
    unexpected = [f"{row[0]}: {row[2]}" for row in rows if "expected" in str(row[2])]
    fragment.add(
        f"{len(rows)} hostile runs of the CLI, each a subprocess in a fresh temporary directory "
        f"({elapsed:.0f} s in all). LLM cases talk to the simulated judge on 127.0.0.1 "
        "(`JUDGE`: healthy; `BROKEN`: answers every request 429/503). \"Existing output "
        "intact\" checks a file that held other content before the run (n/a: no such file).\n\n"
        "Exit statuses: 0 ok, 1 `--strict` saw failures, 2 bad flag/input/output path, "
        "3 LLM failure, 4 internal error, 130 interrupted.\n\n"
        + fragment.table(["case", "command", "exit status", "first line of stderr",
                          "traceback?", "existing output intact?"], rows)
        + f"\n\nTracebacks: {len(tracebacks)}. Damaged outputs: {len(damaged)}. "
        f"Unexpected exit statuses: {len(unexpected)}.\n"
    )
    assert (tracebacks, damaged, unexpected) == ([], [], [])
    assert rows[-1][2] == "0"  # Ctrl-C stops judge-server cleanly
