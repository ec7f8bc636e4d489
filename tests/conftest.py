"""Shared test set-up: no test touches the user's cache directory or the network; slow tests
report their figures through the ``fragment`` fixture."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

import pytest

pytest_plugins = ["llm_rerank.testing.pytest_fixtures"]


@pytest.fixture(autouse=True)
def _isolated_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_RERANK_CACHE_DIR", str(tmp_path / "default-cache"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--write-results", action="store_true",
                     help="slow tests also write their figures to benchmarks/results/*.md")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The evaluation data folder (``$LLM_RERANK_DATA``, holding ``trec-dl19/``); the test
    is skipped without it."""
    value = os.environ.get("LLM_RERANK_DATA")
    if not value or not (Path(value) / "trec-dl19").is_dir():
        pytest.skip("set LLM_RERANK_DATA to the evaluation data folder to run this test")
    return Path(value)


class Fragment:
    """The figures of one slow test module, as a section of BENCHMARKS.md: each test adds
    its part (``add``); with ``--write-results`` they are written, in order, to
    ``benchmarks/results/<name>.md`` when the module's tests are done."""

    def __init__(self, name: str, title: str, module: str) -> None:
        self.name, self.title, self.module, self.parts = name, title, module, []

    def add(self, text: str) -> None:
        self.parts.append(text.strip())

    @staticmethod
    def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
        """A GitHub-style table; floats get 4 decimals."""
        def cell(value: object) -> str:
            return f"{value:.4f}" if isinstance(value, float) else str(value)

        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(map(cell, row)) + " |" for row in rows])

    def write(self) -> Path:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        machine = (f"{platform.machine()}, {os.cpu_count()} cores, "
                   f"Python {platform.python_version()}")
        command = f"python -m pytest -m slow --write-results {self.module}"
        path = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / (
            self.name + ".md")
        path.write_text(f"## {self.title}\n\nProduced by `{command}` on {stamp} ({machine}); "
                        "the test asserts the figures it reports.\n\n"
                        + "\n\n".join(self.parts) + "\n", encoding="utf-8")
        return path


@pytest.fixture(scope="module")
def fragment(request: pytest.FixtureRequest) -> Iterator[Fragment]:
    """The module's ``Fragment``, named by the module's ``FRAGMENT = (name, title)``."""
    name, title = request.module.FRAGMENT
    found = Fragment(name, title, f"tests/{Path(request.module.__file__).name}")
    yield found
    if request.config.getoption("--write-results") and found.parts:
        found.write()
