"""The request tag: what a request asks, as data (its strategy and prompt kind).

Every call a strategy makes carries a tag such as ``{"strategy": "setwise", "kind":
"setwise"}``; the transports send it as the HTTP header ``X-LLM-Rerank-Tag`` (``key=value``
pairs joined by ``"; "``). A server that wants to know what it was asked (the simulated
judge) reads the header instead of the prompt's prose. The tag is not part of the
response-cache key.

>>> tag = request_tag(strategy="my strategy", kind="setwise", template=None)
>>> tag
{'strategy': 'my_strategy', 'kind': 'setwise'}
>>> format_tag(tag)
'strategy=my_strategy; kind=setwise'
>>> parse_tag(format_tag(tag)) == tag
True
"""

from __future__ import annotations

import re
from collections.abc import Mapping

TAG_HEADER = "X-LLM-Rerank-Tag"
_OUTSIDE = re.compile(r"[^A-Za-z0-9_./-]+")
_PAIR = re.compile(r"^([A-Za-z0-9_./-]+)=([A-Za-z0-9_./-]+)$")


def _clean(text: str) -> str:
    return _OUTSIDE.sub("_", text) or "_"


def request_tag(**fields: str | None) -> dict[str, str]:
    """A tag from ``fields`` (``None`` values left out), each key and value cut down to the
    characters a tag may hold (``A-Za-z0-9_./-``; any other run becomes ``_``)."""
    return {_clean(key): _clean(value) for key, value in fields.items() if value is not None}


def format_tag(tag: Mapping[str, str]) -> str:
    """The header value of ``tag``: ``key=value`` pairs joined by ``"; "``."""
    return "; ".join(f"{_clean(key)}={_clean(value)}" for key, value in tag.items())


def parse_tag(value: str | None) -> dict[str, str]:
    """The tag in a header value (pairs that are not ``key=value`` are skipped).

    >>> parse_tag("strategy=pairwise; kind=pairwise; junk"), parse_tag(None)
    ({'strategy': 'pairwise', 'kind': 'pairwise'}, {})
    """
    tag: dict[str, str] = {}
    for pair in (value or "").split(";"):
        found = _PAIR.match(pair.strip())
        if found is not None:
            tag.setdefault(found.group(1), found.group(2))
    return tag
