"""``llm-rerank --help`` imports nothing but argparse and the command table: no pydantic,
numpy, LiteLLM or Jinja2 (together they made help take 0.43 s)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import llm_rerank

HEAVY = ("pydantic", "numpy", "litellm", "jinja2", "tenacity", "aiohttp", "torch")


def imported_modules(*args: str) -> tuple[set[str], str]:
    """Top-level modules a ``python -X importtime -m llm_rerank.cli ARGS`` run imported,
    and its standard output."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "llm_rerank.cli", *args],
                          capture_output=True, text=True, timeout=120, check=True)
    names = {line.rpartition("|")[2].strip().partition(".")[0]
             for line in done.stderr.splitlines() if line.startswith("import time:")}
    return names, done.stdout


@pytest.mark.parametrize("args", [("--help",), ("rerank", "--help")])
def test_help_imports_no_heavy_module(args: tuple[str, ...]) -> None:
    names, output = imported_modules(*args)
    assert "usage: llm-rerank" in output
    assert not names & set(HEAVY), sorted(names & set(HEAVY))


def test_every_public_name_still_imports_from_the_package() -> None:
    for name in llm_rerank.__all__:
        assert getattr(llm_rerank, name).__name__ == name
    assert set(llm_rerank.__all__) <= set(dir(llm_rerank))
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = llm_rerank.no_such_name  # type: ignore[attr-defined]
