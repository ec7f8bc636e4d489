"""The registry of strategies: names to ``Reranker`` classes, imported on first use.

Built-in strategies are registered here as ``"module:Class"`` strings; third-party packages
add theirs with ``register_reranker`` or an entry point in the ``llm_rerank.strategies``
group. ``reranker_names()`` is the one list of strategy names.

>>> reranker = get_reranker("listwise", model="openai/gpt-4o-mini", cache=False)
>>> type(reranker).__name__
'ListwiseReranker'
>>> {"listwise", "pointwise", "cross-encoder"} <= set(reranker_names())
True
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from .errors import InvalidInput

if TYPE_CHECKING:  # imported on use: listing the names (CLI help) needs no pydantic
    from .reranker import Reranker

ENTRY_POINT_GROUP = "llm_rerank.strategies"

_REGISTRY: dict[str, type[Reranker] | str] = {
    "criteria": "llm_rerank.strategies.criteria:CriteriaReranker",
    "listwise": "llm_rerank.strategies.listwise:ListwiseReranker",
    "pairwise": "llm_rerank.strategies.pairwise:PairwiseReranker",
    "pointwise": "llm_rerank.strategies.pointwise:PointwiseReranker",
    "setwise": "llm_rerank.strategies.setwise:SetwiseReranker",
    "cross-encoder": "llm_rerank.cross_encoder:CrossEncoderReranker",
}


def register_reranker(name: str, target: str | type[Reranker]) -> None:
    """Add a strategy to the registry: a ``Reranker`` class, or a lazy ``"module:Class"``.

    Third-party packages can also declare an entry point in the ``llm_rerank.strategies``
    group (``name = "package.module:Class"``), loaded when the name is first asked for.
    """
    from .reranker import Reranker

    if not isinstance(name, str) or not name:
        raise InvalidInput(f"a strategy name must be a non-empty str, got {name!r}")
    if not isinstance(target, str) and not (
        isinstance(target, type) and issubclass(target, Reranker)
    ):
        raise InvalidInput(f"register {name!r}: expected a Reranker subclass or 'module:Class'")
    _REGISTRY[name] = target


def _plugins() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def reranker_names() -> list[str]:
    return sorted({*_REGISTRY, *_plugins()})


def reranker_class(name: str) -> type[Reranker]:
    """The class registered as ``name`` (imported on first use)."""
    from .reranker import Reranker

    target = _REGISTRY.get(name) or _plugins().get(name)
    if target is None:
        raise InvalidInput(f"unknown strategy {name!r}; known: {', '.join(reranker_names())}")
    if isinstance(target, str):
        module_name, _, class_name = target.partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        if not (isinstance(cls, type) and issubclass(cls, Reranker)):
            raise InvalidInput(f"strategy {name!r} points at {target}, which is not a Reranker")
        _REGISTRY[name] = target = cls
    return target


def get_reranker(name: str, **options: Any) -> Reranker:
    """Build a reranker by strategy name; unknown options raise ``TypeError``.

    ``get_reranker("listwise", model="openai/gpt-4o-mini", window_size=20)``
    """
    return reranker_class(name)(**options)
