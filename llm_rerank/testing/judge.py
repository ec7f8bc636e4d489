"""A simulated LLM judge that knows the relevance grades: it reads the project's prompts and
answers them from qrels, with tunable noise, position bias and malformed answers.

It reads each prompt with ``prompt_reading.parse_prompt`` (the kind from the request's
tag, else guessed from the prompt's shape), so a reworded template is answered the same,
then matches the passages back to the known documents by their whitespace-collapsed text
prefix (prompts cut passages to a few hundred words), first among the query's candidates,
then among every known document. A passage that a framework prefixed with metadata
(LlamaIndex's ``key: value`` lines) is matched on the document text that follows. A passage
or query it cannot identify gets grade 0 and is counted in
``JudgeAnswer.unmatched``: the judge always answers a recognised prompt.

Multi-part queries (``aspects``, the qrels extension ``qid criterion docid grade``; see
``llm_rerank.eval.io.read_aspect_qrels``): a prompt with a ``Query to split:`` line is a
decomposition request, answered with the query's known criteria, one per line
(``"1. text"``), or with the query itself when none are known. A prompt with ``C1. text``
criterion lines and one ``Passage:`` line asks for per-criterion verdicts: each criterion
whose text matches a known criterion of the query (case and white space ignored) is judged
from its own grades, the whole query from the overall qrels, any other criterion as grade
0; the answer is ``C1: yes`` lines, labels chosen like pointwise ones (logprobs at each
label).

Perceived grade = grade + ``noise`` * N(0, 1) + ``position_bias`` * (1 - pos / (n - 1)),
drawn from a random generator seeded by ``seed`` and the messages, so the same prompt always
gets the same answer. Ties go to the earlier passage. With ``noise=0`` and
``position_bias=0`` the judge is perfect.

>>> from llm_rerank.eval.io import RerankRequest
>>> from llm_rerank.models import Document
>>> from llm_rerank.prompts import PromptTemplate
>>> request = RerankRequest("q1", "capital of France",
...     [Document(id="a", text="Lyon is a city."), Document(id="b", text="Paris is the capital.")])
>>> judge = Judge([request], {"q1": {"b": 3}})
>>> passages = [{"id": 1, "text": "Lyon is a city."}, {"id": 2, "text": "Paris is the capital."}]
>>> messages = PromptTemplate.load("listwise/rankgpt").render(
...     query="capital of France", passages=passages)
>>> judge.answer(messages).text
'[2] > [1]'
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import InvalidInput
from ..eval.io import Aspect, RerankRequest
from ..prompts import PromptKind
from ..tokens import word_tokens
from .prompt_reading import ParsedPrompt, parse_prompt

_PREFIX_KEY_WORDS = 8
_MAX_PREFIX_WORDS = 200  # words of prepended metadata skipped at most when matching
_LABEL_SHARPNESS = 2.0  # logit = -sharpness * (label value - perceived value) ** 2


def collapse_casefold(text: str) -> str:
    """White space collapsed, case folded: how passages are compared to known documents.

    >>> collapse_casefold("  Paris   is  the CAPITAL ")
    'paris is the capital'
    """
    return " ".join(text.split()).casefold()


class JudgeKnobs(BaseModel):
    """How imperfect the judge is; all zero means a perfect, instant, reliable judge."""

    model_config = ConfigDict(extra="forbid")

    noise: float = Field(0.0, ge=0, description="std-dev of Gaussian noise added to grades")
    position_bias: float = Field(0.0, ge=0, description="grade bonus for the first passage")
    garbage_rate: float = Field(0.0, ge=0, le=1, description="share of malformed answers")
    error_rate: float = Field(0.0, ge=0, le=1, description="share of 429/503 answers")
    latency_ms: float = Field(0.0, ge=0, description="each answer is sent this long after "
                              "its request arrived (the judge's own work included)")
    seed: int = 0


@dataclass
class JudgeAnswer:
    """The judge's reply: text, OpenAI-style logprobs when asked for, and how it was made."""

    text: str
    kind: PromptKind
    garbage: bool = False
    logprobs: list[dict[str, Any]] | None = None
    unmatched: int = 0


def _prefix_key(normalized: str) -> str:
    return " ".join(normalized.split(" ")[:_PREFIX_KEY_WORDS])


def _is_word_prefix(passage: str, document: str) -> bool:
    return document == passage or document.startswith(passage + " ")


@dataclass
class _Known:
    doc_id: str
    text: str  # normalized


