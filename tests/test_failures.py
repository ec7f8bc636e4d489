"""The failure policy through both transports: answers a provider sends with HTTP 200 that
are not chat completions (issue 19, item 13)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from test_direct_transport import ANSWER, MESSAGES, Reply, scripted

from llm_rerank import LLMCallError, Usage
from llm_rerank.failures import classify
from llm_rerank.llm import LLMClient
from llm_rerank.transports.base import InvalidResponse

TRANSPORTS = ["litellm", "direct"]


def client(url: str, transport: str, **options: Any) -> LLMClient:
    llm = LLMClient("openai/served", api_base=url, api_key="sk-test", cache=False,
                    transport=transport, **options)
    llm.wait = lambda state: 0.0  # type: ignore[assignment,method-assign]
    return llm


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_json_answer_of_the_wrong_shape_is_retried_then_an_llm_call_error(
        transport: str) -> None:
    """Defect: through LiteLLM, a 200 whose body is ``[1, 2]`` raised LiteLLM's internal
    AttributeError, classed a bug: a raw litellm.APIConnectionError, never retried."""
    with scripted(lambda body, headers: (200, {}, b"[1, 2]")) as (url, seen), \
            pytest.raises(LLMCallError) as raised:
        asyncio.run(client(url, transport, max_retries=2).complete(MESSAGES, Usage()))
    assert raised.value.transient and raised.value.attempts == 3 and len(seen) == 3
    assert isinstance(raised.value.__cause__, InvalidResponse)
    assert classify(raised.value.__cause__) == "transient"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_page_that_is_not_json_is_retried_and_a_later_answer_succeeds(
        transport: str) -> None:
    """Defect: a 200 with a proxy's HTML page was a permanent failure, never retried."""
    replies = iter([b"<html><body>Proxy login</body></html>", json.dumps(ANSWER).encode()])

    def reply(body: dict[str, Any], headers: dict[str, str]) -> Reply:
        return 200, {"Content-Type": "text/html"}, next(replies)

    usage = Usage()
    with scripted(reply) as (url, seen):
        answer = asyncio.run(client(url, transport, max_retries=2).complete(MESSAGES, usage))
    assert answer.text == "[2] > [1]" and len(seen) == 2 and usage.retries == 1
