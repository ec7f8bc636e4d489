"""The response cache in Redis (issue 17), against a real redis-server."""

from __future__ import annotations

import logging
import pickle
import time
import zlib

import pytest
from graded_docs import GRADES, docs
from redis_server import RedisServer, free_port, own_redis, redis_session_url, redis_url

from llm_rerank import ListwiseReranker
from llm_rerank.cache import cache_key
from llm_rerank.stores import CACHE_URL_ENV, CacheUnavailable, open_cache
from llm_rerank.stores.redis_cache import PREFIX, RedisCache
from llm_rerank.testing import fake_llm

__all__ = ["own_redis", "redis_session_url", "redis_url"]  # fixtures used below

FIVE = docs(GRADES[:5])
WHOLE = "[5] > [4] > [3] > [2] > [1]"  # a whole permutation of FIVE


def answer_keys(url: str) -> list[bytes]:
    import redis

    return [k for k in redis.Redis.from_url(url).keys(PREFIX + "*")
            if b"context-window" not in k]


def test_same_canonical_keys_and_compressed_values(redis_url: str) -> None:
    cache = RedisCache(redis_url)
    messages = [{"role": "user", "content": "hi"}]
    key = cache_key("openai/m", messages, {"temperature": 0})
    cache.set(key, {"text": "answer " * 50})
    import redis

    raw = redis.Redis.from_url(redis_url).get(PREFIX + key)
    assert raw is not None and len(raw) < len("answer " * 50)
    assert zlib.decompress(raw).startswith(b'{"text"')
    assert RedisCache(redis_url).get(key) == {"text": "answer " * 50}
    assert pickle.loads(pickle.dumps(cache)).get(key) == {"text": "answer " * 50}


def test_a_second_client_is_answered_from_the_shared_cache(redis_url: str) -> None:
    with fake_llm(lambda m: WHOLE) as fake:
        first = ListwiseReranker(fake.model, cache=redis_url).rank("q", FIVE)
        calls = fake.calls
        second = ListwiseReranker(fake.model, cache=redis_url).rank("q", FIVE)
    assert calls >= 1 and fake.calls == calls
    assert second.usage.llm_calls == 0 and second.usage.cache_hits == first.usage.llm_calls
    assert [r.index for r in second] == [r.index for r in first]


def test_unusable_answers_are_never_cached(redis_url: str) -> None:
    with fake_llm(lambda m: "I cannot rank these.") as fake:
        results = ListwiseReranker(fake.model, cache=redis_url, on_error="keep_order",
                                   parse_retries=0).rank("q", FIVE)
    assert results.usage.parse_failures >= 1
    assert answer_keys(redis_url) == []


def test_ttl_from_the_url(redis_url: str) -> None:
    import redis

    with fake_llm(lambda m: WHOLE) as fake:
        ListwiseReranker(fake.model, cache=redis_url + "?ttl=30").rank("q", FIVE)
    keys = answer_keys(redis_url)
    assert keys and all(0 < redis.Redis.from_url(redis_url).ttl(k) <= 30 for k in keys)
    with pytest.raises(ValueError, match="ttl"):
        RedisCache(redis_url + "?ttl=soon")


def test_the_environment_names_the_default_cache(redis_url: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_URL_ENV, redis_url)
    assert isinstance(open_cache(True), RedisCache)
    with fake_llm(lambda m: WHOLE) as fake:
        ListwiseReranker(fake.model).rank("q", FIVE)
    assert answer_keys(redis_url)


def test_unreachable_redis_ranks_uncached_counted_and_warned_once(
        caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("redis")
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with caplog.at_level(logging.WARNING, "llm_rerank.cache"), fake_llm(
            lambda m: "[2] > [1]") as fake:
        reranker = ListwiseReranker(fake.model, cache=url, window_size=2, step=1)
        results = reranker.rank("q", FIVE)
        again = reranker.rank("q", FIVE)
    assert sorted(r.index for r in results) == list(range(5))
    assert results.usage.llm_calls == 4 and results.usage.cache_errors == 8  # a get, a set each
    assert again.usage.llm_calls == 4 and again.usage.cache_hits == 0
    warnings = [r for r in caplog.records if "response cache" in r.getMessage()]
    assert len(warnings) == 1 and "uncached" in warnings[0].getMessage()


def test_redis_killed_then_restarted_the_cache_comes_back_by_itself(
        own_redis: RedisServer) -> None:
    with fake_llm(lambda m: WHOLE) as fake:
        reranker = ListwiseReranker(fake.model, cache=own_redis.url)
        assert reranker.rank("q", FIVE).usage.cache_errors == 0
        own_redis.stop()
        down = reranker.rank("q", FIVE)
        assert down.usage.llm_calls >= 1 and down.usage.cache_errors >= 1
        own_redis.start()
        time.sleep(1.1)  # past the cache's retry_after_s
        refill = reranker.rank("q", FIVE)
        back = reranker.rank("q", FIVE)
    assert refill.usage.cache_errors == 0
    assert back.usage.llm_calls == 0 and back.usage.cache_hits >= 1


def test_an_unavailable_cache_raises_its_own_error_to_the_call_path() -> None:
    pytest.importorskip("redis")
    cache = RedisCache(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(CacheUnavailable):
        cache.get("k")
    with pytest.raises(CacheUnavailable, match="unavailable"):  # not retried for a while
        cache.set("k", {"text": "x"})
