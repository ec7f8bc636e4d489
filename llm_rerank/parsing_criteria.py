"""Total parsers for the criteria strategy's answers: a query's decomposition into parts,
and per-criterion verdicts.

Reading rules (untrusted text; every parser is total and linear, like
``llm_rerank.parsing``, whose reasoning stripping and negation-aware label reading they
reuse):

- Decomposition: a JSON list of strings, else the lines of the answer that carry a list
  marker (``1.``, ``2)``, ``-``, ``*``, ``Part 1:``), else every line; chatter ending in
  ":" is skipped, duplicates are dropped, lines are cut to ``MAX_CRITERION_CHARS``. Only
  2 to ``MAX_AUTO_PARTS`` parts are usable; anything else gives ``None`` (the caller then
  uses the whole query as the one criterion).
- Verdicts: one line per criterion, ``C2: yes - reason``; the id may be written ``C2``,
  ``2``, ``Criterion 2`` or ``Part 2`` followed by ``:``, ``.``, ``)`` or ``-``. The label
  is read from the rest of the line by ``parse_label`` ("No." or "not
  partly" -> "no"). Lines without an id are read in order when their number equals the
  number of criteria. What follows the label (after a dash or colon) is the reason.

>>> from llm_rerank.criteria import VERDICT_VALUES
>>> parse_decomposition("Parts:\\n1. How does a heat pump heat a house?\\n2. Is it cheap to run?")
['How does a heat pump heat a house?', 'Is it cheap to run?']
>>> [v.label for v in parse_verdicts("C1: yes\\nC2: not partly", 2, VERDICT_VALUES)]
['yes', 'no']
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .criteria import MAX_AUTO_PARTS, MAX_CRITERION_CHARS
from .parsing import answer_text, label_probabilities, lowercase_words, parse_label

_MAX_LINES = 100  # answer lines read (bounds hostile answers)

_MARKER = re.compile(r"^\s*(?:[-*•·]|\(?\d{1,2}[.):]|(?:part|criterion)\s*\d{1,2}\s*[.):-])\s*",
                     re.IGNORECASE)


def _clean_part(line: str) -> str:
    return " ".join(line.strip().strip("*_`\"'").split())[:MAX_CRITERION_CHARS].strip()


def _json_parts(answer: str) -> list[str] | None:
    start, end = answer.find("["), answer.rfind("]")
    if start < 0 or end <= start:
        return None
    try:
        loaded = json.loads(answer[start:end + 1])
    except (ValueError, RecursionError):
        return None
    if not isinstance(loaded, list) or not all(isinstance(item, str) for item in loaded):
        return None
    return [_clean_part(item) for item in loaded]


def parse_decomposition(text: str, max_parts: int = MAX_AUTO_PARTS) -> list[str] | None:
    """The 2..``max_parts`` parts an answer lists, or ``None`` when it is unusable.

    >>> parse_decomposition('["cost of a heat pump", "how it heats in winter"]')
    ['cost of a heat pump', 'how it heats in winter']
    >>> parse_decomposition("This query has only one part.") is None
    True
    """
    answer = answer_text(text)
    parts = _json_parts(answer) if answer.lstrip().startswith("[") else None
    if parts is None:
        lines = answer.splitlines()[:_MAX_LINES]
        marked = [_MARKER.sub("", line, count=1) for line in lines if _MARKER.match(line)]
        chosen = marked or lines
        parts = [_clean_part(line) for line in chosen
                 if not line.rstrip().endswith(":")]
    unique: dict[str, str] = {}
    for part in parts:
        key = lowercase_words(part)
        if key and len(key) >= 3:
            unique.setdefault(key, part)
    found = list(unique.values())
    return found if 2 <= len(found) <= max_parts else None


# --- verdicts --------------------------------------------------------------------------

_VERDICT_LINE = re.compile(
    r"^\W{0,8}(?:c|criterion|part)?\s{0,3}(\d{1,2})\s{0,3}(?:[:.)\]]|\s-)\s*", re.IGNORECASE)
_REASON_CUT = re.compile(r"\s[-–—:]\s|[-–—:]\s|\.\s|;\s")


@dataclass
class Verdict:
    """One criterion's reading: its label (``None``: none read), label probabilities when
    logprobs gave them, and the reason written after the label."""

    label: str | None
    probabilities: dict[str, float] | None = None
    reason: str | None = None


def _verdict(rest: str, labels: Mapping[str, float], offset: int) -> tuple[Verdict, int]:
    """The verdict in one line's text after its id; also where the label starts."""
    label = parse_label(rest, labels)
    reason = None
    where = -1
    if label is not None:
        lowered = rest.lower()
        where = lowered.find(lowercase_words(label).split()[0])
        cut = _REASON_CUT.search(rest, max(where, 0))
        if cut is not None:
            reason = rest[cut.end():].strip()[:MAX_CRITERION_CHARS] or None
    return Verdict(label, reason=reason), (offset + where if where >= 0 else -1)


