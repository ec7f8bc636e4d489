"""The response cache in Redis: shared by every process and machine that names the URL.

Keys are the disk cache's (``llm_rerank.cache.cache_key``) under the prefix
``llm_rerank:cache:``; values are the answer as zlib-compressed JSON; ``?ttl=SECONDS`` in
the URL makes entries expire. When Redis cannot be reached or fails, ``get``/``set`` raise
``CacheUnavailable`` at once (the call path counts it in ``Usage.cache_errors`` and calls
uncached), one warning is logged per outage, and Redis is tried again after
``retry_after_s``: the cache comes back by itself when Redis does.

>>> cache = RedisCache("redis://127.0.0.1:6379/0?ttl=86400")
>>> cache.ttl_s, cache.url
(86400, 'redis://127.0.0.1:6379/0?ttl=86400')
"""

from __future__ import annotations

import json
import logging
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import InvalidInput
from .base import CacheUnavailable
from .connection import client, redis_errors, safe_url, split_url

log = logging.getLogger("llm_rerank.cache")
PREFIX = "llm_rerank:cache:"
T = TypeVar("T")


class RedisCache:
    """A response cache in Redis (extra ``redis``); picklable (by its URL) for worker
    processes and Ray actors."""

    def __init__(self, url: str, *, retry_after_s: float = 1.0) -> None:
        self.url = url
        ttl = split_url(url)[1].get("ttl")
        try:
            self.ttl_s = int(ttl) if ttl is not None else None
        except ValueError:
            self.ttl_s = -1
        if self.ttl_s is not None and self.ttl_s < 1:
            raise InvalidInput(f"cache URL {safe_url(url)}: ttl must be a whole number of "
                               f"seconds >= 1, got {ttl!r}")
        self.retry_after_s = retry_after_s
        self._down_until = 0.0  # monotonic time before which Redis is not tried again
        self._down = False
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        return RedisCache, (self.url,), {"retry_after_s": self.retry_after_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.retry_after_s = state["retry_after_s"]

    def __repr__(self) -> str:
        return f"RedisCache({safe_url(self.url)!r})"

    def _run(self, operation: Callable[[Any], T]) -> T:
        if self._down and time.monotonic() < self._down_until:
            raise CacheUnavailable(f"the response cache {safe_url(self.url)} is unavailable")
        try:
            result = operation(client(self.url))
        except redis_errors() as exc:
            with self._lock:
                first = not self._down
                self._down, self._down_until = True, time.monotonic() + self.retry_after_s
            if first:
                log.warning("the response cache %s failed (%s: %s); calls go on uncached "
                            "(counted in usage.cache_errors) until it is back",
                            safe_url(self.url), type(exc).__name__, exc)
            raise CacheUnavailable(f"the response cache {safe_url(self.url)} failed: "
                                   f"{exc}") from None
        if self._down:
            with self._lock:
                self._down = False
            log.warning("the response cache %s is back", safe_url(self.url))
        return result

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self._run(lambda redis: redis.get(PREFIX + key))
        if raw is None:
            return None
        try:
            value = json.loads(zlib.decompress(raw))
        except (zlib.error, ValueError):
            return None  # not written by this cache: a miss
        return value if isinstance(value, dict) else None

    def set(self, key: str, value: dict[str, Any]) -> None:
        data = zlib.compress(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))
        self._run(lambda redis: redis.set(PREFIX + key, data, ex=self.ttl_s))

    def clear(self) -> None:
        """Delete every entry of this cache (other keys of the database stay)."""
        for keys in self._batches():
            self._delete(keys)

    def _delete(self, keys: list[bytes]) -> None:
        self._run(lambda redis: redis.delete(*keys))

    def __len__(self) -> int:
        return sum(len(keys) for keys in self._batches())

    def _batches(self) -> list[list[bytes]]:
        found: list[bytes] = self._run(
            lambda redis: list(redis.scan_iter(match=PREFIX + "*", count=1000)))
        return [found[i:i + 1000] for i in range(0, len(found), 1000)]
