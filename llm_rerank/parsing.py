"""Total, linear-time parsers for LLM answers, which are untrusted text.

Every parser accepts any string (and any logprob table: NaN, infinite or huge values,
empty tokens) without raising, returns ``None`` or an empty list for an unusable answer,
and runs in time linear in the answer's length: reasoning blocks are dropped in one pass
over the text, no pattern can backtrack over the same text twice, numbers are converted
only when short, and what follows the reasoning is read up to ``MAX_ANSWER_CHARS``
(20,000 characters: its first and last 10,000 when longer; these prompts ask for a few
words), so a 1 MB hostile answer parses in milliseconds.

Reading rules, the same in every strategy:

- Reasoning: everything from the first ``<think>`` (or ``<thinking>``, any case) to the
  last ``</think>`` is dropped (text between two blocks goes with them), and so is the
  tail after an unclosed ``<think>`` (a cut-off answer); text before a ``</think>`` that
  closes nothing is dropped too (the model's chat template opened the block).
- Permutations (listwise): bracketed ids (``[2] > [1]``) are read in order wherever they
  are; without brackets, only a *run* of numbers separated by ``>``, commas or spaces
  counts (preferring a run with ``>``, then the longest), so chatter such as "20 passages"
  is ignored. A lone number is read only when it is the whole answer.
- Passage choice (pairwise, setwise): the answer is cut into clauses at ``. , ; ! ?`` and
  line breaks, and at "but", "while", "whereas", ... between two passages. The first
  clause with a comparison cue ("more", "best", "less", "worse", "irrelevant", ...) or a
  negation ("not", "n't", "no", ...) that picks a passage decides: "A is less relevant
  than B" picks B, "B is better than A" picks B, "B is worse" or "A is not relevant"
  picks the other passage when there are two (with more, no pick). Otherwise the first
  clause naming exactly one passage decides. Conflicting cues ("more" and "less") or two
  passages named without a comparison give no pick from that clause.
- Labels (pointwise): the earliest label mentioned, the longest at the same place. A
  label after a negation ("not", "no", "never", "un-", "non-", optionally with "very",
  "really", "at all", ... in between) reads as the label just below it ("not likely" ->
  "unlikely", "not very likely" -> "likely"); a negated lowest label ("not unlikely")
  has no confident reading and gives ``None``. A negation does not reach across
  punctuation: "Not sure, likely" reads "likely".
- Label probabilities (pointwise logprobs), from one token position's top alternatives
  ``t`` with probabilities ``p_t = exp(min(logprob_t, 0))`` (NaN dropped), divided by their
  sum when it exceeds 1 (tokens over 100 characters match nothing). Formatting tokens
  (only spaces or punctuation) carry mass ``F``:
  they postpone the answer, so the rest is conditioned on them not being chosen. A token
  matching exactly one label ``L`` adds to ``m_L``. The mass no label accounts for
  (non-label words such as "not" or "The", ambiguous prefixes, and everything outside the
  top alternatives) is not renormalised away; it goes to a fallback label ``R`` (the
  reranker uses the label read from the answer text, the one continuation observed, else
  the lowest label)::

      q_L  = m_L / (1 - F)
      P(L) = q_L + [L == R] * (1 - sum_K q_K)

  Without ``R`` the ``q_L`` are returned as they are (they sum to the covered mass, at
  most 1); with no matching token at all there is no distribution (``None``).

  So ``{"not": -0.1, "likely": -2.0}`` with answer "not likely" gives P(likely) = 0.13
  and P(unlikely) = 0.87, not P(likely) = 1.

>>> parse_permutation("<think>hmm [9]</think> Ranking: [2] > [1] > [2] > [7]", 3)
[1, 0]
>>> parse_permutation("Of the 20 passages, the order is 3, 1, 2", 20)
[2, 0, 1]
>>> parse_passage_choice("Passage A is less relevant than Passage B.", "AB")
1
>>> parse_label("Not very likely.", {"unlikely": 0, "likely": 1, "very likely": 2})
'likely'
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

# --- reasoning blocks ------------------------------------------------------------------

MAX_ANSWER_CHARS = 20_000
_OPEN_TAG = re.compile(r"<think(?:ing)?>", re.IGNORECASE)
_UP_TO_LAST_CLOSE = re.compile(r".*</think(?:ing)?>", re.DOTALL | re.IGNORECASE)


def strip_reasoning(text: str) -> str:
    """The answer without its reasoning: everything from the first ``<think>`` to the last
    ``</think>`` is dropped, so is an unclosed block's tail (a cut-off answer), and so is
    the text before a ``</think>`` that closes nothing.

    >>> strip_reasoning("[2] <think>a <think> b</think> [1] <THINK>cut off")
    '[2]  [1]'
    >>> strip_reasoning("reasoning whose tag was in the prompt</think> Passage B")
    'Passage B'
    """
    last_close = _UP_TO_LAST_CLOSE.match(text)  # greedy: one backward scan from the end
    end = last_close.end() if last_close else 0
    tail = text[end:]
    cut = _OPEN_TAG.search(tail)
    if cut:
        tail = tail[: cut.start()]
    first_open = _OPEN_TAG.search(text, 0, end)
    head = ""
    if first_open is not None:
        head = text[: first_open.start()]
        stray = _UP_TO_LAST_CLOSE.match(head)
        if stray:
            head = head[stray.end():]
    return (head + tail).strip()


def answer_text(text: str) -> str:
    """The part of an answer the parsers read: reasoning dropped, and an answer longer
    than ``MAX_ANSWER_CHARS`` cut to its first and last halves of that length.

    >>> len(answer_text("<think>why</think>" + "x" * 50_000)) == MAX_ANSWER_CHARS + 1
    True
    """
    answer = strip_reasoning(text)
    if len(answer) <= MAX_ANSWER_CHARS:
        return answer
    half = MAX_ANSWER_CHARS // 2
    return f"{answer[:half]}\n{answer[-half:]}"


# --- listwise permutations -------------------------------------------------------------

_BRACKETED = re.compile(r"[\[［【]\s*(\d+)\s*[\]］】]")
_NUMBER = re.compile(r"\d+")
# Numbers joined by separators; \d and the separators are disjoint, so a run is matched
# in one pass.
_RUN = re.compile(r"\d+(?:[\s>,，、]+\d+)*")
_MAX_ID_DIGITS = 18  # longer numbers are no id (and int() of them could be slow or fail)


def _ids(numbers: list[str], size: int) -> list[int]:
    """0-based ids in 0..size-1 from number strings, first mention kept."""
    seen: dict[int, None] = {}
    for number in dict.fromkeys(numbers):  # duplicates collapse before any int()
        digits = number.lstrip("0")
        if len(digits) <= _MAX_ID_DIGITS:
            index = int(digits or "0") - 1
            if 0 <= index < size:
                seen.setdefault(index, None)
    return list(seen)


def parse_permutation(text: str, size: int) -> list[int]:
    """0-based indices named in an answer like ``[2] > [1] > [3]``, first mention kept.

    Bracketed ids win when present (so chatter such as "20 passages" is ignored);
    otherwise the ids come from the best run of numbers joined by ``>``, commas or spaces
    (a run with ``>`` first, then the longest), or from the whole answer when it is one
    number. Unicode digits are read; ids outside 1..size are dropped. Ids the answer left
    out are *not* added: the caller decides where they go. ``[]`` when nothing is usable.

    >>> parse_permutation("I ranked 3 passages: 2 > 3 > 1", 3)
    [1, 2, 0]
    >>> parse_permutation("Passage 2 is about cats.", 3)
    []
    """
    answer = answer_text(text)
    bracketed = _BRACKETED.findall(answer)
    if bracketed:
        return _ids(bracketed, size)
    runs = [run for run in _RUN.findall(answer) if not run.isdecimal()]
    ranked = [run for run in runs if ">" in run] or runs
    if ranked:
        return _ids(_NUMBER.findall(max(ranked, key=len)), size)
    return _ids([answer], size) if answer.isdecimal() else []


# --- passage choice (pairwise, setwise) ------------------------------------------------

_CLAUSE_END = re.compile(r"[.!?;,\n]")
_UP_TO_LAST_CLAUSE_END = re.compile(r".*[.!?;,\n]", re.DOTALL)
_CONTRAST = re.compile(r"\b(?:but|while|whilst|whereas|however|although|though)\b",
                       re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+")
_BETTER = frozenset({"more", "most", "better", "best", "higher", "highest", "greater",
                     "stronger", "superior", "prefer", "preferred", "preferable", "outranks",
                     "beats", "wins"})
_WORSE = frozenset({"less", "least", "worse", "worst", "lower", "lowest", "weaker",
                    "inferior", "irrelevant", "loses"})
_NOT = frozenset({"not", "no", "never", "neither", "nor", "cannot", "hardly", "barely"})
_CONNECTORS = frozenset({"than", "over", "to", "as", "versus", "vs"})
_NON_WORD = re.compile(r"[\W_]+")
_MAX_CLAUSES = 200  # clauses naming a passage read per answer (bounds hostile answers)


def _variants(label: str) -> tuple[str, ...]:
    """The spellings of a label a "Passage X" mention may use: as given, lower, upper."""
    return label, label.lower(), label.upper()


@lru_cache(maxsize=256)
def _mention_pattern(labels: tuple[str, ...], named: bool) -> re.Pattern[str]:
    """"Passage X" (X in any case) when ``named``, else a bare X as written, for X in
    labels. Cases are spelled out, not left to IGNORECASE, so every match is a key of
    the variants' index (IGNORECASE would also match "İ" for "I")."""
    spellings = {variant for label in labels for variant in _variants(label)} if named else {
        *labels}
    choice = "|".join(re.escape(spelling) for spelling in sorted(spellings, key=len,
                                                                    reverse=True))
    if named:
        return re.compile(rf"\b(?i:passage)[\s\"'(\[*:]+(?P<label>{choice})(?!\w)")
    return re.compile(rf"(?<![A-Za-z])(?P<label>{choice})(?![A-Za-z])")


