"""Shared test set-up: no test touches the user's cache directory or the network."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["llm_rerank.testing.pytest_fixtures"]


@pytest.fixture(autouse=True)
def _isolated_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_RERANK_CACHE_DIR", str(tmp_path / "default-cache"))
