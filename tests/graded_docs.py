"""Documents that carry a hidden grade in their text ("doc 7 grade 3"), for fake judges."""

from __future__ import annotations

N = 20
GRADES = [(7 * i) % N for i in range(N)]  # a shuffled 0..19, hidden from the reranker
BEST_FIRST = sorted(range(N), key=lambda i: -GRADES[i])


def prompt(messages: list[dict[str, str]]) -> str:
    """The first user message: where the passages are (a re-ask after an unusable answer
    appends the answer and a reminder; the fake judges answer the question again)."""
    return next(m["content"] for m in messages if m["role"] == "user")


def docs(grades: list[int]) -> list[str]:
    return [f"doc {i} grade {grade}" for i, grade in enumerate(grades)]
