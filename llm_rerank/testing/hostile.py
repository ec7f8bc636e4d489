"""Hostile LLM answers for robustness tests and benchmarks: 1 MB bombs and fuzzed answers.

``bomb(name)`` builds one answer of a named adversarial family (think-tag, whitespace,
digit, bracket, label and clause bombs) at 1 MB; ``hostile_answer(rng)`` joins a few
fragments that stress every parser (reasoning tags, brackets, huge and Unicode digit runs,
passage letters, comparison cues, negated labels, odd Unicode); ``hostile_logprobs(rng)``
builds top-logprob tables with NaN, infinite, huge and empty entries.

>>> len(bomb("think_open")), bomb("think_open")[:14]
(1000000, '<think><think>')
>>> import random
>>> isinstance(hostile_answer(random.Random(0)), str)
True
"""

from __future__ import annotations

import math
import random

BOMB_SIZE = 1_000_000

# name -> (head, repeated unit, tail); the unit fills the answer up to the size.
_BOMBS: dict[str, tuple[str, str, str]] = {
    "think_open": ("", "<think>", ""),
    "think_close": ("", "</think>", ""),
    "think_pairs": ("", "<think></think>x", ""),
    "think_unclosed": ("[1] > [2] <think>", "x", ""),
    "whitespace_after_passage": ("Passage", " ", "!"),
    "whitespace_only": ("", " ", ""),
    "newlines": ("", "\n", ""),
    "passage_repeated": ("", "Passage ", ""),
    "digit_run": ("", "1", ""),
    "digit_run_bracketed": ("[", "7", "]"),
    "digits_commas": ("", "1, ", ""),
    "digits_gt": ("", "12 > ", ""),
    "digits_and_words": ("", "1 a ", ""),
    "brackets_repeated": ("", "[1] > ", ""),
    "open_brackets": ("", "[", ""),
    "bracket_then_spaces": ("[", " ", "1"),
    "unicode_digits": ("", "٣ > ", ""),
    "unicode_digits_bracketed": ("", "[١]", ""),
    "label_repeated": ("", "likely ", ""),
    "negated_labels": ("", "not very likely ", ""),
    "negations_then_label": ("", "not ", "likely"),
    "cue_words": ("", "better ", ""),
    "letters_or": ("", "A or B, ", ""),
    "self_comparison": ("", "Passage A is better than Passage A, ", ""),
    "capital_letters": ("", "A B C D ", ""),
    "punctuation": ("", ",.", ""),
}
BOMBS = tuple(_BOMBS)

FRAGMENTS = (
    "<think>", "</think>", "<thinking>", "</THINKING>", "<think", "think>", "</think",
    "[", "]", "［", "］", "【", "】", "[1]", "[2]", "[3]", "[20]", "[0]", "[99]", "[ 2 ]",
    " > ", ">", ", ", ",", " ", "\n", "，", "、", "1", "2", "3", "20", "0", "007",
    "٣", "१", "３", "𝟑", "²", "Passage", "passage", "Passages", "Passage A", "Passage B",
    "passage c", "(B)", "**D**", "A", "B", "C", "I", "a", "b", "is", "more relevant",
    "less relevant", "than", "as", "to", "over", "not", "n't", "isn't", "no", "never",
    "but", "while", "better", "worse", "best", "least", "irrelevant", "The answer is",
    "Of the 20 passages", "likely", "very likely", "unlikely", "Likely", "VERY", "un-",
    "non-", "very", "at all", "yes", "No", "**", '"', ".", ":", "İ", "ſ", "K", "\u200b",
    "\x00", "🙂", "\u0301", "\u202e", "\ufeff", "\t",
)
_DIGITS = "0123456789٠١٢٣٤٥٦٧٨٩०१२३४५६७८९０１２３４５６７８９𝟎𝟏𝟐𝟑"


def bomb(name: str, size: int = BOMB_SIZE) -> str:
    """The adversarial answer ``name`` (one of ``BOMBS``), ``size`` characters long."""
    head, unit, tail = _BOMBS[name]
    count = max(size - len(head) - len(tail), 0) // len(unit)
    return (head + unit * count + tail).ljust(size)


def _fragment(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.7:
        return rng.choice(FRAGMENTS)
    if roll < 0.8:
        return str(rng.randint(0, 30))
    if roll < 0.85:
        return "".join(rng.choice(_DIGITS) for _ in range(rng.randint(1, 6)))
    if roll < 0.9:
        return rng.choice("19[ ") * rng.randint(10, 6000)  # over Python's int-string limit
    if roll < 0.95:
        return " " * rng.randint(1, 300)
    return "".join(chr(rng.randint(0, 0x2FFF)) for _ in range(rng.randint(1, 8)))


def hostile_answer(rng: random.Random, fragments: int = 12) -> str:
    """Up to ``fragments`` hostile pieces joined, sometimes with spaces."""
    pieces = [_fragment(rng) for _ in range(rng.randint(0, fragments))]
    return (" " if rng.random() < 0.5 else "").join(pieces)


_LOGPROBS = (0.0, -0.1, -1.0, -5.0, 3.0, 1000.0, -1000.0, math.nan, math.inf, -math.inf, 1e308)
_TOKENS = ("likely", " very", "very", "un", "Unlikely", "l", "not", "The", "", " ", "**", '"',
           "yes", "no", "1", "10", "Passage", "[1]", "<think>", "İ")


def hostile_logprobs(rng: random.Random) -> list[dict[str, float]]:
    """Top-logprob tables for a few token positions, with hostile values and tokens."""
    return [
        {rng.choice(_TOKENS): rng.choice(_LOGPROBS) for _ in range(rng.randint(1, 6))}
        for _ in range(rng.randint(0, 3))
    ]
