"""Connections to Redis (or Valkey) for the shared cache, budgets and rate limits.

One client per URL and process (redis-py pools its connections, is thread-safe and opens
new connections after a fork). Calls are synchronous and short (a Lua script or a GET on a
local network: well under a millisecond); they fail fast instead of hanging the event loop:
0.5 s to connect, 1 s per command, no client-side retry (the callers decide: the cache goes
on uncached, a budget fails closed, a rate limit falls back to a local one). The URL's query
may override ``socket_timeout`` and ``socket_connect_timeout`` (seconds).

>>> safe_url("redis://:hunter2@cache.internal:6379/0")
'redis://***@cache.internal:6379/0'
>>> split_url("redis://h:6379/1?ttl=3600&socket_timeout=2")
('redis://h:6379/1?socket_timeout=2', {'ttl': '3600'})
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import InvalidInput

OWN_PARAMS = frozenset({"ttl"})  # read by llm_rerank, not passed to redis-py
CONNECT_TIMEOUT_S = 0.5
COMMAND_TIMEOUT_S = 1.0
_clients: dict[tuple[str, int], Any] = {}
_lock = threading.Lock()


def safe_url(url: str) -> str:
    """``url`` without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None and "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def split_url(url: str) -> tuple[str, dict[str, str]]:
    """The URL for redis-py and the query parameters llm_rerank reads itself (``ttl``)."""
    parts = urlsplit(url)
    scheme = parts.scheme.replace("valkey", "redis")
    query = parse_qsl(parts.query)
    own = {k: v for k, v in query if k in OWN_PARAMS}
    rest = urlencode([(k, v) for k, v in query if k not in OWN_PARAMS])
    return urlunsplit(parts._replace(scheme=scheme, query=rest)), own


def import_redis() -> Any:
    """The ``redis`` package, or an ``InvalidInput`` saying which extra brings it."""
    try:
        import redis
    except ImportError:
        raise InvalidInput("a redis:// store needs the 'redis' package; install it from the "
                           "llm_rerank clone: pip install -e '.[redis]'") from None
    return redis


def redis_errors() -> tuple[type[BaseException], ...]:
    """What a failing store raises (connection, timeout, server errors, a closed socket)."""
    redis = import_redis()
    return (redis.RedisError, OSError)


def client(url: str) -> Any:
    """The process's shared ``redis.Redis`` for ``url`` (opened lazily: no connection is
    made before the first command)."""
    key = (url, os.getpid())
    with _lock:
        if key not in _clients:
            redis = import_redis()
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            target, _ = split_url(url)
            options = {"socket_connect_timeout": CONNECT_TIMEOUT_S,
                       "socket_timeout": COMMAND_TIMEOUT_S, "retry": Retry(NoBackoff(), 0)}
            given = dict(parse_qsl(urlsplit(target).query))
            options = {k: v for k, v in options.items() if k not in given}
            try:
                _clients[key] = redis.Redis.from_url(target, **options)
            except ValueError as exc:
                raise InvalidInput(f"store URL {safe_url(url)}: {exc}") from None
        return _clients[key]


def run_script(redis: Any, source: str, keys: list[str], args: list[Any]) -> Any:
    """Run a Lua script by its SHA1 (loading it when the server does not know it, e.g. after
    a restart): one round trip, atomic on the server."""
    sha = _shas.get(source)
    if sha is None:
        sha = _shas[source] = hashlib.sha1(source.encode("utf-8")).hexdigest()
    try:
        return redis.evalsha(sha, len(keys), *keys, *args)
    except import_redis().exceptions.NoScriptError:
        return redis.eval(source, len(keys), *keys, *args)


_shas: dict[str, str] = {}