def _words(text: str) -> set[str]:
    """The lowercased words of ``text``, "n't" read as "not"."""
    lowered = text.lower()
    words = set(_WORD.findall(lowered))
    if "n't" in lowered or "n’t" in lowered:
        words.add("not")
    return words


def parse_passage_choice(text: str, labels: Sequence[str]) -> int | None:
    """Position in ``labels`` of the passage an answer picks, or ``None``.

    Reads "Passage C", "passage c", "(C)", "C." and chatter around them, comparisons
    ("B is better than A", "A is less relevant than B") and negations ("Passage A is not
    relevant"): see the module docstring. Bare capitals count only when no "Passage X"
    names a label. At most the first 200 clauses naming a passage are read.

    >>> parse_passage_choice("I think **Passage b** is best.", "ABC")
    1
    >>> parse_passage_choice("<think>Passage A?</think> The answer is C.", "ABC")
    2
    >>> parse_passage_choice("A or C", "ABC") is None
    True
    >>> parse_passage_choice("Passage A covers cats, Passage B answers it better.", "AB")
    1
    """
    answer = answer_text(text)
    keys = tuple(label for label in labels if label)
    index: dict[str, int] = {}  # every spelling of a label -> its position
    for position, label in enumerate(labels):
        for variant in _variants(label) if label else ():
            index.setdefault(variant, position)
    if not index:
        return None
    if len(answer) <= 32:
        bare = _NON_WORD.sub("", answer)
        if bare in index:
            return index[bare]
    named = _mention_pattern(keys, True).search(answer) is not None
    reader = _ClauseReader(answer, keys, index, named)
    pos, weak = 0, None
    for _ in range(_MAX_CLAUSES):
        mention = reader.mentions.search(answer, pos)
        if mention is None:
            break
        before = _UP_TO_LAST_CLAUSE_END.match(answer, pos, mention.start())
        start = before.end() if before else pos
        after = _CLAUSE_END.search(answer, mention.end())
        end, pos = (after.start(), after.end()) if after else (len(answer), len(answer))
        verdict, strong, contrast = reader.verdict(start, end, mention)
        if verdict is not None and strong:
            return verdict
        if weak is None:
            weak = verdict
        if contrast is not None:
            pos = contrast
    return weak


