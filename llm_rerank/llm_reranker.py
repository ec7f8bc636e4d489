"""``LLMReranker``: the shared base of the LLM strategies.

It holds one template and one ``LLMClient``, renders prompts that fit the model's context
window (shrinking passages when needed), asks (cache, budget, retries, one re-ask with the
template's repair reminder) and decomposes ``criteria="auto"`` queries. A strategy adds its
``_order`` and, in a nested ``Options`` model, its own options.

>>> from llm_rerank.strategies.listwise import ListwiseReranker
>>> rr = ListwiseReranker("openai/gpt-4o-mini", cache=False)
>>> isinstance(rr, LLMReranker), rr.template.name
(True, 'listwise/rankgpt')
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from .budget import Budget
from .criteria import MAX_AUTO_PARTS, Criteria, CriteriaSpec, Criterion
from .errors import BudgetExceeded, InvalidInput, LLMCallError
from .llm import BudgetStop, DeadlineStop, LLMClient
from .models import RankedResults
from .options import LLMOptions
from .parsing_criteria import parse_decomposition
from .prompts import PromptTemplate, one_line, truncate_passage
from .reranker import RankingContext, Reranker
from .tags import request_tag
from .transports.base import Completion, Messages
from .transports.litellm import register_price

T = TypeVar("T")


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
                transport=o.transport, max_rpm=o.max_rpm, max_tpm=o.max_tpm,
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
        answer, or none, leaves the whole query as the one criterion, and ``ctx.notes`` says
        so and why."""
        if ctx.criteria == "auto":
            errors_before = len(ctx.errors)
            parts = await self.ask(ctx, lambda _: {}, lambda c: parse_decomposition(c.text),
                                   answer_tokens=DECOMPOSE_ANSWER_TOKENS,
                                   template=_decompose_template())
            ctx.criteria = tuple(Criterion(text=part) for part in parts or [ctx.query])
            if not parts:
                ctx.notes.append(f"{KEPT_WHOLE}: {self._why_not_split(ctx, errors_before)}")

    def _why_not_split(self, ctx: RankingContext, errors_before: int) -> str:
        if ctx.stopped is not None:
            return f"the {ctx.stopped} ran out"
        if len(ctx.errors) > errors_before:
            return f"the decomposition call failed ({ctx.errors[-1]})"
        return (f"the model's answer could not be read as 2-{MAX_AUTO_PARTS} parts "
                f"(asked {self.options.parse_retries + 1} times)")

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
        if o.max_calls is None and o.max_budget_tokens is None and o.max_cost_usd is None:
            ctx.budget = budget
        else:
            ctx.budget = Budget(max_calls=o.max_calls, max_tokens=o.max_budget_tokens,
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
                    budget=ctx.budget, deadline=ctx.deadline, sample=sample,
                    tag=request_tag(strategy=self.name, kind=template.kind), **call_params)
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


KEPT_WHOLE = 'criteria="auto": the query was kept whole as its one criterion'
MIN_PASSAGE_WORDS = 16
DECOMPOSE_ANSWER_TOKENS = 200
MAX_ECHOED_ANSWER = 2000  # characters of an unusable answer quoted back in a re-ask


@functools.cache
def _decompose_template() -> PromptTemplate:
    return PromptTemplate.load("criteria/decompose")
