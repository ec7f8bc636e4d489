"""A local cross-encoder baseline behind the same interface as the LLM rerankers.

Needs the ``cross-encoder`` extra (``pip install -e '.[cross-encoder]'`` in the clone): it runs a
sentence-transformers ``CrossEncoder`` (e.g. ``cross-encoder/ms-marco-MiniLM-L-6-v2``) on
each (query, document) pair. Score: the model's raw logit (``activation="none"``, default)
or its sigmoid (``activation="sigmoid"``, in [0, 1]); higher is better, ties keep input order.
The ``relevance_score`` is the sigmoid of the logit (the probability itself with
``activation="sigmoid"``).

>>> rr = CrossEncoderReranker("path/to/model", batch_size=16)  # doctest: +SKIP
>>> results = rr.rank("capital of France?", ["Berlin ...", "Paris ..."])  # doctest: +SKIP
>>> [r.document.text for r in results]  # doctest: +SKIP
['Paris ...', 'Berlin ...']

This module imports neither torch nor sentence-transformers until a model is built.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
from pathlib import Path
from typing import Any, Literal

from .errors import InvalidInput, RerankError
from .reranker import RankingContext, Reranker, Scored

Activation = Literal["none", "sigmoid"]
INSTALL_HINT = "pip install -e '.[cross-encoder]' (from the llm_rerank clone)"


def _looks_like_path(model: str) -> bool:
    """``./m``, ``/abs/m``, ``~/m`` or ``a/b/c`` are paths; ``org/name`` is a hub name."""
    return (model.startswith((".", "/", "~", "\\")) or model.count("/") >= 2
            or Path(model).expanduser().exists())


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


class CrossEncoderReranker(Reranker):
    """Rerank with a sentence-transformers cross-encoder, loaded once in ``__init__``.

    ``model`` is a Hugging Face model name or a local directory. A name is looked up in the
    local Hugging Face cache first and downloaded only when missing and ``HF_HUB_OFFLINE``
    is not set; a path is never looked up online. Loading in ``__init__`` means a missing
    extra or an unloadable model raises at construction, not on the first query.

    >>> rr = CrossEncoderReranker("./m", device="cpu", activation="sigmoid")  # doctest: +SKIP
    >>> rr.rank("q", ["a", "b"]).usage.llm_calls  # doctest: +SKIP
    0
    """

    name = "cross-encoder"

    def __init__(
        self,
        model: str = "cross-encoder/ms-marco-MiniLM-L-6-v2",
        *,
        batch_size: int = 32,
        device: str | None = None,
        max_length: int = 512,
        activation: Activation = "none",
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise InvalidInput(f"model must be a model name or a local path, got {model!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInput(f"batch_size must be a positive int, got {batch_size!r}")
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 8:
            raise InvalidInput(f"max_length must be an int >= 8, got {max_length!r}")
        if activation not in ("none", "sigmoid"):
            raise InvalidInput(f"activation must be 'none' or 'sigmoid', got {activation!r}")
        self.model = model
        self.batch_size = batch_size
        self.max_length = max_length
        self.activation = activation
        self._lock = threading.Lock()
        self._encoder, self._activation_fn = self._load(model, device, max_length, activation)
        self.device = str(self._encoder.device)

    @staticmethod
    def _load(model: str, device: str | None, max_length: int,
              activation: Activation) -> tuple[Any, Any]:
        try:
            import torch
            from sentence_transformers import CrossEncoder
        except ImportError as exc:
            raise InvalidInput(
                f"the cross-encoder reranker needs sentence-transformers and torch: {INSTALL_HINT}"
                f" ({exc})"
            ) from exc
        activation_fn = torch.nn.Sigmoid() if activation == "sigmoid" else torch.nn.Identity()

        def build(local_files_only: bool) -> Any:
            return CrossEncoder(model, device=device, max_length=max_length,
                                local_files_only=local_files_only)

        if _looks_like_path(model):
            path = Path(model).expanduser()
            if not path.is_dir():
                raise RerankError(f"cross-encoder model directory not found: {path}")
            try:
                return build(local_files_only=True), activation_fn
            except Exception as exc:
                raise RerankError(
                    f"cannot load the cross-encoder model at {path}: {type(exc).__name__}: {exc}"
                ) from exc
        try:
            return build(local_files_only=True), activation_fn
        except Exception as cached_exc:
            if _offline():
                raise RerankError(
                    f"cross-encoder model {model!r} is not in the local Hugging Face cache and "
                    "HF_HUB_OFFLINE is set, so it cannot be downloaded; pass a local model "
                    "directory instead"
                ) from cached_exc
        try:
            return build(local_files_only=False), activation_fn
        except Exception as exc:
            raise RerankError(
                f"cannot load cross-encoder model {model!r}: it is not in the local Hugging Face "
                f"cache and the hub is not reachable or has no such model ({type(exc).__name__}: "
                f"{exc}); download it once with network access, or pass a local model directory"
            ) from exc

    def score_kind(self) -> str:
        return "probability" if self.activation == "sigmoid" else "logit"

    def relevance(self, score: float) -> float:
        if self.activation == "sigmoid":
            return score
        return 0.5 * (1.0 + math.tanh(score / 2))  # the sigmoid, without overflow

    def predict(self, query: str, texts: list[str]) -> list[float]:
        """Scores of ``(query, text)`` pairs, in input order (blocking; one call at a time)."""
        with self._lock:
            scores = self._encoder.predict(
                [(query, text) for text in texts], batch_size=self.batch_size,
                activation_fn=self._activation_fn, show_progress_bar=False,
                convert_to_numpy=True,
            )
        return [float(score) for score in scores]

    async def _order(self, ctx: RankingContext) -> list[Scored]:
        scores = await asyncio.to_thread(
            self.predict, ctx.query, [document.text for document in ctx.documents]
        )
        order = sorted(range(len(scores)), key=lambda index: -scores[index])  # stable: ties
        return [Scored(index, scores[index]) for index in order]
