"""Helpers shared by the benchmark scripts: data location, timing, and result fragments.

Each script writes ``benchmarks/results/<name>.md``; ``python benchmarks/report.py`` joins
the fragments into ``BENCHMARKS.md``.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def data_dir(argument: str | None = None) -> Path:
    """The evaluation data folder (holding ``trec-dl19/``): the argument, else
    ``$LLM_RERANK_DATA``."""
    for candidate in (argument, os.environ.get("LLM_RERANK_DATA")):
        if candidate and (Path(candidate) / "trec-dl19").is_dir():
            return Path(candidate)
    sys.exit("benchmark data not found: pass --data or set LLM_RERANK_DATA")


def command_line() -> str:
    """How this script was run, for the 'produced by' line of each figure."""
    script = Path(sys.argv[0]).resolve().relative_to(Path(__file__).resolve().parent.parent)
    return shlex.join(["python", str(script), *sys.argv[1:]])


def write_fragment(name: str, title: str, body: str) -> Path:
    """Write one section of BENCHMARKS.md, stamped with the command and the machine."""
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    text = (f"## {title}\n\nProduced by `{command_line()}` on {stamp} ({machine}).\n\n"
            f"{body.strip()}\n")
    path = RESULTS / f"{name}.md"
    path.write_text(text, encoding="utf-8")
    print(text)
    return path


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    """A GitHub-style table; floats get 4 significant decimals."""
    def cell(value: object) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
