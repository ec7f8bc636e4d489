"""Counts in messages: ``counted(1, "query")`` is "1 query", ``counted(2, "query")`` "2 queries".

>>> counted(1, "LLM call"), counted(0, "cache hit"), counted(3, "query")
('1 LLM call', '0 cache hits', '3 queries')
>>> counted(2, "parse failure"), counted(2, "prompt shrunk", "prompts shrunk")
('2 parse failures', '2 prompts shrunk')
"""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and ``noun``, in the plural unless ``count`` is 1 (a noun ending in a
    consonant + "y" takes "ies", others "s"; ``plural`` overrides)."""
    if count == 1:
        return f"{count} {noun}"
    if plural is None:
        plural = (noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou"
                  else noun + "s")
    return f"{count} {plural}"
