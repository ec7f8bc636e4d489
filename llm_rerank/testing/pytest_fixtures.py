"""pytest fixtures for the simulated judge; enable them in ``conftest.py`` with
``pytest_plugins = ["llm_rerank.testing.pytest_fixtures"]``.

>>> def test_perfect_judge(judge_server):  # doctest: +SKIP
...     server = judge_server(requests, qrels, noise=0.5)
...     ListwiseReranker("openai/judge", api_base=server.url, api_key="x", cache=False)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .server import JudgeServer


@pytest.fixture
def judge_server() -> Iterator[Callable[..., JudgeServer]]:
    """A factory ``judge_server(requests, qrels, **knobs) -> JudgeServer`` (already serving);
    every server it started is closed at teardown."""
    started: list[JudgeServer] = []

    def start(*args: Any, **kwargs: Any) -> JudgeServer:
        server = JudgeServer(*args, **kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()
