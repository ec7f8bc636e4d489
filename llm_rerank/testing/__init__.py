"""Test doubles for LLM reranking: an in-process fake provider and a simulated judge server."""

from __future__ import annotations

from .fake import FakeAnswer, FakeLLM, fake_llm

__all__ = ["FakeAnswer", "FakeLLM", "fake_llm"]
