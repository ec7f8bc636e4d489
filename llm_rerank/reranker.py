"""The ``Reranker`` interface, the per-query ``RankingContext`` and the input checks.

A strategy implements one coroutine, ``_order(ctx)``, returning every input index once,
best first; the base validates inputs, times the run, checks the permutation and builds
``RankedResults``. ``rank_batch`` / ``arank_batch`` run many queries (``llm_rerank.batch``);
LLM strategies extend ``llm_rerank.llm_reranker.LLMReranker``; ``llm_rerank.registry``
names them.
"""

from __future__ import annotations

import itertools
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, overload

from .aio import run_sync
from .batch import arank_batch
from .budget import Budget
from .criteria import CriteriaSpec, coerce_criteria
from .errors import InvalidInput, RerankError
from .models import Document, NodeLike, PageLike, RankedResult, RankedResults, StopReason, Usage

DocumentInput = str | Document | dict[str, Any] | PageLike | NodeLike
BatchItem = (tuple[str, Sequence[DocumentInput]]
             | tuple[str, Sequence[DocumentInput], str | None]
             | tuple[str, Sequence[DocumentInput], str | None, Any])


@dataclass
class Scored:
    """A strategy's verdict on one document: its input index, score and details."""

    index: int
    score: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class RankingContext:
    """Per-query state handed to a strategy: the inputs, usage, absorbed errors and flags.

    ``top_n`` is what the caller will keep (strategies that can stop early use it as their
    ``k`` unless ``k`` is given); ``instructions`` are this query's judging instructions;
    ``criteria`` its parts (``"auto"`` until ``resolve`` decomposes the query);
    ``budget`` and ``deadline`` (event-loop time) limit its LLM calls; ``notes`` say what
    the ranking did differently from what was asked.
    """

    query: str
    documents: list[Document]
    top_n: int | None = None
    instructions: str | None = None
    criteria: CriteriaSpec = None
    usage: Usage = field(default_factory=Usage)
    errors: list[str] = field(default_factory=list)
    stopped: StopReason | None = None
    prompts_shrunk: int = 0
    budget: Budget | None = None
    deadline: float | None = None
    budget_note: str | None = None
    notes: list[str] = field(default_factory=list)

    def child(self, **changes: Any) -> RankingContext:
        """A context for a ranking nested in this query's (``changes`` replace fields, e.g.
        ``documents``): it shares the query's usage, errors, budget and deadline, so its
        calls count and stop here, and starts its own ``stopped``, ``prompts_shrunk`` and
        ``budget_note`` (``absorb`` folds them back).

        >>> ctx = RankingContext("q", [Document(text="a"), Document(text="b")], top_n=1)
        >>> sub = ctx.child(documents=ctx.documents[1:])
        >>> sub.usage is ctx.usage, sub.errors is ctx.errors, len(sub.documents), sub.query
        (True, True, 1, 'q')
        """
        from dataclasses import replace

        return replace(self, **{"stopped": None, "prompts_shrunk": 0, "budget_note": None,
                                **changes})

    def absorb(self, child: RankingContext) -> None:
        """Fold a ``child`` context's outcome back: its stop reason and budget note unless
        this context has its own, and its shrunk prompts."""
        self.stopped = self.stopped or child.stopped
        self.budget_note = self.budget_note or child.budget_note
        self.prompts_shrunk += child.prompts_shrunk


def validate_inputs(query: object, documents: object) -> tuple[str, list[Document]]:
    """Check the query and coerce documents (none is fine), raising ``InvalidInput`` naming
    the problem."""
    if not isinstance(query, str):
        raise InvalidInput(f"query must be a str, got {type(query).__name__}")
    if not query.strip():
        raise InvalidInput("query is empty")
    if isinstance(documents, (str, bytes, dict, Document)) or not isinstance(documents, Iterable):
        raise InvalidInput(
            f"documents must be a list of str, Document or dict, got {type(documents).__name__}"
        )
    return query, [Document.coerce(value, position) for position, value in enumerate(documents)]


def check_top_n(top_n: object) -> int | None:
    if top_n is None:
        return None
    if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
        raise InvalidInput(f"top_n must be a positive int or None, got {top_n!r}")
    return top_n


def check_instructions(instructions: object) -> str | None:
    if instructions is None:
        return None
    if not isinstance(instructions, str):
        raise InvalidInput(f"instructions must be a str or None, got {type(instructions).__name__}")
    return instructions if instructions.strip() else None