class _ClauseReader:
    """Reads the passage one clause of an answer picks."""

    def __init__(
        self, answer: str, labels: tuple[str, ...], index: dict[str, int], named: bool
    ) -> None:
        self.answer, self.labels, self.index, self.named = answer, labels, index, named
        self.mentions = _mention_pattern(labels, named)

    def label(self, mention: re.Match[str]) -> int:
        return self.index[mention.group("label")]

    def verdict(
        self, start: int, end: int, first: re.Match[str]
    ) -> tuple[int | None, bool, int | None]:
        """The position the clause ``answer[start:end]`` picks (``first`` is its first
        mention), whether it said so with a comparison cue or a negation, and where the
        next clause starts when a contrast ("but", "while") cuts this one short."""
        answer, chosen = self.answer, self.label(first)
        others = tuple(label for label in self.labels if self.index[label] != chosen)
        second = (_mention_pattern(others, self.named).search(answer, first.end(), end)
                  if others else None)
        contrast = None
        if second is not None:
            cut = _CONTRAST.search(answer, first.end(), second.start())
            if cut is not None:
                end, contrast, second = cut.start(), cut.end(), None
        words = _words(answer[start:end])
        better, worse, negated = bool(words & _BETTER), bool(words & _WORSE), bool(words & _NOT)
        strong = better or worse or negated
        if better and worse:
            return None, strong, contrast  # conflicting cues: no reading from this clause
        positive = worse == negated  # "less" or "not" flip the reading; both cancel out
        if second is not None:
            between = _words(answer[first.end():second.start()])
            if not strong or not between & _CONNECTORS:
                return None, strong, contrast  # two passages named and not compared
            return (chosen if positive else self.label(second)), True, contrast
        if positive:
            return chosen, strong, contrast
        rest = set(self.index.values()) - {chosen}
        return (rest.pop() if len(rest) == 1 else None), True, contrast  # the other one