class Knowledge:
    """Grades by query text and passage text, from reranking requests and qrels.

    >>> from llm_rerank.models import Document
    >>> k = Knowledge([RerankRequest("q1", "Q", [Document(id="d", text="Some  text here")])],
    ...               {"q1": {"d": 2}})
    >>> k.grade("q", "some text"), k.grade("q", "other"), k.grade("unknown", "some text")
    (2, 0, 0)
    """

    def __init__(self, requests: Iterable[RerankRequest],
                 qrels: Mapping[str, Mapping[str, int]]) -> None:
        self.qrels = {str(qid): {str(doc): int(grade) for doc, grade in docs.items()}
                      for qid, docs in qrels.items()}
        self.max_grade = max([1, *(g for docs in self.qrels.values() for g in docs.values())])
        self._query_ids: dict[str, list[str]] = {}
        self._by_query: dict[str, list[_Known]] = {}
        self._by_query_key: dict[tuple[str, str], list[_Known]] = {}
        self._global: dict[str, list[_Known]] = {}
        for request in requests:
            query = collapse_casefold(request.query)
            self._query_ids.setdefault(query, []).append(str(request.query_id))
            for position, document in enumerate(request.documents):
                doc_id = document.id if document.id is not None else str(position)
                known = _Known(doc_id, collapse_casefold(document.text))
                self._by_query.setdefault(query, []).append(known)
                self._by_query_key.setdefault((query, _prefix_key(known.text)), []).append(known)
                self._global.setdefault(_prefix_key(known.text), []).append(known)

    def knows_query(self, query: str) -> bool:
        return collapse_casefold(query) in self._query_ids

    def query_ids(self, query: str) -> list[str]:
        """The ids of the known queries with this text."""
        return list(self._query_ids.get(collapse_casefold(query), []))

    def find_documents(self, query: str, passage: str) -> list[str]:
        """Ids of the known documents whose text starts with ``passage``: the query's own
        candidates (exact matches first, then in input order) when any match, else any
        known document.

        A passage with words prepended (metadata lines) matches on the text after them, if
        at least ``_PREFIX_KEY_WORDS`` words or a whole document remain.
        """
        text = collapse_casefold(passage)
        if not text:
            return []
        found = self._starting_with(query, text)
        starts = (match.end() for match in re.finditer(" ", text))
        for start in itertools.islice(starts, _MAX_PREFIX_WORDS):
            if found:
                break
            found = self._after_prefix(query, text[start:])
        return list(dict.fromkeys(found))

    def _starting_with(self, query: str, text: str) -> list[str]:
        for candidates in (self._by_query.get(collapse_casefold(query), []),
                           self._global.get(_prefix_key(text), [])):
            exact = [known.doc_id for known in candidates if known.text == text]
            found = [known.doc_id for known in candidates if _is_word_prefix(text, known.text)]
            if found:
                return exact + found
        return []

    def _after_prefix(self, query: str, tail: str) -> list[str]:
        """Documents that ``tail`` (the passage after some prepended words) starts, when the
        tail is long enough to be telling or is a whole document."""
        long_enough = tail.count(" ") + 1 >= _PREFIX_KEY_WORDS
        key = _prefix_key(tail)
        for candidates in (self._by_query_key.get((collapse_casefold(query), key), []),
                           self._global.get(key, [])):
            found = [known.doc_id for known in candidates if _is_word_prefix(tail, known.text)
                     and (long_enough or known.text == tail)]
            if found:
                return found
        return []

    def lookup(self, query: str, passages: Sequence[str]) -> list[int | None]:
        """The qrels grade of each passage of one prompt (0 when unjudged); ``None`` for a
        passage that matches no known document, or any passage of an unknown query.

        Passages with the same text (duplicate documents) are matched to distinct documents
        in input order, so duplicates judged differently keep their own grades.
        """
        query_ids = self._query_ids.get(collapse_casefold(query))
        if not query_ids:
            return [None] * len(passages)
        used: set[str] = set()
        grades: list[int | None] = []
        for passage in passages:
            found = self.find_documents(query, passage)
            doc_id = next((d for d in found if d not in used), found[0] if found else None)
            if doc_id is None:
                grades.append(None)
                continue
            used.add(doc_id)
            grades.append(max(self.qrels.get(qid, {}).get(doc_id, 0) for qid in query_ids))
        return grades

    def grades(self, query: str, passages: Sequence[str]) -> list[int]:
        """``lookup`` with 0 for the passages it cannot identify."""
        return [grade or 0 for grade in self.lookup(query, passages)]

    def grade(self, query: str, passage: str) -> int:
        """The grade of one passage for ``query`` (see ``grades``)."""
        return self.grades(query, [passage])[0]


def _stable_seed(*parts: object) -> int:
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return int.from_bytes(hashlib.sha256(blob.encode("utf-8")).digest()[:8], "big")