def rank_score(rank: int, size: int) -> float:
    """The rank-derived score of strategies without a native one: ``1 - (rank - 1) / size``.

    >>> [rank_score(rank, 4) for rank in (1, 2, 3, 4)]
    [1.0, 0.75, 0.5, 0.25]
    """
    return 1.0 - (rank - 1) / size


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
    takes_instructions: ClassVar[bool] = False

    @abstractmethod
    async def _order(self, ctx: RankingContext) -> list[Scored]:
        """Every index of ``ctx.documents`` exactly once, best first."""

    def score_kind(self) -> str | None:
        """What the strategy's native ``Scored.score`` is (``None``: it has none, and
        results get the rank-derived score)."""
        return None

    def relevance(self, score: float) -> float:
        """Map a native score monotonically into [0, 1] (the identity by default)."""
        return score

    async def arank(
        self, query: str, documents: Sequence[DocumentInput], top_n: int | None = None,
        *, instructions: str | None = None, budget: Budget | None = None,
        criteria: object = None,
    ) -> RankedResults:
        """Rank ``documents`` for ``query``, best first (the first ``top_n`` when given).

        ``instructions`` (LLM strategies) add judging instructions for this query only;
        ``budget`` is a budget shared with other queries (a batch's), on top of the
        reranker's own per-query limits. ``criteria`` (LLM strategies: strings,
        ``{text, weight, required}`` mappings or ``"auto"``) are this query's parts. No
        documents give empty results, without a call.
        """
        top_n = check_top_n(top_n)
        instructions = check_instructions(instructions)
        if instructions is not None and not self.takes_instructions:
            raise InvalidInput(f"the {self.name} reranker takes no instructions")
        spec = coerce_criteria(criteria)
        if spec is not None and not self.takes_instructions:
            raise InvalidInput(f"the {self.name} reranker takes no criteria")
        query, docs = validate_inputs(query, documents)
        if not docs:
            return RankedResults(query=query, results=[], strategy=self.name, model=self.model)
        ctx = RankingContext(query=query, documents=docs, top_n=top_n,
                             instructions=instructions or self.default_instructions(),
                             criteria=spec if spec is not None else self.default_criteria())
        self.prepare(ctx, budget)
        started = time.perf_counter()
        await self.resolve(ctx)
        order = await self._order(ctx)
        ctx.usage.latency_s = time.perf_counter() - started
        results = self.results(ctx, order)
        self.check_stopped(results)
        return results

    def prepare(self, ctx: RankingContext, budget: Budget | None) -> None:
        """Set up per-query limits on ``ctx`` before ranking (nothing by default)."""
        return None

    def check_stopped(self, results: RankedResults) -> None:
        """Raise for a ranking that stopped early when the policy says so (nothing here)."""
        return None

    async def resolve(self, ctx: RankingContext) -> None:
        """Fill in per-query inputs that take LLM calls (``criteria="auto"``); nothing here."""
        return None

    def default_instructions(self) -> str | None:
        return None

    def default_criteria(self) -> CriteriaSpec:
        return None

    def results(self, ctx: RankingContext, order: list[Scored]) -> RankedResults:
        """Check the strategy's output and build ``RankedResults`` under the score contract."""
        size = len(ctx.documents)
        if sorted(s.index for s in order) != list(range(size)):
            raise RerankError(f"{self.name}: internal error, the ranking is not a permutation")
        kind = self.score_kind()
        native = kind is not None and all(
            s.score is not None and not math.isnan(s.score) for s in order)
        if native and any(a.score < b.score for a, b in itertools.pairwise(order)  # type: ignore[operator]
                          ):
            raise RerankError(f"{self.name}: internal error, scores do not follow the ranking")
        results = []
        for rank, s in enumerate(order[:ctx.top_n] if ctx.top_n else order, start=1):
            if native:
                assert s.score is not None
                score, relevance = s.score, min(1.0, max(0.0, self.relevance(s.score)))
            else:
                score = relevance = rank_score(rank, size)
            results.append(RankedResult(
                document=ctx.documents[s.index], index=s.index, rank=rank, score=score,
                relevance_score=relevance,
                details={**s.details, "score_kind": kind if native else "rank"},
            ))
        return RankedResults(query=ctx.query, results=results, strategy=self.name,
                             model=self.model, usage=ctx.usage, errors=ctx.errors,
                             stopped=ctx.stopped, budget_note=ctx.budget_note,
                             prompts_shrunk=ctx.prompts_shrunk, notes=ctx.notes)

    def rank(
        self, query: str, documents: Sequence[DocumentInput], top_n: int | None = None,
        *, instructions: str | None = None, criteria: object = None,
    ) -> RankedResults:
        """Sync ``arank``; also works inside a running event loop (e.g. Jupyter)."""
        return run_sync(self.arank(query, documents, top_n, instructions=instructions,
                                   criteria=criteria))

    def as_langchain_compressor(self, **fields: Any) -> Any:
        """This reranker as a LangChain ``BaseDocumentCompressor`` (extra ``langchain``);
        ``fields`` are ``LLMRerankCompressor``'s (``top_n``).

        ``ContextualCompressionRetriever(base_compressor=rr.as_langchain_compressor(top_n=5),
        base_retriever=retriever)``
        """
        from .integrations.langchain import LLMRerankCompressor

        return LLMRerankCompressor(reranker=self, **fields)

    def as_llamaindex_postprocessor(self, **fields: Any) -> Any:
        """This reranker as a LlamaIndex ``BaseNodePostprocessor`` (extra ``llamaindex``);
        ``fields`` are ``LLMRerankPostprocessor``'s (``top_n``, ``metadata_mode``).

        ``index.as_query_engine(node_postprocessors=[rr.as_llamaindex_postprocessor(top_n=5)])``
        """
        from .integrations.llamaindex import LLMRerankPostprocessor

        return LLMRerankPostprocessor(reranker=self, **fields)

    @overload
    async def arank_batch(
        self, batch: Iterable[BatchItem], top_n: int | None = ...,
        max_concurrent_queries: int = ...,
        on_result: Callable[[int, RankedResults], None] | None = ...,
        *, return_exceptions: Literal[False] = ..., budget: Budget | None = ...,
        workers: int = ..., progress: bool | None = ...,
    ) -> list[RankedResults]: ...
    @overload
    async def arank_batch(
        self, batch: Iterable[BatchItem], top_n: int | None = ...,
        max_concurrent_queries: int = ...,
        on_result: Callable[[int, RankedResults], None] | None = ...,
        *, return_exceptions: Literal[True], budget: Budget | None = ...,
        workers: int = ..., progress: bool | None = ...,
    ) -> list[RankedResults | Exception]: ...
    async def arank_batch(
        self,
        batch: Iterable[BatchItem],
        top_n: int | None = None,
        max_concurrent_queries: int = 16,
        on_result: Callable[[int, RankedResults], None] | None = None,
        *,
        return_exceptions: bool = False,
        budget: Budget | None = None,
        workers: int = 1,
        progress: bool | None = None,
    ) -> list[RankedResults] | list[RankedResults | Exception]:
        """Rank many ``(query, documents)`` (or ``(query, documents, instructions)``, or
        ``(query, documents, instructions, criteria)``) items concurrently, results in input
        order.

        A failing query cancels the others (no call starts after the failure) and its
        exception propagates; with ``return_exceptions=True`` every query runs and its
        exception takes its place in the list. ``budget`` (a ``Budget``) is shared by the
        whole batch. ``on_result(position, results)`` is called as each query finishes.
        ``workers=N`` spreads the queries over N processes (``llm_rerank.batch``: limits
        and a batch budget are split among them, errors behave the same). ``progress``
        shows a progress bar over finished queries on stderr (``None``: when stderr is a
        terminal).
        """
        return await arank_batch(self, batch, top_n, max_concurrent_queries, on_result,
                                 return_exceptions=return_exceptions, budget=budget,
                                 workers=workers, progress=progress)

    def rank_batch(
        self,
        batch: Iterable[BatchItem],
        top_n: int | None = None,
        max_concurrent_queries: int = 16,
        *,
        return_exceptions: bool = False,
        budget: Budget | None = None,
        workers: int = 1,
        progress: bool | None = None,
    ) -> list[Any]:
        """Sync ``arank_batch``."""
        return run_sync(self.arank_batch(batch, top_n, max_concurrent_queries,
                                         return_exceptions=return_exceptions,  # type: ignore[call-overload]
                                         budget=budget, workers=workers, progress=progress))
