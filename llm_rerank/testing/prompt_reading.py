"""How the simulated judge reads a chat prompt: its kind, query, passages, labels and
criteria.

What a prompt asks (its kind: listwise, pairwise, setwise, pointwise, ...) comes with the
request: the ``kind`` of its tag (the ``X-LLM-Rerank-Tag`` header, see ``llm_rerank.tags``;
the template's ``kind:`` header line), or the ``kind`` argument in process. The reader then
only extracts the query (``Search query: ...``) and the candidates out of the chat messages
(listwise ``[n] text`` lines, pairwise and setwise ``Passage A/B/..`` lines, pointwise
``Passage:`` with a quoted label list, criteria ``C1. text`` lines, decompose ``Query to
split:``), so a reworded template is read the same. A request without a tag (a foreign
client) has its kind guessed from the prompt's shape and wording (``guess_kind``: two
``Passage A/B`` lines are pairwise unless the prompt asks for the "most relevant").

>>> prompt = parse_prompt([{"role": "user", "content": "Search query: q\\n\\n[1] a\\n[2] b"}])
>>> prompt.kind, prompt.query, [p.text for p in prompt.passages]
('listwise', 'q', ['a', 'b'])
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..prompts import PROMPT_KINDS as KNOWN_KINDS
from ..prompts import PromptKind

# The four ranking kinds (the judge server counts its requests by them: JudgeStats.by_kind).
PROMPT_KINDS: tuple[PromptKind, ...] = ("listwise", "pairwise", "pointwise", "setwise")

_QUERY = re.compile(
    r"^Search query:[ \t]*(.*?)(?=\n\s*\n|\n\[\d+\]|\nPassage\b|\Z)", re.MULTILINE | re.DOTALL
)
_NUMBERED = re.compile(r"^\[(\d+)\][ \t]?(.*)$", re.MULTILINE)
_LETTERED = re.compile(r"^Passage ([A-Z]):[ \t]?(.*)$", re.MULTILINE)
_SINGLE = re.compile(r"^Passage:[ \t]?(.*)$", re.MULTILINE)
_LABEL_LINE = re.compile(r"^Labels\b[^:\n]*:(.*)$", re.MULTILINE)
_QUOTED = re.compile(r'"([^"\n]+)"')
_SPLIT = re.compile(r"^Query to split:[ \t]*(.*)$", re.MULTILINE)
_CRITERION = re.compile(r"^C(\d+)\.[ \t]?(.*)$", re.MULTILINE)


class UnrecognizedPrompt(ValueError):
    """The messages are not one of the four prompt shapes the judge understands."""


@dataclass
class Passage:
    """One candidate as shown in a prompt: its identifier there (``"3"``, ``"A"``) and text."""

    label: str
    text: str


@dataclass
class ParsedPrompt:
    """What a prompt asks: its kind, query, passages in prompt order and (pointwise) labels."""

    kind: PromptKind
    query: str
    passages: list[Passage]
    labels: list[str] = field(default_factory=list)
    criteria: list[str] = field(default_factory=list)


def message_text(content: object) -> str:
    """A message's text, from a string or a list of OpenAI content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", "")) for part in content
            if isinstance(part, dict) and part.get("type", "text") == "text"
        )
    return ""


def parse_prompt(messages: Sequence[Mapping[str, Any]], kind: str | None = None
                 ) -> ParsedPrompt:
    """Read the query and the passages out of chat messages rendered by a bundled template.

    ``kind`` is what the prompt asks (the request's tag, or the caller, says so: one of
    ``llm_rerank.prompts.PROMPT_KINDS``); the judge then only extracts the query, passages,
    labels and criteria. Without it (a foreign client, e.g. curl) the kind is guessed from
    the prompt's shape and wording (see ``guess_kind``).

    >>> parse_prompt([{"role": "user", "content": "Search query: q\\n\\n[1] a\\n[2] b"}]).kind
    'listwise'
    >>> messages = [{"role": "user", "content": "Search query: q\\n\\nPassage A: a\\nPassage B: b"}]
    >>> parse_prompt(messages).kind, parse_prompt(messages, kind="setwise").kind
    ('pairwise', 'setwise')
    """
    text = "\n".join(
        message_text(m.get("content")) for m in messages if m.get("role") != "assistant"
    )
    known = next((k for k in KNOWN_KINDS if k == kind), None)
    return _extract(known or guess_kind(text), text)


def guess_kind(text: str) -> PromptKind:
    """What a prompt without a tag asks, from its shape: a ``Query to split:`` line, ``C1.``
    criterion lines, ``[n]`` lines, ``Passage A:`` lines (pairwise when there are two and
    the text before the query does not ask for the "most relevant", else setwise) or one
    ``Passage:`` line."""
    if _SPLIT.search(text) is not None:
        return "decompose"
    query_match = _QUERY.search(text)
    if query_match is None:
        raise UnrecognizedPrompt("no 'Search query:' line in the messages")
    numbered, lettered = _NUMBERED.search(text), _LETTERED.findall(text)
    if _SINGLE.search(text) and not numbered and not lettered:
        return "criteria" if _CRITERION.search(text) else "pointwise"
    if lettered and not numbered:
        two = len(_unique(lettered)) == 2
        return "pairwise" if two and "most relevant" not in text[: query_match.start()] \
            else "setwise"
    if numbered and not lettered:
        return "listwise"
    raise UnrecognizedPrompt(
        "expected listwise '[n] text' lines, 'Passage A:' lines or one 'Passage:' line"
    )


def _extract(kind: PromptKind, text: str) -> ParsedPrompt:
    """The query, passages, labels and criteria of a prompt of ``kind``."""
    if kind == "decompose":
        split = _SPLIT.search(text)
        if split is None:
            raise UnrecognizedPrompt("a decompose prompt needs a 'Query to split:' line")
        return ParsedPrompt("decompose", " ".join(split.group(1).split()), [])
    query_match = _QUERY.search(text)
    if query_match is None:
        raise UnrecognizedPrompt("no 'Search query:' line in the messages")
    query = " ".join(query_match.group(1).split())
    if kind in ("pointwise", "criteria"):
        single = _SINGLE.findall(text)
        label_line = _LABEL_LINE.search(text)
        labels = _QUOTED.findall(label_line.group(1)) if label_line else []
        if not single or len(labels) < 2:
            raise UnrecognizedPrompt(f"a {kind} prompt needs one 'Passage:' line and a quoted "
                                     "list of 2+ labels")
        criteria = [p.text for p in _unique(_CRITERION.findall(text))]
        if kind == "criteria" and not criteria:
            raise UnrecognizedPrompt("a criteria prompt needs 'C1. text' criterion lines")
        return ParsedPrompt(kind, query, [Passage("", single[0])], labels,
                            criteria if kind == "criteria" else [])
    passages = _unique((_NUMBERED if kind == "listwise" else _LETTERED).findall(text))
    if not passages:
        shape = "'[n] text'" if kind == "listwise" else "'Passage A: text'"
        raise UnrecognizedPrompt(f"a {kind} prompt needs {shape} lines")
    return ParsedPrompt(kind, query, passages)


def _unique(found: Iterable[tuple[str, str]]) -> list[Passage]:
    passages: dict[str, Passage] = {}
    for label, text in found:
        passages.setdefault(label, Passage(label, text))
    return list(passages.values())
