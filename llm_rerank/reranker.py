"""The ``Reranker`` interface, the shared base of the LLM strategies, and the registry.

A strategy implements one coroutine, ``_order(ctx)``, returning every input index once,
best first; the base validates inputs, times the run, checks the permutation and builds
``RankedResults``.

>>> reranker = get_reranker("listwise", model="openai/gpt-4o-mini", cache=False)
>>> type(reranker).__name__
'ListwiseReranker'
"""

from __future__ import annotations

import asyncio
import importlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar, get_args

from .cache import ResponseCache
from .errors import BudgetExceeded, InvalidInput, LLMCallError, RerankError
from .llm import Completion, LLMClient, Messages
from .models import Document, OnError, RankedResult, RankedResults, Usage
from .prompts import PromptTemplate, truncate_words

T = TypeVar("T")
DocumentInput = str | Document | dict[str, Any]


@dataclass
class Scored:
    """A strategy's verdict on one document: its input index, score and details."""

    index: int
    score: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class RankingContext:
    """Per-query state handed to a strategy: the inputs, usage and absorbed errors."""

    query: str
    documents: list[Document]
    usage: Usage = field(default_factory=Usage)
    errors: list[str] = field(default_factory=list)


def validate_inputs(query: object, documents: object) -> tuple[str, list[Document]]:
    """Check the query and coerce documents, raising ``InvalidInput`` naming the problem."""
    if not isinstance(query, str):
        raise InvalidInput(f"query must be a str, got {type(query).__name__}")
    if not query.strip():
        raise InvalidInput("query is empty")
    if isinstance(documents, (str, bytes, dict, Document)) or not isinstance(documents, Iterable):
        raise InvalidInput(
            f"documents must be a list of str, Document or dict, got {type(documents).__name__}"
        )
    docs = [Document.coerce(value, position) for position, value in enumerate(documents)]
    if not docs:
        raise InvalidInput("no documents to rank")
    return query, docs


def check_top_n(top_n: object) -> int | None:
    if top_n is None:
        return None
    if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
        raise InvalidInput(f"top_n must be a positive int or None, got {top_n!r}")
    return top_n


class _LoopThread:
    """One daemon event loop that runs the sync API's coroutines (also inside Jupyter)."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def run(cls, coro: Coroutine[Any, Any, T]) -> T:
        with cls._lock:
            if cls._loop is None:
                cls._loop = asyncio.new_event_loop()
                threading.Thread(target=cls._loop.run_forever, daemon=True,
                                 name="llm-rerank-loop").start()
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, cls._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, whether or not a loop is running here."""
    return _LoopThread.run(coro)


class Reranker(ABC):
    """Reorders documents for a query. Subclasses implement ``_order``.

    >>> class Reverse(Reranker):
    ...     name = "reverse"
    ...     async def _order(self, ctx):
    ...         return [Scored(i) for i in reversed(range(len(ctx.documents)))]
    >>> [r.document.text for r in Reverse().rank("q", ["a", "b"])]
    ['b', 'a']
    """

    name: ClassVar[str] = "reranker"
    model: str | None = None

    @abstractmethod
    async def _order(self, ctx: RankingContext) -> list[Scored]:
        """Every index of ``ctx.documents`` exactly once, best first."""

    async def arank(
        self, query: str, documents: Sequence[DocumentInput], top_n: int | None = None
    ) -> RankedResults:
        """Rank ``documents`` for ``query``, best first (the first ``top_n`` when given)."""
        top_n = check_top_n(top_n)
        query, docs = validate_inputs(query, documents)
        ctx = RankingContext(query=query, documents=docs)
        started = time.perf_counter()
        order = await self._order(ctx)
        ctx.usage.latency_s = time.perf_counter() - started
        if sorted(s.index for s in order) != list(range(len(docs))):
            raise RerankError(f"{self.name}: internal error, the ranking is not a permutation")
        results = [
            RankedResult(document=docs[s.index], index=s.index, rank=rank, score=s.score,
                         details=s.details)
            for rank, s in enumerate(order[:top_n] if top_n else order, start=1)
        ]
        return RankedResults(query=query, results=results, strategy=self.name, model=self.model,
                             usage=ctx.usage, errors=ctx.errors)

    def rank(
        self, query: str, documents: Sequence[DocumentInput], top_n: int | None = None
    ) -> RankedResults:
        """Sync ``arank``; also works inside a running event loop (e.g. Jupyter)."""
        return run_sync(self.arank(query, documents, top_n))

    async def arank_batch(
        self,
        batch: Iterable[tuple[str, Sequence[DocumentInput]]],
        top_n: int | None = None,
        max_concurrent_queries: int = 16,
        on_result: Callable[[int, RankedResults], None] | None = None,
    ) -> list[RankedResults]:
        """Rank many ``(query, documents)`` pairs concurrently, results in input order.

        ``on_result(position, results)`` is called as each query finishes (e.g. for progress).
        """
        if max_concurrent_queries < 1:
            raise InvalidInput(f"max_concurrent_queries must be >= 1, got {max_concurrent_queries}")
        gate = asyncio.Semaphore(max_concurrent_queries)

        async def one(position: int, query: str, docs: Sequence[DocumentInput]) -> RankedResults:
            async with gate:
                results = await self.arank(query, docs, top_n)
            if on_result is not None:
                on_result(position, results)
            return results

        return list(await asyncio.gather(*(one(i, q, d) for i, (q, d) in enumerate(batch))))

    def rank_batch(
        self,
        batch: Iterable[tuple[str, Sequence[DocumentInput]]],
        top_n: int | None = None,
        max_concurrent_queries: int = 16,
    ) -> list[RankedResults]:
        """Sync ``arank_batch``."""
        return run_sync(self.arank_batch(batch, top_n, max_concurrent_queries))


