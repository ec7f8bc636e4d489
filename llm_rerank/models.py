"""Public data models: what goes into a reranker and what comes out.

>>> doc = Document.coerce({"text": "Paris is the capital of France.", "id": "d1"})
>>> doc.id, doc.text[:5]
('d1', 'Paris')
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal, Protocol, overload

from pydantic import BaseModel, ConfigDict, Field

from .errors import InvalidInput

OnError = Literal["raise", "keep_order"]
OnBudget = Literal["raise", "keep_order"]
StopReason = Literal["budget", "deadline"]


class PageLike(Protocol):
    """What a LangChain ``Document`` offers: ``page_content`` (also ``metadata``, ``id``)."""

    @property
    def page_content(self) -> str: ...


class NodeLike(Protocol):
    """What a LlamaIndex node or ``NodeWithScore`` offers: ``get_content()``, ``node_id``."""

    @property
    def node_id(self) -> str: ...

    def get_content(self) -> str: ...


class Document(BaseModel):
    """A candidate passage: its text, an optional id and free metadata."""

    model_config = ConfigDict(extra="forbid")

    text: str
    id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def coerce(cls, value: object, position: int = 0) -> Document:
        """Turn a ``str``, ``Document`` or ``{"text", "id", ...}`` mapping into a ``Document``.

        Extra keys of a mapping go into ``metadata``. Framework objects are read by their
        attributes: a LangChain ``Document`` (``page_content``, ``metadata``, ``id``), a
        LlamaIndex node or ``NodeWithScore`` (``get_content()``, ``node_id``, ``metadata``).
        Anything else raises ``InvalidInput``.
        """
        if isinstance(value, Document):
            return value
        if isinstance(value, str):
            return cls(text=value)
        framework = _framework_document(value)
        if framework is not None:
            text, doc_id, metadata = framework
            if not isinstance(text, str):
                raise InvalidInput(
                    f"document {position} ({_type_name(value)}) has text of type "
                    f"{type(text).__name__}, expected str"
                )
            return cls(text=text, id=None if doc_id is None else str(doc_id),
                       metadata=dict(metadata) if isinstance(metadata, Mapping) else {})
        if isinstance(value, Mapping):
            if "text" not in value:
                raise InvalidInput(f"document {position} is a mapping without a 'text' key")
            text, doc_id = value["text"], value.get("id")
            if not isinstance(text, str):
                raise InvalidInput(
                    f"document {position} has text of type {type(text).__name__}, expected str"
                )
            if doc_id is not None and not isinstance(doc_id, (str, int)):
                raise InvalidInput(
                    f"document {position} has id of type {type(doc_id).__name__}, "
                    "expected str or int"
                )
            given = value.get("metadata") or {}
            if not isinstance(given, Mapping):
                raise InvalidInput(
                    f"document {position} has metadata of type {type(given).__name__}, "
                    "expected a mapping"
                )
            extra = {k: v for k, v in value.items() if k not in ("text", "id", "metadata")}
            metadata = {**dict(given), **extra}
            return cls(
                text=text, id=None if doc_id is None else str(doc_id), metadata=metadata
            )
        raise InvalidInput(
            f"document {position} is of type {_type_name(value)}; expected str, "
            "llm_rerank.Document, a mapping with 'text', a LangChain Document or a LlamaIndex node"
        )


def _type_name(value: object) -> str:
    """``int`` for builtins, else the qualified name (``langchain_core.documents.Document``)."""
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else (
        f"{kind.__module__}.{kind.__qualname__}")


def _framework_document(value: object) -> tuple[object, object, object] | None:
    """``(text, id, metadata)`` of a LangChain document or a LlamaIndex node, else ``None``."""
    if hasattr(value, "page_content"):
        return value.page_content, getattr(value, "id", None), getattr(value, "metadata", None)
    get_content = getattr(value, "get_content", None)
    if callable(get_content) and hasattr(value, "node_id"):
        return get_content(), value.node_id, getattr(value, "metadata", None)
    return None


class Usage(BaseModel):
    """What a ranking cost: LLM calls made, cache hits, tokens, dollars, retries, time.

    Tokens and cost count real calls only; a cache hit costs nothing. ``retries`` counts
    attempts repeated after transient failures, ``repairs`` re-asks after unusable answers,
    ``parse_failures`` answers that stayed unusable. ``cache_errors`` counts cache reads and
    writes that a shared cache (Redis) could not do: those calls ran uncached.
    """

    llm_calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    retries: int = 0
    parse_failures: int = 0
    repairs: int = 0
    latency_s: float = 0.0
    cache_errors: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{name: getattr(self, name) + getattr(other, name)
                        for name in Usage.model_fields})


class RankedResult(BaseModel):
    """One document in a ranking: ``rank`` is 1-based, ``index`` its position in the input.

    ``score`` is higher-is-better and never increases down the ranking; ``relevance_score``
    is a monotone map of it into [0, 1]. ``details["score_kind"]`` says what ``score`` is:
    ``"expected_label"`` (pointwise), ``"win_rate"`` (pairwise allpair), ``"logit"`` or
    ``"probability"`` (cross-encoder), or ``"rank"`` (strategies without a native score:
    ``1 - (rank - 1) / N``).
    """

    document: Document
    index: int
    rank: int
    score: float
    relevance_score: float = Field(ge=0.0, le=1.0)
    details: dict[str, Any] = Field(default_factory=dict)


class RankedResults(BaseModel):
    """A ranking, best first: iterable, indexable, with ``top(n)`` and the run's ``usage``.

    ``errors`` lists the LLM failures that ``on_error="keep_order"`` absorbed;
    ``stopped`` says why the ranking stopped calling the LLM early (``"budget"`` or
    ``"deadline"``; the documents it did not reach keep their current order), and
    ``budget_note`` which limit ran out;
    ``prompts_shrunk`` counts prompts whose passages were cut further to fit the context;
    ``notes`` says what the ranking did differently from what was asked (e.g. a
    ``criteria="auto"`` query kept whole, and why).
    """

    query: str
    results: list[RankedResult]
    strategy: str
    model: str | None = None
    usage: Usage = Field(default_factory=Usage)
    errors: list[str] = Field(default_factory=list)
    stopped: StopReason | None = None
    budget_note: str | None = None
    prompts_shrunk: int = 0
    notes: list[str] = Field(default_factory=list)

    def __iter__(self) -> Iterator[RankedResult]:  # type: ignore[override]
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    @overload
    def __getitem__(self, item: int) -> RankedResult: ...
    @overload
    def __getitem__(self, item: slice) -> list[RankedResult]: ...
    def __getitem__(self, item: int | slice) -> RankedResult | list[RankedResult]:
        return self.results[item]

    def top(self, n: int) -> list[RankedResult]:
        """The best ``n`` results."""
        return self.results[:n]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole ranking."""
        return self.model_dump(mode="json")
