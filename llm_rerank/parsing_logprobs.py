"""Where a pointwise answer's label sits among its tokens, and the grammar that puts it first.

Real small models seldom answer with the bare label: SmolLM2-135M answers "The passage is
likely to ..." or '"unlikely"', so the label's alternatives are at the fourth or second
token position, not the first. Like every parser here, these functions are total (any
logprob table, NaN and infinities included) and bounded (at most ``MAX_POSITIONS``
positions are read).

Reading rules (``answer_label_position``), on the positions' top alternatives, taking each
position's most likely alternative as the token chosen there (greedy decoding):

- the first position whose chosen token stands for a label (``label_of_token``: "un",
  " very", "Likely") is where the label starts;
- else the position whose alternatives put the most probability on labels (the model
  weighed a label there and wrote something else: "The passage is *not* answerable");
- positions after a negation in the chosen text are never read ("Not likely": reading
  "likely" there would invert the answer), so the caller falls back to the answer text.

Under a grammar that allows only the labels, servers (llama.cpp, vLLM) report the raw
alternatives, before the grammar: the first position is the label's, and the labels'
shares of the mass on label tokens are the probabilities the constrained model chose by
(``constrained_label_probabilities``).

>>> scale = {"unlikely": 0, "likely": 1, "very likely": 2}
>>> positions = [{"The": -1.2, "You": -3.2}, {" passage": -0.1}, {" is": -1.8},
...              {" likely": -2.2, " very": -2.3, " not": -2.4}]
>>> answer_label_position(positions, scale) is positions[3]
True
>>> found = constrained_label_probabilities({"The": -1.0, "un": -4.0, "very": -4.0}, scale)
>>> {label: round(p, 2) for label, p in found.items()}
{'unlikely': 0.5, 'likely': 0.0, 'very likely': 0.5}
>>> print(label_grammar(scale))
root ::= "unlikely" | "likely" | "very likely"
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from .parsing import (
    ends_in_negation,
    label_names,
    label_of_token,
    label_probabilities,
    token_probability,
)

MAX_POSITIONS = 64  # token positions read per answer (pointwise answers are a few tokens)
_PREFIX_CHARS = 256  # of the chosen text kept to look for a negation before a position


def answer_label_position(
    logprobs: Sequence[Mapping[str, float]], labels: Mapping[str, float]
) -> Mapping[str, float] | None:
    """The top alternatives of the position where the answer's label is chosen (rules in
    the module docstring); ``None`` when no position before a negation weighs a label."""
    names = label_names(labels)
    chosen_text = ""
    best: Mapping[str, float] | None = None
    best_mass = 0.0
    for top in logprobs[:MAX_POSITIONS]:
        if ends_in_negation(chosen_text.lower()):
            break
        finite = [(logprob, token) for token, logprob in top.items() if not math.isnan(logprob)]
        chosen = max(finite)[1] if finite else ""
        if label_of_token(chosen, names) is not None:
            return top
        mass = sum(token_probability(logprob) for token, logprob in top.items()
                   if label_of_token(token, names) is not None)
        if mass > best_mass:
            best, best_mass = top, mass
        chosen_text = (chosen_text + chosen)[-_PREFIX_CHARS:]
    return best


def constrained_label_probabilities(
    top: Mapping[str, float], labels: Mapping[str, float]
) -> dict[str, float] | None:
    """Label probabilities at the first position of an answer constrained to the labels:
    each label's share of the probability on tokens that stand for a label (summing to 1);
    ``None`` when no alternative stands for a label."""
    found = label_probabilities(top, labels)
    total = sum(found.values()) if found else 0.0
    if not found or not total > 0.0:
        return None
    return {label: p / total for label, p in found.items()}


def _gbnf_literal(text: str) -> str:
    for raw, escaped in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"),
                         ("\t", "\\t")):
        text = text.replace(raw, escaped)
    return f'"{text}"'


def label_grammar(labels: Mapping[str, float]) -> str:
    """A GBNF grammar (llama.cpp's ``grammar`` field) whose only sentences are the labels."""
    return "root ::= " + " | ".join(_gbnf_literal(label) for label in labels)
