"""Test doubles for LLM reranking: an in-process fake provider and a simulated judge server."""

from __future__ import annotations

from .fake import FakeAnswer, FakeLLM, fake_llm
from .judge import Judge, JudgeKnobs
from .prompt_reading import UnrecognizedPrompt
from .server import JudgeServer, JudgeStats

__all__ = [
    "FakeAnswer", "FakeLLM", "Judge", "JudgeKnobs", "JudgeServer", "JudgeStats",
    "UnrecognizedPrompt", "fake_llm",
]