class Judge:
    """Answers prompts as an LLM would if it knew the qrels (no HTTP; see ``JudgeServer``).

    ``requests`` are the known queries and candidates, ``qrels`` the grades
    (``{qid: {docid: grade}}``, unjudged = 0); ``aspects`` the known criteria of
    multi-part queries (``{qid: [Aspect(text, grades)]}``); keyword knobs are those of
    ``JudgeKnobs``.
    """

    def __init__(self, requests: Iterable[RerankRequest],
                 qrels: Mapping[str, Mapping[str, int]],
                 aspects: Mapping[str, Sequence[Aspect]] | None = None, **knobs: Any) -> None:
        try:
            self.knobs = JudgeKnobs(**knobs)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"judge knobs: {exc}") from exc
        self.knowledge = Knowledge(requests, qrels)
        self.aspects = {str(qid): list(found) for qid, found in (aspects or {}).items()}
        self.max_aspect_grade = max([1, *(g for found in self.aspects.values()
                                          for aspect in found for g in aspect.grades.values())])

    def known_aspects(self, query: str) -> list[Aspect]:
        """The known criteria of the query, in the order given."""
        return [aspect for qid in self.knowledge.query_ids(query)
                for aspect in self.aspects.get(qid, [])]

    def criterion_grades(self, prompt: ParsedPrompt) -> list[tuple[int, int]]:
        """Each criterion's grade for the prompt's passage and the scale's top grade."""
        found = self.knowledge.find_documents(prompt.query, prompt.passages[0].text)
        doc_id = found[0] if found else None
        by_text = {collapse_casefold(aspect.text): aspect
                   for aspect in self.known_aspects(prompt.query)}
        grades = []
        for criterion in prompt.criteria:
            aspect = by_text.get(collapse_casefold(criterion))
            if aspect is not None:
                grade = aspect.grades.get(doc_id, 0) if doc_id is not None else 0
                grades.append((grade, self.max_aspect_grade))
            elif collapse_casefold(criterion) == collapse_casefold(prompt.query):
                grades.append((self.knowledge.grade(prompt.query, prompt.passages[0].text),
                               self.knowledge.max_grade))
            else:
                grades.append((0, self.max_aspect_grade))
        return grades

    def _rng(self, messages: Sequence[Mapping[str, Any]], *extra: object) -> random.Random:
        return random.Random(_stable_seed(self.knobs.seed, list(messages), *extra))

    def error_status(self, messages: Sequence[Mapping[str, Any]], attempt: int) -> int | None:
        """429 or 503 when this attempt (0, 1, ... for the same messages) should fail."""
        if self.knobs.error_rate <= 0:
            return None
        rng = self._rng(messages, "error", attempt)
        return rng.choice((429, 503)) if rng.random() < self.knobs.error_rate else None

    def perceived(self, prompt: ParsedPrompt, known: Sequence[int | None],
                  rng: random.Random) -> list[float]:
        """Each passage's grade (``known``, from ``Knowledge.lookup``) as the judge perceives
        it: noise and position bias added."""
        count = len(prompt.passages)
        grades = []
        for position, grade in enumerate(float(g or 0) for g in known):
            grade += self.knobs.noise * rng.gauss(0.0, 1.0)
            if count > 1:
                grade += self.knobs.position_bias * (1 - position / (count - 1))
            grades.append(grade)
        return grades

    def answer(self, messages: Sequence[Mapping[str, Any]], logprobs: bool = False,
               kind: str | None = None) -> JudgeAnswer:
        """The answer to a prompt that asks ``kind`` (when ``None`` or unknown, the kind is
        read from the prompt; see ``parse_prompt``); raises ``UnrecognizedPrompt`` for a
        prompt it cannot read."""
        prompt = parse_prompt(messages, kind)
        rng = self._rng(messages)
        known = self.knowledge.lookup(prompt.query, [p.text for p in prompt.passages])
        answer = self._answer(prompt, self.perceived(prompt, known, rng), rng, logprobs)
        answer.unmatched = known.count(None)
        return answer

    def _answer(self, prompt: ParsedPrompt, grades: list[float], rng: random.Random,
                logprobs: bool) -> JudgeAnswer:
        if rng.random() < self.knobs.garbage_rate:
            text = garbage_answer(prompt, rng)
            return JudgeAnswer(text, prompt.kind, True, _plain_logprobs(text) if logprobs else None)
        if prompt.kind == "decompose":
            parts = [a.text for a in self.known_aspects(prompt.query)] or [prompt.query]
            text = "\n".join(f"{n}. {part}" for n, part in enumerate(parts, start=1))
            return JudgeAnswer(text, "decompose", False,
                               _plain_logprobs(text) if logprobs else None)
        if prompt.kind == "criteria":
            return self._criteria_answer(prompt, rng, logprobs)
        if prompt.kind == "pointwise":
            return self._label_answer(prompt, grades[0], logprobs)
        order = sorted(range(len(grades)), key=lambda i: (-grades[i], i))
        if prompt.kind == "listwise":
            text = " > ".join(f"[{prompt.passages[i].label}]" for i in order)
        else:
            text = f"Passage {prompt.passages[order[0]].label}"
        return JudgeAnswer(text, prompt.kind, False, _plain_logprobs(text) if logprobs else None)

    def _label_answer(self, prompt: ParsedPrompt, grade: float, logprobs: bool) -> JudgeAnswer:
        chosen, positions = _labelled(prompt.labels, grade / self.knowledge.max_grade, "")
        return JudgeAnswer(chosen, "pointwise", False, positions if logprobs else None)

    def _criteria_answer(self, prompt: ParsedPrompt, rng: random.Random,
                         logprobs: bool) -> JudgeAnswer:
        """``C1: yes`` lines, each label from the criterion's grade plus noise."""
        lines, positions = [], []
        for number, (grade, top) in enumerate(self.criterion_grades(prompt), start=1):
            perceived = grade + self.knobs.noise * rng.gauss(0.0, 1.0)
            prefix = f"{chr(10) if number > 1 else ''}C{number}:"
            label, label_positions = _labelled(prompt.labels, perceived / top, " ")
            lines.append(f"{prefix} {label}")
            positions += _plain_logprobs(prefix) + label_positions
        text = "".join(lines)
        return JudgeAnswer(text, "criteria", False, positions if logprobs else None)


