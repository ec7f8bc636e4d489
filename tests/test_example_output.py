"""An example's own output is not mixed with the log of a server it starts."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_cohere_rerank_tool_prints_no_server_log() -> None:
    for module, extra in (("uvicorn", "server"), ("cohere", "examples")):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"the {extra} extra ({module})")
    done = subprocess.run([sys.executable, str(EXAMPLES / "cohere_rerank_tool.py"),
                           "--query", "how do vaccines work", "--top-n", "2"],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert "answer:" in done.stdout
    both = done.stdout + done.stderr
    assert "INFO:" not in both and "llm-rerank serve:" not in both
