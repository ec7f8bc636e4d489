"""A tiny random BERT cross-encoder built on disk, for tests that must not download models.

>>> path = build_tiny_cross_encoder(tmp_dir)  # doctest: +SKIP
>>> CrossEncoder(str(path)).predict([("query", "passage")])  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

_built: Path | None = None

_WORDS = [
    "the", "a", "of", "and", "to", "in", "is", "for", "on", "with", "what", "how", "why",
    "when", "who", "does", "do", "can", "are", "was", "flea", "cycle", "life", "year", "long",
    "paris", "capital", "france", "cat", "dog", "water", "river", "city", "bank", "money",
    "rain", "sun", "moon", "star", "car", "road", "house", "tree", "book", "school",
]

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *_WORDS, *[f"##{c}" for c in
         "abcdefghijklmnopqrstuvwxyz"], *"abcdefghijklmnopqrstuvwxyz0123456789.,?!<>/"]


def build_tiny_cross_encoder(directory: Path, seed: int = 0) -> Path:
    """Save a randomly initialised 2-layer BERT with one output label to ``directory``.

    Returns the directory, loadable by ``sentence_transformers.CrossEncoder(str(path))``.
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    vocab_file = directory / "vocab.txt"
    vocab_file.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=512, num_labels=1,
        initializer_range=0.2,  # large weights: scores that differ clearly between texts
    )
    BertForSequenceClassification(config).eval().save_pretrained(directory)
    # transformers 5 names the argument ``vocab``; 4.x names it ``vocab_file``
    vocab_arg = "vocab" if "vocab" in inspect.signature(BertTokenizerFast.__init__).parameters \
        else "vocab_file"
    tokenizer = BertTokenizerFast(**{vocab_arg: str(vocab_file)}, do_lower_case=True)
    tokenizer.save_pretrained(directory)
    return directory


def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model's directory, built once per test session (skips without the extra)."""
    global _built
    pytest.importorskip("sentence_transformers", reason="needs the cross-encoder extra")
    if _built is None:
        _built = build_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder"))
    return _built