class LLMReranker(Reranker):
    """Shared base of the LLM strategies: one template, one ``LLMClient``, one error policy.

    Options common to every LLM strategy: ``api_base``, ``api_key``, ``timeout``,
    ``temperature``, ``completion_kwargs`` (passed to LiteLLM), ``cache``, ``max_retries``,
    ``max_concurrency``, ``max_calls`` (a per-query budget), ``on_error`` and ``template``.
    """

    default_template: ClassVar[str]

    def __init__(
        self,
        model: str,
        *,
        template: str | Path | None = None,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        temperature: float | None = 0.0,
        completion_kwargs: dict[str, Any] | None = None,
        cache: bool | str | Path | ResponseCache = True,
        max_retries: int = 3,
        max_concurrency: int = 8,
        max_calls: int | None = None,
        max_passage_words: int | None = 300,
        on_error: OnError = "raise",
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise InvalidInput(f"model must be a non-empty LiteLLM model string, got {model!r}")
        if on_error not in get_args(OnError):
            raise InvalidInput(f"on_error must be one of {get_args(OnError)}, got {on_error!r}")
        if max_passage_words is not None and max_passage_words < 1:
            raise InvalidInput(f"max_passage_words must be >= 1 or None, got {max_passage_words}")
        if max_calls is not None and max_calls < 1:
            raise InvalidInput(f"max_calls must be >= 1 or None, got {max_calls}")
        self.model = model
        self.template = PromptTemplate.load(template or self.default_template)
        self.max_calls = max_calls
        self.max_passage_words = max_passage_words
        self.on_error = on_error
        try:
            self.llm = LLMClient(
                model, api_base=api_base, api_key=api_key, timeout=timeout,
                temperature=temperature, completion_kwargs=dict(completion_kwargs or {}),
                cache=cache, max_retries=max_retries, max_concurrency=max_concurrency,
            )
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc

    def render(self, variables: Callable[[int | None], dict[str, Any]]) -> Messages:
        """Render the template with passages cut to ``max_passage_words``, shrinking them
        further while the prompt does not fit the model's context window."""
        words = self.max_passage_words
        messages = self.template.render(**variables(words))
        while not self.llm.fits_context(messages) and (words is None or words > 16):
            words = 256 if words is None else words * 3 // 4
            messages = self.template.render(**variables(words))
        return messages

    def passage(self, ctx: RankingContext, index: int, max_words: int | None) -> str:
        return truncate_words(ctx.documents[index].text, max_words)

    async def ask(
        self,
        ctx: RankingContext,
        variables: Callable[[int | None], dict[str, Any]],
        parse: Callable[[Completion], T | None],
        **params: Any,
    ) -> T | None:
        """Render, call (cache, retries), parse. ``None`` means no usable answer: a parse
        failure (counted in usage), or an LLM failure absorbed by ``on_error="keep_order"``."""
        messages = self.render(variables)
        if self.max_calls is not None and ctx.usage.llm_calls >= self.max_calls:
            raise BudgetExceeded(f"{self.name}: max_calls={self.max_calls} reached for this query")
        try:
            completion = await self.llm.complete(messages, ctx.usage, **params)
        except LLMCallError as exc:
            if self.on_error == "raise":
                raise
            ctx.errors.append(str(exc))
            return None
        parsed = parse(completion)
        if parsed is None:
            ctx.usage.parse_failures += 1
        return parsed


_REGISTRY: dict[str, str] = {
    "listwise": "llm_rerank.strategies.listwise:ListwiseReranker",
    "pairwise": "llm_rerank.strategies.pairwise:PairwiseReranker",
    "pointwise": "llm_rerank.strategies.pointwise:PointwiseReranker",
    "setwise": "llm_rerank.strategies.setwise:SetwiseReranker",
    "cross-encoder": "llm_rerank.cross_encoder:CrossEncoderReranker",
}


def register_reranker(name: str, target: str | type[Reranker]) -> None:
    """Add a strategy to the registry, as a class or a lazy ``"module:Class"`` path."""
    if not isinstance(target, str):
        target = f"{target.__module__}:{target.__qualname__}"
    _REGISTRY[name] = target


def reranker_names() -> list[str]:
    return sorted(_REGISTRY)


def reranker_class(name: str) -> type[Reranker]:
    if name not in _REGISTRY:
        raise InvalidInput(f"unknown strategy {name!r}; known: {', '.join(reranker_names())}")
    module_name, class_name = _REGISTRY[name].split(":")
    cls: type[Reranker] = getattr(importlib.import_module(module_name), class_name)
    return cls


def get_reranker(name: str, **options: Any) -> Reranker:
    """Build a reranker by strategy name; unknown options raise ``TypeError``.

    ``get_reranker("listwise", model="openai/gpt-4o-mini", window_size=20)``
    """
    return reranker_class(name)(**options)


async def gather_in_order(tasks: Iterable[Awaitable[T]]) -> list[T]:
    """``asyncio.gather`` that cancels the siblings when one task fails."""
    pending = [asyncio.ensure_future(t) for t in tasks]
    try:
        return list(await asyncio.gather(*pending))
    except BaseException:
        for task in pending:
            task.cancel()
        raise