def parse_verdicts(text: str, count: int, labels: Mapping[str, float],
                   logprobs: Sequence[Mapping[str, float]] | None = None) -> list[Verdict]:
    """One ``Verdict`` per criterion (label ``None`` where the answer gives none).

    With ``logprobs`` (each answer token's top alternatives) whose most likely tokens
    spell the answer, each label's probabilities come from the token position where the
    label starts (``label_probabilities``; the rest of the mass goes to the label read).

    >>> from llm_rerank.criteria import VERDICT_VALUES
    >>> [v.label for v in parse_verdicts("<think>C1: yes?</think>1. partly\\n2) yes", 2,
    ...                                  VERDICT_VALUES)]
    ['partly', 'yes']
    >>> [v.label for v in parse_verdicts("no\\nyes, clearly", 2, VERDICT_VALUES)]
    ['no', 'yes']
    """
    verdicts = [Verdict(None) for _ in range(count)]
    if count <= 0:
        return verdicts
    raw = answer_text(text)
    starts: list[int] = [-1] * count
    lines: list[tuple[int, str]] = []
    position = 0
    for line in raw.split("\n")[:_MAX_LINES]:
        lines.append((position, line))
        position += len(line) + 1
    unnumbered: list[tuple[int, str]] = []
    for offset, line in lines:
        match = _VERDICT_LINE.match(line)
        if match is None:
            if line.strip():
                unnumbered.append((offset, line))
            continue
        index = int(match.group(1)) - 1
        if 0 <= index < count and verdicts[index].label is None:
            verdicts[index], starts[index] = _verdict(line[match.end():], labels,
                                                      offset + match.end())
    if all(v.label is None for v in verdicts):
        if count == 1:
            verdicts[0], starts[0] = _verdict(raw, labels, 0)
        elif len(unnumbered) == count:
            for index, (offset, line) in enumerate(unnumbered):
                verdicts[index], starts[index] = _verdict(line, labels, offset)
    if logprobs and raw == text.strip():
        _add_probabilities(verdicts, starts, text, labels, logprobs)
    return verdicts


def _add_probabilities(verdicts: list[Verdict], starts: list[int], text: str,
                       labels: Mapping[str, float],
                       logprobs: Sequence[Mapping[str, float]]) -> None:
    """Label probabilities from the token position covering each label's first character,
    when the most likely tokens spell the answer (else the text verdicts stand)."""
    offsets: list[int] = []
    spelled = ""
    for top in logprobs[:4096]:
        finite = [(lp, token) for token, lp in top.items() if not math.isnan(lp)]
        offsets.append(len(spelled))
        spelled += max(finite)[1] if finite else ""
        if len(spelled) > len(text) + 64:
            return
    if spelled.strip() != text.strip():
        return
    for verdict, start in zip(verdicts, starts, strict=True):
        if verdict.label is None or start < 0:
            continue
        at = start + len(spelled) - len(spelled.lstrip())
        token = next((i for i in range(len(offsets) - 1, -1, -1) if offsets[i] <= at), None)
        if token is None:
            continue
        verdict.probabilities = label_probabilities(logprobs[token], labels, rest=verdict.label)
