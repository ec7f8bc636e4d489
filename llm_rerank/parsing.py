"""Tolerant parsers for LLM answers.

>>> parse_permutation("<think>hmm [9]</think> Ranking: [2] > [1] > [2] > [7]", 3)
[1, 0]
"""

from __future__ import annotations

import re

_THINK = re.compile(r"<think(?:ing)?>.*?</think(?:ing)?>", re.DOTALL | re.IGNORECASE)
_OPEN_THINK = re.compile(r"<think(?:ing)?>.*", re.DOTALL | re.IGNORECASE)
_BRACKETED = re.compile(r"[\[［【]\s*(\d+)\s*[\]］】]")
_NUMBER = re.compile(r"\d+")


def strip_reasoning(text: str) -> str:
    """Drop ``<think>…</think>`` blocks, and an unclosed one's tail (a cut-off answer)."""
    return _OPEN_THINK.sub("", _THINK.sub("", text)).strip()


def parse_permutation(text: str, size: int) -> list[int]:
    """0-based indices named in an answer like ``[2] > [1] > [3]``, first mention kept.

    Bracketed ids win when present (so chatter such as "20 passages" is ignored); otherwise
    every number counts. Unicode digits are read; ids outside 1..size are dropped. Ids the
    answer left out are *not* added: the caller decides where they go.
    """
    answer = strip_reasoning(text)
    numbers = _BRACKETED.findall(answer) or _NUMBER.findall(answer)
    seen: dict[int, None] = {}
    for number in numbers:
        index = int(number) - 1
        if 0 <= index < size:
            seen.setdefault(index, None)
    return list(seen)


def complete_permutation(ranked: list[int], size: int) -> list[int]:
    """``ranked`` followed by the missing indices in their original order.

    >>> complete_permutation([2], 4)
    [2, 0, 1, 3]
    """
    named = set(ranked)
    return ranked + [i for i in range(size) if i not in named]
