"""Model-free token counting: each word and each punctuation mark is one token, with the
white space before it.

The HTTP server measures and cuts passages with it (it may front several models, so it uses
no model's tokenizer; subword tokenizers make at least as many tokens of a text, so a cut at
N keeps at most N words), and the simulated judge reports its usage in these tokens. A
model's own token count (for budgets and context windows) is the LLM client's
``count_tokens``, through LiteLLM.

>>> word_tokens("Paris, France.")
['Paris', ',', ' France', '.']
>>> count_word_tokens("[2] > [1], done"), truncate_word_tokens("one two, three four", 3)
(9, 'one two,')
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\s*(?:\w+|[^\w\s])")


def word_tokens(text: str) -> list[str]:
    """``text`` split into tokens that concatenate back to it (leading spaces kept;
    trailing white space dropped).

    >>> word_tokens("very likely")
    ['very', ' likely']
    """
    return _TOKEN.findall(text)


def count_word_tokens(text: str) -> int:
    """How many tokens ``text`` has (words and punctuation marks).

    >>> count_word_tokens("Passage A"), count_word_tokens("")
    (2, 0)
    """
    return sum(1 for _ in _TOKEN.finditer(text))


def truncate_word_tokens(text: str, max_tokens: int, direction: str = "right") -> str:
    """``text`` cut to its first (``direction="right"``) or last (``"left"``) ``max_tokens``
    tokens; unchanged when it is not longer.

    >>> truncate_word_tokens("one two three", 2, "left")
    'two three'
    """
    tokens = _TOKEN.findall(text)
    if len(tokens) <= max_tokens:
        return text
    if direction.lower() == "left":
        return "".join(tokens[-max_tokens:]).lstrip()
    return "".join(tokens[:max_tokens])