def _labelled(labels: list[str], share: float, lead: str
              ) -> tuple[str, list[dict[str, Any]]]:
    """The label nearest ``share`` (0..1) of the scale, and logprob positions for it
    (written after ``lead``) whose first token's alternatives are every label's."""
    value = share * (len(labels) - 1)
    chosen = labels[min(len(labels) - 1, max(0, round(value)))]
    logits = [-_LABEL_SHARPNESS * (i - value) ** 2 for i in range(len(labels))]
    top = max(logits)
    total = math.log(sum(math.exp(x - top) for x in logits)) + top
    by_token: dict[str, float] = {}
    for label, logit in zip(labels, logits, strict=True):
        pieces = word_tokens(lead + label)
        token = pieces[0] if pieces else label
        by_token[token] = _log_add(by_token.get(token), logit - total)
    alternatives = sorted(by_token.items(), key=lambda item: -item[1])
    positions = _plain_logprobs(lead + chosen)
    pieces = word_tokens(lead + chosen)
    first = pieces[0] if pieces else chosen
    positions[0] = _position(first, by_token.get(first, 0.0), alternatives)
    return chosen, positions


def _log_add(current: float | None, value: float) -> float:
    if current is None:
        return value
    top = max(current, value)
    return top + math.log(math.exp(current - top) + math.exp(value - top))


def _position(token: str, logprob: float,
              alternatives: list[tuple[str, float]]) -> dict[str, Any]:
    return {
        "token": token, "logprob": logprob, "bytes": list(token.encode("utf-8")),
        "top_logprobs": [
            {"token": t, "logprob": lp, "bytes": list(t.encode("utf-8"))} for t, lp in alternatives
        ],
    }


def _plain_logprobs(text: str) -> list[dict[str, Any]]:
    """Certain (logprob 0) entries for every token of ``text``: OpenAI's ``logprobs.content``."""
    return [_position(token, 0.0, [(token, 0.0)]) for token in word_tokens(text) or [""]]


_CHATTER = (
    "I think all of these passages are relevant to the query in some way.",
    "As an AI language model, I cannot rank passages without more context.",
    "Sure! Here is my ranking of the passages based on relevance.",
)


def garbage_answer(prompt: ParsedPrompt, rng: random.Random) -> str:
    """A malformed answer: chatter, a truncated or out-of-range answer, or a reasoning block."""
    count = len(prompt.passages)
    style = rng.choice(("chatter", "truncated", "out_of_range", "think"))
    if style == "chatter":
        return rng.choice(_CHATTER)
    if style == "think":
        return "<think>Let me compare [1] and Passage A against the query carefully... "
    if prompt.kind == "listwise":
        shuffled = [p.label for p in prompt.passages]
        rng.shuffle(shuffled)
        if style == "truncated":
            return " > ".join(f"[{label}]" for label in shuffled[: max(1, count // 2)]) + " > ["
        bogus = [str(count + rng.randint(1, 9)), "0", shuffled[0], shuffled[0]]
        return " > ".join(f"[{label}]" for label in bogus)
    if prompt.kind == "pointwise":
        return prompt.labels[-1][:2] if style == "truncated" else "somewhat maybe"
    if style == "truncated":
        return "Passage"
    return f"Passage {chr(ord('A') + count + rng.randint(0, 3))}"
