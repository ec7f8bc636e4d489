"""The persistent response cache: a diskcache store keyed by what changes an answer.

>>> key = cache_key("openai/gpt-4o-mini", [{"role": "user", "content": "hi"}], {"temperature": 0})
>>> len(key)
64
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

# Call options that never change what the model answers; they stay out of the cache key.
NON_ANSWER_PARAMS = frozenset(
    {
        "api_key", "timeout", "max_retries", "num_retries", "headers", "extra_headers",
        "metadata", "user", "stream", "drop_params", "request_timeout",
    }
)


def default_cache_dir() -> Path:
    """``$LLM_RERANK_CACHE_DIR``, else the platform's user cache dir + ``llm_rerank``."""
    if override := os.environ.get("LLM_RERANK_CACHE_DIR"):
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "llm_rerank"


def cache_key(model: str, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
    """sha256 over the model, the rendered messages and the answer-changing params."""
    relevant = {k: v for k, v in params.items() if k not in NON_ANSWER_PARAMS and v is not None}
    payload = json.dumps([model, messages, relevant], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


class ResponseCache:
    """A process-safe on-disk cache of LLM answers (a thin layer over ``diskcache.Cache``)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        import diskcache

        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self._store = diskcache.Cache(str(self.directory))

    def get(self, key: str) -> dict[str, Any] | None:
        value = self._store.get(key)
        return value if isinstance(value, dict) else None

    def set(self, key: str, value: dict[str, Any]) -> None:
        self._store.set(key, value)

    def clear(self) -> None:
        self._store.clear()

    def __len__(self) -> int:
        return len(self._store)
