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

from typing import TYPE_CHECKING, Any

from .plugins import Plugins

if TYPE_CHECKING:  # imported on use: listing the names (CLI help) needs no pydantic
    from .reranker import Reranker

ENTRY_POINT_GROUP = "llm_rerank.strategies"

STRATEGIES: Plugins[Reranker] = Plugins("strategy", ENTRY_POINT_GROUP, {
    "criteria": "llm_rerank.strategies.criteria:CriteriaReranker",
    "listwise": "llm_rerank.strategies.listwise:ListwiseReranker",
    "pairwise": "llm_rerank.strategies.pairwise:PairwiseReranker",
    "pointwise": "llm_rerank.strategies.pointwise:PointwiseReranker",
    "setwise": "llm_rerank.strategies.setwise:SetwiseReranker",
    "cross-encoder": "llm_rerank.cross_encoder:CrossEncoderReranker",
}, "llm_rerank.reranker:Reranker")


def register_reranker(name: str, target: str | type[Reranker]) -> None:
    """Add a strategy to the registry: a ``Reranker`` class, or a lazy ``"module:Class"``.

    Third-party packages can also declare an entry point in the ``llm_rerank.strategies``
    group (``name = "package.module:Class"``), loaded when the name is first asked for.
    """
    STRATEGIES.register(name, target)


def reranker_names() -> list[str]:
    """Every strategy name: the built-ins, the registered ones and the plug-ins."""
    return STRATEGIES.names()


def reranker_class(name: str) -> type[Reranker]:
    """The class registered as ``name`` (imported on first use)."""
    return STRATEGIES.load(name)


def get_reranker(name: str, **options: Any) -> Reranker:
    """Build a reranker by strategy name; unknown options raise ``TypeError``.

    ``get_reranker("listwise", model="openai/gpt-4o-mini", window_size=20)``
    """
    return reranker_class(name)(**options)
