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
import atexit
import contextlib
import functools
import gc
import importlib
import itertools
import math
import os
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar, Literal, TypeVar, overload

from .budget import Budget
from .criteria import Criteria, CriteriaSpec, Criterion, coerce_criteria, parse_decomposition
from .errors import BudgetExceeded, InvalidInput, LLMCallError, RerankError
from .llm import BudgetStop, Completion, DeadlineStop, LLMClient, Messages, register_price
from .models import Document, NodeLike, PageLike, RankedResult, RankedResults, StopReason, Usage
from .options import LLMOptions
from .prompts import PromptTemplate, one_line, truncate_passage
from .workers import arank_batch_in_workers, check_workers

T = TypeVar("T")
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
    ``budget`` and ``deadline`` (event-loop time) limit its LLM calls.
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


class _LoopThread:
    """One daemon event loop that runs the sync API's coroutines (also inside Jupyter).

    It is shut down at interpreter exit: pending tasks are cancelled, LiteLLM's async HTTP
    clients closed and the thread stopped, so no process hangs on a half-dead loop.
    """

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    @classmethod
    def run(cls, coro: Coroutine[Any, Any, T]) -> T:
        with cls._lock:
            if cls._loop is None:
                cls._loop = asyncio.new_event_loop()
                cls._thread = threading.Thread(target=cls._loop.run_forever, daemon=True,
                                               name="llm-rerank-loop")
                cls._thread.start()
                atexit.register(cls.shutdown)
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, cls._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    @classmethod
    def shutdown(cls, timeout: float = 5.0) -> None:
        """Cancel what still runs on the loop, close LiteLLM's clients, stop the thread."""
        with cls._lock:
            loop, thread, cls._loop, cls._thread = cls._loop, cls._thread, None, None
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_cancel_and_close(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout)
        # At exit the interpreter's final garbage collections walk LiteLLM's large object
        # graph (1-2 s, far more on a loaded machine); frozen objects are skipped.
        gc.freeze()


async def _cancel_and_close() -> None:
    """Cancel the tasks that LiteLLM did not start (LiteLLM's logging worker finishes on its
    own at exit), then close LiteLLM's async HTTP clients and the loop's async generators."""
    litellm = sys.modules.get("litellm")
    package = os.path.dirname(getattr(litellm, "__file__", None) or "/nonexistent/")
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks()
             if task is not current and not _coroutine_file(task).startswith(package)]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    close = getattr(litellm, "close_litellm_async_clients", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()
    with contextlib.suppress(Exception):  # closes transport="direct"'s sessions, among others
        await asyncio.get_running_loop().shutdown_asyncgens()


def _coroutine_file(task: asyncio.Task[Any]) -> str:
    code = getattr(task.get_coro(), "cr_code", None)
    return str(getattr(code, "co_filename", ""))


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
                             prompts_shrunk=ctx.prompts_shrunk)

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
        workers: int = ...,
    ) -> list[RankedResults]: ...
    @overload
    async def arank_batch(
        self, batch: Iterable[BatchItem], top_n: int | None = ...,
        max_concurrent_queries: int = ...,
        on_result: Callable[[int, RankedResults], None] | None = ...,
        *, return_exceptions: Literal[True], budget: Budget | None = ...,
        workers: int = ...,
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
    ) -> list[RankedResults] | list[RankedResults | Exception]:
        """Rank many ``(query, documents)`` (or ``(query, documents, instructions)``, or
        ``(query, documents, instructions, criteria)``) items concurrently, results in input
        order.

        A failing query cancels the others (no call starts after the failure) and its
        exception propagates; with ``return_exceptions=True`` every query runs and its
        exception takes its place in the list. ``budget`` (a ``Budget``) is shared by the
        whole batch. ``on_result(position, results)`` is called as each query finishes.
        ``workers=N`` spreads the queries over N processes (``llm_rerank.workers``: limits
        and a batch budget are split among them, errors behave the same).
        """
        if isinstance(max_concurrent_queries, bool) or not isinstance(
                max_concurrent_queries, int) or max_concurrent_queries < 1:
            raise InvalidInput(
                f"max_concurrent_queries must be an int >= 1, got {max_concurrent_queries!r}")
        items = [_batch_item(position, item) for position, item in enumerate(batch)]
        if check_workers(workers) > 1 and len(items) > 1:
            return await arank_batch_in_workers(
                self, items, top_n, max_concurrent_queries, on_result,
                return_exceptions=return_exceptions, budget=budget, workers=workers)
        gate = asyncio.Semaphore(max_concurrent_queries)

        async def one(position: int, item: tuple[str, Sequence[DocumentInput], str | None, Any]
                      ) -> RankedResults | Exception:
            query, docs, instructions, criteria = item
            async with gate:
                try:
                    results = await self.arank(query, docs, top_n, instructions=instructions,
                                               budget=budget, criteria=criteria)
                except Exception as exc:
                    if not return_exceptions:
                        raise
                    return exc
            if on_result is not None:
                on_result(position, results)
            return results

        return await gather_in_order(one(i, item) for i, item in enumerate(items))

    def rank_batch(
        self,
        batch: Iterable[BatchItem],
        top_n: int | None = None,
        max_concurrent_queries: int = 16,
        *,
        return_exceptions: bool = False,
        budget: Budget | None = None,
        workers: int = 1,
    ) -> list[Any]:
        """Sync ``arank_batch``."""
        return run_sync(self.arank_batch(batch, top_n, max_concurrent_queries,
                                         return_exceptions=return_exceptions,  # type: ignore[call-overload]
                                         budget=budget, workers=workers))


