"""Tolerant parsers for LLM answers.

>>> parse_permutation("<think>hmm [9]</think> Ranking: [2] > [1] > [2] > [7]", 3)
[1, 0]
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_THINK = re.compile(r"<think(?:ing)?>.*?</think(?:ing)?>", re.DOTALL | re.IGNORECASE)
_OPEN_THINK = re.compile(r"<think(?:ing)?>.*", re.DOTALL | re.IGNORECASE)
_BRACKETED = re.compile(r"[\[［【]\s*(\d+)\s*[\]］】]")
_NUMBER = re.compile(r"\d+")
_NAMED = re.compile(r"passage\s*[\"'(\[*]*\s*([a-z])(?![a-z])", re.IGNORECASE)
_BARE_LETTER = re.compile(r"(?<![A-Za-z])([A-Z])(?![A-Za-z])")


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


def parse_passage_choice(text: str, labels: Sequence[str]) -> int | None:
    """Position in ``labels`` of the passage an answer names, or ``None``.

    Reads "Passage C", "passage c", "(C)", "C." and chatter around them; the first
    "Passage X" with a known label wins, else a lone capital letter when only one appears.

    >>> parse_passage_choice("I think **Passage b** is best.", "ABC")
    1
    >>> parse_passage_choice("<think>Passage A?</think> The answer is C.", "ABC")
    2
    >>> parse_passage_choice("A or C", "ABC") is None
    True
    """
    answer = strip_reasoning(text)
    for match in _NAMED.finditer(answer):
        letter = match.group(1).upper()
        if letter in labels:
            return labels.index(letter)
    bare = re.sub(r"[\W_]+", "", answer).upper()
    if len(bare) == 1 and bare in labels:
        return labels.index(bare)
    named = {letter for letter in _BARE_LETTER.findall(answer) if letter in labels}
    return labels.index(named.pop()) if len(named) == 1 else None