# --- pointwise labels ------------------------------------------------------------------

_CONTRACTED_NOT = re.compile(r"n['’]t\b", re.IGNORECASE)
_UP_TO_LAST_BREAK = re.compile(r".*(?:[,;!?\n]|[.:](?!\w))", re.DOTALL)
_MAX_TOKEN_CHARS = 100  # a longer "token" is content that matches no label
_NEGATIONS = frozenset({"not", "no", "never", "neither", "nor", "cannot", "hardly", "barely",
                        "un", "non"})
_FILLERS = frozenset({"very", "so", "that", "too", "really", "quite", "at", "all", "even",
                      "exactly", "particularly", "especially", "entirely", "terribly"})


def lowercase_words(text: str) -> str:
    """Lowercase words separated by single spaces: ``' "Very-likely."'`` -> ``'very likely'``."""
    return _NON_WORD.sub(" ", text.lower()).strip()


@lru_cache(maxsize=256)
def _label_pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    """Whole-word mentions of normalised labels in lowercased text, any punctuation
    between their words, the longest first at one place."""
    choice = "|".join(r"[\W_]+".join(re.escape(word) for word in name.split())
                      for name in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![^\W_])(?:{choice})(?![^\W_])")


def ends_in_negation(before: str) -> bool:
    """Whether the lowercased text ``before`` a mention ends in a negation, allowing up to
    two fillers in between ("not at all likely"); punctuation such as "," or "." between
    them stops the search ("Not sure, likely")."""
    window = before[-64:]
    clause_end = _UP_TO_LAST_BREAK.match(window)
    words = lowercase_words(_CONTRACTED_NOT.sub(" not", window[clause_end.end():] if clause_end
                                          else window)).split()
    if len(before) > 64 and clause_end is None:
        words = words[1:]  # the first word may be cut
    for word in reversed(words[-3:]):
        if word in _NEGATIONS:
            return True
        if word not in _FILLERS:
            return False
    return False


