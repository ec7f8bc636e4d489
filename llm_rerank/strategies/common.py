"""Helpers shared by several strategies (strategies import this module, never each other).

>>> top_k(None, RankingContext(query="q", documents=[], top_n=3)), DEFAULT_K
(3, 10)
>>> logprob_params("auto", 5)
{'logprobs': True, 'top_logprobs': 5, 'drop_params': True}
>>> merged_extra_body({"extra_body": {"top_k": 1}}, grammar="root ::= 'yes'")
{'top_k': 1, 'grammar': "root ::= 'yes'"}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from ..reranker import RankingContext

DEFAULT_K = 10
CHOICE_ANSWER_TOKENS = 16  # an answer that names one passage ("A", "Passage B", ...)


def top_k(k: int | None, ctx: RankingContext) -> int:
    """``k`` when given, else the caller's ``top_n``, else ``DEFAULT_K``."""
    return k if k is not None else ctx.top_n or DEFAULT_K


def logprob_params(use_logprobs: bool | Literal["auto"], top_logprobs: int) -> dict[str, Any]:
    """The LiteLLM parameters that ask for the answer's logprobs (``"auto"``: dropped where the
    provider does not support them).

    >>> logprob_params(False, 5)
    {}
    """
    params: dict[str, Any] = {}
    if use_logprobs is not False:
        params.update(logprobs=True, top_logprobs=top_logprobs)
    if use_logprobs == "auto":
        params["drop_params"] = True
    return params


def merged_extra_body(completion_kwargs: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
    """``completion_kwargs``' own ``extra_body`` (request fields a server adds to OpenAI's)
    with ``fields`` added, so a strategy's fields do not replace the caller's."""
    return {**(completion_kwargs.get("extra_body") or {}), **fields}
