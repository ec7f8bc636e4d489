"""Where the response cache lives: one protocol, a disk backend and a Redis backend.

``cache=`` (and ``LLM_RERANK_CACHE_URL``, ``--cache``) takes ``True`` (the default disk
directory), a directory, a ``redis://HOST:PORT/DB`` URL (also ``rediss://`` and
``unix://``), a ready ``Cache``, or ``False``. Both backends use the same canonical keys
(``llm_rerank.cache.cache_key``) and hold only answers the caller could use.

>>> is_store_url("redis://127.0.0.1:6379/0"), is_store_url("/tmp/cache")
(True, False)
>>> open_cache(False) is None
True
"""

from __future__ import annotations

import os
from pathlib import Path

from ..cache import ResponseCache
from .base import Cache, CacheUnavailable

__all__ = ["CACHE_URL_ENV", "Cache", "CacheUnavailable", "is_store_url", "open_cache"]

CACHE_URL_ENV = "LLM_RERANK_CACHE_URL"
STORE_SCHEMES = ("redis://", "rediss://", "unix://", "valkey://", "valkeys://")


def is_store_url(value: object) -> bool:
    """Whether ``value`` is a Redis (or Valkey) URL rather than a directory."""
    return isinstance(value, str) and value.lower().startswith(STORE_SCHEMES)


def open_cache(spec: bool | str | Path | Cache | None) -> Cache | None:
    """The cache ``spec`` names: ``True`` is ``$LLM_RERANK_CACHE_URL`` when set, else the
    default disk directory; a URL opens a ``RedisCache`` (extra ``redis``)."""
    if spec is False or spec is None:
        return None
    if spec is True:
        spec = os.environ.get(CACHE_URL_ENV) or True
    if spec is True:
        return ResponseCache()
    if is_store_url(spec):
        from .redis_cache import RedisCache

        return RedisCache(str(spec))
    if isinstance(spec, (str, Path)):
        return ResponseCache(spec)
    if isinstance(spec, Cache):
        return spec
    raise TypeError(f"cache must be True, False, a directory, a redis:// URL or a cache "
                    f"object, got {type(spec).__name__}")
