"""The persistent response cache: a diskcache store keyed by what changes an answer.

>>> key = cache_key("openai/gpt-4o-mini", [{"role": "user", "content": "hi"}], {"temperature": 0})
>>> len(key)
64
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from .errors import InvalidInput, RerankError

T = TypeVar("T")

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


def canonical(value: Any, name: str = "value") -> Any:
    """A JSON-ready form of a call parameter that is equal for equal meanings: every number
    becomes a float (``0`` and ``0.0`` are one key), mappings get string keys, pydantic
    models and model classes become their JSON data or schema; anything else is refused.

    >>> canonical({"temperature": 0, "stop": ("a",)})
    {'temperature': 0.0, 'stop': ['a']}
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        number = float(value)
        return number if math.isfinite(number) else repr(number)
    if isinstance(value, Mapping):
        return {str(k): canonical(v, f"{name}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v, name) for v in value]
    if isinstance(value, type) and callable(schema := getattr(value, "model_json_schema", None)):
        return {"json_schema": canonical(schema(), name)}
    if hasattr(value, "model_dump"):
        return canonical(value.model_dump(mode="json"), name)
    raise InvalidInput(
        f"call parameter {name!r} of type {type(value).__name__} cannot be part of a cache key; "
        "pass JSON data (str, number, bool, list, dict, a pydantic model) or turn the cache off"
    )


def cache_key(model: str, messages: list[dict[str, str]], params: dict[str, Any],
              sample: int | None = None) -> str:
    """sha256 over the model, the rendered messages, the answer-changing params and, for
    sampled answers, the sample's index. Any Unicode, even a lone surrogate, is keyable."""
    relevant = {k: v for k, v in params.items() if k not in NON_ANSWER_PARAMS and v is not None}
    parts: list[Any] = [model, messages, canonical(relevant, "params")]
    if sample is not None:
        parts.append({"sample": sample})
    payload = json.dumps(parts, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(payload.encode("ascii")).hexdigest()


class ResponseCache:
    """A process-safe on-disk cache of LLM answers (a thin layer over ``diskcache.Cache``).

    A damaged cache raises ``RerankError`` naming its directory and the fix. A forked
    process (``workers=N``) opens its own connection to the same directory.
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self._open()

    def _open(self) -> None:
        import diskcache

        self._pid = os.getpid()
        self._opened = self._guard(lambda: diskcache.Cache(str(self.directory)))

    @property
    def _store(self) -> Any:
        """The diskcache store, reopened in a forked child (SQLite connections must not be
        shared across a fork)."""
        if self._pid != os.getpid():
            self._open()
        return self._opened

    def _guard(self, operation: Callable[[], T]) -> T:
        try:
            return operation()
        except (sqlite3.DatabaseError, OSError) as exc:
            raise RerankError(
                f"the response cache at {self.directory} cannot be used ({type(exc).__name__}: "
                f"{exc}); delete that directory to rebuild it, point LLM_RERANK_CACHE_DIR or "
                "cache=... elsewhere, or run without a cache (cache=False, --no-cache)"
            ) from exc

    def get(self, key: str) -> dict[str, Any] | None:
        value = self._guard(lambda: self._store.get(key))
        return value if isinstance(value, dict) else None

    def set(self, key: str, value: dict[str, Any]) -> None:
        self._guard(lambda: self._store.set(key, value))

    def clear(self) -> None:
        self._guard(self._store.clear)

    def __len__(self) -> int:
        return int(self._guard(lambda: len(self._store)))
