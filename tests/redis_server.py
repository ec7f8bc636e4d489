"""A real redis-server for the tests: the CI's (``$LLM_RERANK_TEST_REDIS_URL``), or one
started here on a free loopback port; tests skip, saying why, when neither exists."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

TEST_REDIS_ENV = "LLM_RERANK_TEST_REDIS_URL"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """A redis-server process of our own on 127.0.0.1 (no persistence), to stop and restart."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


def redis_package() -> None:
    pytest.importorskip("redis", reason="the 'redis' extra is not installed")


@pytest.fixture(scope="session")
def redis_session_url() -> Iterator[str]:
    redis_package()
    if url := os.environ.get(TEST_REDIS_ENV):
        yield url
        return
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_session_url: str) -> str:
    """A real Redis, emptied for each test."""
    import redis

    redis.Redis.from_url(redis_session_url).flushdb()
    return redis_session_url


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which it may kill and restart on the same port."""
    redis_package()
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()