def parse_label(text: str, labels: Mapping[str, float]) -> str | None:
    """The label an answer names, or ``None``: the earliest mention, the longest label
    first when several start there ("very likely" beats "likely"); whole words only, so
    "unlikely" is not read as "likely". Case, quotes, punctuation and ``<think>`` are
    ignored. ``labels`` run from least to most relevant: a negated label reads as the one
    below it, and a negated lowest label as ``None`` (see the module docstring).

    >>> scale = {"unlikely": 0, "likely": 1, "very likely": 2}
    >>> parse_label("**Likely.**", scale), parse_label("Not likely", scale)
    ('likely', 'unlikely')
    >>> parse_label("It isn't unlikely", scale) is None
    True
    """
    order = list(labels)
    names = {lowercase_words(label): position for position, label in enumerate(order)}
    names.pop("", None)
    if not names:
        return None
    answer = answer_text(text).lower()
    mention = _label_pattern(tuple(names)).search(answer)
    if mention is None:
        return None
    position = names[lowercase_words(mention.group())]
    if ends_in_negation(answer[max(mention.start() - 80, 0): mention.start()]):
        return order[position - 1] if position > 0 else None
    return order[position]


def token_probability(logprob: float) -> float:
    """``exp(logprob)`` clamped to [0, 1]; NaN gives 0."""
    return 0.0 if math.isnan(logprob) else math.exp(min(logprob, 0.0))


def label_names(labels: Mapping[str, float]) -> dict[str, str]:
    """Each label's normalised name (``lowercase_words``), as tokens are matched to it."""
    return {label: lowercase_words(label) for label in labels}


def label_of_token(token: str, names: Mapping[str, str]) -> str | None:
    """The one label a token stands for: the label it spells (spaces, punctuation and case
    ignored), else the only label it starts ("un" -> "unlikely", " very" -> "very
    likely"); ``None`` for formatting, ambiguous prefixes, other words and tokens over
    100 characters.

    >>> names = label_names({"unlikely": 0, "likely": 1, "very likely": 2})
    >>> label_of_token(" Very", names), label_of_token("The", names), label_of_token("", names)
    ('very likely', None, None)
    """
    if len(token) > _MAX_TOKEN_CHARS or not (piece := lowercase_words(token)):
        return None
    exact = [label for label, name in names.items() if name == piece]
    matched = exact or [label for label, name in names.items() if name.startswith(piece)]
    return matched[0] if len(matched) == 1 else None


def label_probabilities(
    top: Mapping[str, float], labels: Mapping[str, float], rest: str | None = None
) -> dict[str, float] | None:
    """Label probabilities from one token position's top logprobs (formula in the module
    docstring): a token matching exactly one label (it is the label, or the start of only
    that label: "un" -> "unlikely") gives it its mass; formatting tokens are conditioned
    away; a token over 100 characters matches nothing. The mass no label accounts for
    goes to ``rest``, or nowhere when ``rest`` is ``None`` (the values then sum to the
    covered mass, at most 1). ``None`` when no token matches a label.

    >>> scale = {"unlikely": 0, "likely": 1, "very likely": 2}
    >>> found = label_probabilities({"not": -0.1, "likely": -2.0}, scale, rest="unlikely")
    >>> {label: round(p, 2) for label, p in found.items()}
    {'unlikely': 0.87, 'likely': 0.13, 'very likely': 0.0}
    """
    probabilities = {token: token_probability(logprob) for token, logprob in top.items()}
    total = sum(probabilities.values())
    scale = max(total, 1.0)
    names = label_names(labels)
    mass = dict.fromkeys(labels, 0.0)
    formatting = 0.0
    for token, probability in probabilities.items():
        if len(token) <= _MAX_TOKEN_CHARS and not lowercase_words(token):
            formatting += probability / scale
        elif (label := label_of_token(token, names)) is not None:
            mass[label] += probability / scale
    covered = sum(mass.values())
    if covered <= 0.0 or formatting >= 1.0:
        return None
    found = {label: p / (1.0 - formatting) for label, p in mass.items()}
    covered = sum(found.values())
    if covered > 1.0:  # rounding only
        found = {label: p / covered for label, p in found.items()}
        covered = 1.0
    if rest is not None and rest in found:
        found[rest] += 1.0 - covered
    return found