def _batch_item(position: int, item: object
                ) -> tuple[str, Sequence[DocumentInput], str | None, Any]:
    if not isinstance(item, tuple) or len(item) not in (2, 3, 4):
        raise InvalidInput(f"batch item {position} must be a (query, documents), "
                           "(query, documents, instructions) or (query, documents, "
                           "instructions, criteria) tuple")
    return (item[0], item[1], item[2] if len(item) >= 3 else None,
            item[3] if len(item) == 4 else None)


class LLMReranker(Reranker):
    """Shared base of the LLM strategies: one template, one ``LLMClient``, one error policy.

    Options common to every LLM strategy are the fields of ``LLMOptions`` (``api_base``,
    ``api_key``, ``timeout``, ``temperature``, ``completion_kwargs``, ``cache``,
    ``max_retries``, ``max_concurrency``, budgets, ``on_error``, ``instructions``,
    ``criteria``, ...); a strategy declares its own in a nested ``Options`` model that
    extends it.
    """

    Options: ClassVar[type[LLMOptions]] = LLMOptions
    options: LLMOptions
    default_template: ClassVar[str]
    takes_instructions = True

    def __init__(self, model: str, **options: Any) -> None:
        if not isinstance(model, str) or not model.strip():
            raise InvalidInput(f"model must be a non-empty LiteLLM model string, got {model!r}")
        self.model = model
        self.options = self.Options.parse(type(self).__name__, options)
        o = self.options
        self.template = PromptTemplate.load(o.template or self.default_template)
        if o.price is not None:
            register_price(model, *o.price)
        try:
            self.llm = LLMClient(
                model, api_base=o.api_base, api_key=o.api_key, timeout=o.timeout,
                temperature=o.temperature, completion_kwargs=dict(o.completion_kwargs),
                cache=o.cache, max_retries=o.max_retries, max_concurrency=o.max_concurrency,
                transport=o.transport, max_rpm=o.max_rpm, max_tpm=o.max_tpm,  # issue 17
                rate_limit_store=o.rate_limit_store,
            )
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, options={self.options!r})"

    def default_instructions(self) -> str | None:
        return self.options.instructions

    def default_criteria(self) -> CriteriaSpec:
        return self.options.criteria

    async def resolve(self, ctx: RankingContext) -> None:
        """Decompose the query when its criteria are ``"auto"``: one call with
        ``criteria/decompose`` (cached, budgeted and counted like any call); an unusable
        answer, or none, leaves the whole query as the one criterion."""
        if ctx.criteria == "auto":
            parts = await self.ask(ctx, lambda _: {}, lambda c: parse_decomposition(c.text),
                                   answer_tokens=DECOMPOSE_ANSWER_TOKENS,
                                   template=_decompose_template())
            ctx.criteria = tuple(Criterion(text=part) for part in parts or [ctx.query])

    def criteria(self, ctx: RankingContext) -> Criteria:
        """The query's resolved criteria (none before ``resolve`` or when not given)."""
        return ctx.criteria if isinstance(ctx.criteria, tuple) else ()

    def prompt_variables(self, ctx: RankingContext) -> dict[str, Any]:
        """Variables every template gets: the query, the instructions and the criteria's
        texts, each on one line (so none can forge a passage line, a label or a section of
        the prompt)."""
        criteria = [one_line(c.text) for c in self.criteria(ctx)]
        return {"query": one_line(ctx.query),
                "instructions": one_line(ctx.instructions) if ctx.instructions else None,
                "criteria": criteria or None}

    def render(self, ctx: RankingContext,
               variables: Callable[[int | None], dict[str, Any]],
               template: PromptTemplate | None = None) -> Messages:
        """Render the template with passages cut to ``max_passage_words``, shrinking them
        further while the prompt does not fit the model's context window (counted in
        ``prompts_shrunk``); a prompt that cannot fit raises ``InvalidInput``, unsent."""
        words = self.options.max_passage_words
        common = self.prompt_variables(ctx)
        template = template or self.template
        messages = template.render(**common, **variables(words))
        shrunk = False
        while not self.llm.fits_context(messages):
            if words is not None and words <= MIN_PASSAGE_WORDS:
                raise InvalidInput(
                    f"{self.name}: the prompt does not fit the context window of {self.model} "
                    f"even with passages cut to {words} words; shorten the query or the "
                    "instructions, or show fewer passages per prompt"
                )
            words = 256 if words is None else max(MIN_PASSAGE_WORDS, words * 3 // 4)
            messages = template.render(**common, **variables(words))
            shrunk = True
        ctx.prompts_shrunk += shrunk
        return messages

    def passage(self, ctx: RankingContext, index: int, max_words: int | None) -> str:
        """Document ``index`` as shown in a prompt: one line, cut to ``max_words`` words
        (and to a proportional number of characters, for text without spaces)."""
        return truncate_passage(ctx.documents[index].text, max_words)

    def answer_params(self, answer_tokens: int) -> dict[str, Any]:
        """``max_tokens`` for an answer, unless ``completion_kwargs`` caps answers itself."""
        if {"max_tokens", "max_completion_tokens"} & set(self.options.completion_kwargs):
            return {}
        return {"max_tokens": answer_tokens}

    def prepare(self, ctx: RankingContext, budget: Budget | None) -> None:
        """The query's budget (its own limits, inside ``budget`` when shared) and deadline."""
        o = self.options
        if o.max_calls is None and o.max_tokens is None and o.max_cost_usd is None:
            ctx.budget = budget
        else:
            ctx.budget = Budget(max_calls=o.max_calls, max_tokens=o.max_tokens,
                                max_cost_usd=o.max_cost_usd, parent=budget)
        if o.deadline_s is not None:
            ctx.deadline = asyncio.get_running_loop().time() + o.deadline_s

    def check_stopped(self, results: RankedResults) -> None:
        if results.stopped == "budget" and self.options.on_budget == "raise":
            raise BudgetExceeded(
                f"{self.name}: the budget ran out ({results.budget_note or 'budget'}); "
                "results holds the partial ranking", results=results)

    async def ask(
        self,
        ctx: RankingContext,
        variables: Callable[[int | None], dict[str, Any]],
        parse: Callable[[Completion], T | None],
        *,
        answer_tokens: int,
        sample: int = 0,
        complete: Callable[[T], bool] | None = None,
        template: PromptTemplate | None = None,
        **params: Any,
    ) -> T | None:
        """Render, call (cache, budget, retries), parse, and re-ask once with the template's
        ``repair`` reminder when the answer is unusable (``parse_retries``).

        ``None`` means no usable answer: a parse failure (counted in usage), an LLM failure
        absorbed by ``on_error="keep_order"`` (recorded in ``ctx.errors``), or a query that
        stopped calling (budget or deadline, recorded in ``ctx.stopped``). ``answer_tokens``
        caps the answer's length (see ``answer_params``); ``sample`` numbers samples of one
        prompt at a temperature above 0. ``complete`` tells a readable but partial answer (a
        listwise answer that leaves passages out) from a whole one: a partial answer is asked
        again like an unreadable one, is never cached, and is used only when no whole answer
        comes back. ``template`` replaces the strategy's for this call.
        """
        if ctx.stopped is not None:
            return None
        template = template or self.template
        messages = self.render(ctx, variables, template)
        question = messages
        call_params = {**self.answer_params(answer_tokens), **params}

        def whole(parsed: T | None) -> bool:
            return parsed is not None and (complete is None or complete(parsed))

        def usable(completion: Completion) -> bool:
            return whole(parse(completion))

        partial: T | None = None
        for asked in range(self.options.parse_retries + 1):
            try:
                completion = await self.llm.complete(
                    question, ctx.usage, accept=usable, key_messages=messages,
                    budget=ctx.budget, deadline=ctx.deadline, sample=sample, **call_params)
            except BudgetStop as stop:
                ctx.stopped = ctx.stopped or "budget"
                ctx.budget_note = str(stop)
                return None
            except DeadlineStop:
                ctx.stopped = ctx.stopped or "deadline"
                return None
            except LLMCallError as exc:
                if self.options.on_error == "raise":
                    raise
                ctx.errors.append(str(exc))
                return None
            parsed = parse(completion)
            if whole(parsed):
                return parsed
            partial = partial if parsed is None else parsed
            repair = template.render_repair(
                **self.prompt_variables(ctx), **variables(MIN_PASSAGE_WORDS))
            if repair is None or asked == self.options.parse_retries:
                break
            ctx.usage.repairs += 1
            question = [*messages,
                        {"role": "assistant", "content": completion.text[:MAX_ECHOED_ANSWER]},
                        {"role": "user", "content": repair}]
        if partial is None:
            ctx.usage.parse_failures += 1
        return partial


MIN_PASSAGE_WORDS = 16
DECOMPOSE_ANSWER_TOKENS = 200
MAX_ECHOED_ANSWER = 2000  # characters of an unusable answer quoted back in a re-ask
ENTRY_POINT_GROUP = "llm_rerank.strategies"


@functools.cache
def _decompose_template() -> PromptTemplate:
    return PromptTemplate.load("criteria/decompose")


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


async def gather_in_order(tasks: Iterable[Awaitable[T]]) -> list[T]:
    """``asyncio.gather`` that cancels the siblings when one task fails."""
    pending = [asyncio.ensure_future(t) for t in tasks]
    try:
        return list(await asyncio.gather(*pending))
    except BaseException:
        for task in pending:
            task.cancel()
        raise
