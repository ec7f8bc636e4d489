"""Reranker options: one pydantic model per strategy, validated when the reranker is built.

Each option is declared once, with its type, range, default and description; a bad value
raises ``InvalidInput`` naming the option, the value and what is accepted, and an unknown
option raises ``TypeError``.

>>> LLMOptions.parse("Listwise", {"max_calls": 5}).max_calls
5
>>> LLMOptions.parse("Listwise", {"max_calls": 1.5})  # doctest: +ELLIPSIS
Traceback (most recent call last):
    ...
llm_rerank.errors.InvalidInput: Listwise: option max_calls=1.5: Input should be a valid integer...
>>> LLMOptions.parse("Listwise", {"max_call": 5})
Traceback (most recent call last):
    ...
TypeError: Listwise got an unknown option 'max_call'; did you mean 'max_calls'?

A renamed option (``RENAMED_OPTIONS``) is still accepted under its old name, with a
``DeprecationWarning``; giving both names raises ``InvalidInput``.
"""

from __future__ import annotations

import difflib
import sys
import warnings
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .criteria import CriteriaSpec, coerce_criteria
from .errors import InvalidInput
from .models import OnBudget, OnError
from .transports import check_transport

OptionsT = TypeVar("OptionsT", bound="RerankerOptions")

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MAX_RETRIES = 10
# deprecated option name -> the option's name now (the old name still works, with a warning)
RENAMED_OPTIONS: dict[str, str] = {"max_tokens": "max_budget_tokens"}
_PACKAGE_DIR = str(Path(__file__).parent)  # a deprecation is reported at the first frame outside


class RerankerOptions(BaseModel):
    """Base of every reranker's options (strict types, unknown names refused)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True,
                              arbitrary_types_allowed=True)

    @classmethod
    def parse(cls: type[OptionsT], owner: str, values: dict[str, Any]) -> OptionsT:
        """Validate ``values`` for reranker class ``owner`` (named in every error)."""
        values = _renamed(owner, values, set(cls.model_fields))
        known = set(cls.model_fields)
        for name in values:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise TypeError(f"{owner} got an unknown option {name!r}{hint}")
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = []
            for error in exc.errors(include_url=False):
                message = str(error["msg"]).removeprefix("Value error, ")
                if not error["loc"]:  # a rule across options
                    problems.append(message)
                    continue
                name = str(error["loc"][0])
                problems.append(f"option {name}={values.get(name, error.get('input'))!r}: "
                                f"{message}")
            raise InvalidInput(f"{owner}: " + "; ".join(dict.fromkeys(problems))) from None


def _renamed(owner: str, values: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """``values`` with the deprecated names of options in ``known`` replaced by their
    current names, warning (``DeprecationWarning``, at the caller outside this package)."""
    old_names = [old for old, new in RENAMED_OPTIONS.items() if old in values and new in known]
    for old in old_names:
        new = RENAMED_OPTIONS[old]
        if new in values:
            raise InvalidInput(f"{owner}: options {old!r} and {new!r} are one option ({old!r} "
                               f"is its deprecated name); give only {new!r}")
        frame, level = sys._getframe(0), 1
        while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
            frame, level = frame.f_back, level + 1
        warnings.warn(f"{owner}: option {old!r} is deprecated, use {new!r} (same meaning)",
                      DeprecationWarning, stacklevel=level)
    return {RENAMED_OPTIONS[k] if k in old_names else k: v for k, v in values.items()}


class LLMOptions(RerankerOptions):
    """Options every LLM strategy takes (a strategy's own options extend this model)."""

    template: str | Path | None = Field(
        None, description="bundled template name or path to a .j2 file (default: the strategy's)")
    api_base: str | None = Field(None, description="endpoint URL, e.g. http://localhost:11434")
    api_key: str | None = Field(None, repr=False, description="API key (never cached or shown)")
    timeout: float = Field(DEFAULT_TIMEOUT_S, gt=0, description="seconds per call attempt")
    temperature: float | None = Field(0.0, ge=0, le=2, description="sampling temperature")
    completion_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="extra keyword arguments passed to LiteLLM")
    cache: Any = Field(True, description="True ($LLM_RERANK_CACHE_URL, else the default "
                                         "directory), a path, a redis:// URL, a cache object, "
                                         "or False")
    max_retries: int = Field(DEFAULT_MAX_RETRIES, ge=0, le=100,
                             description="retries of a call after transient errors")
    max_concurrency: int = Field(8, ge=1, le=4096, description="LLM calls in flight at once")
    transport: str = Field(
        "litellm", description="'litellm', 'direct' (openai/... models posted straight to "
                               "the OpenAI-compatible api_base: less client CPU per call), or "
                               "a transport added with register_transport")

    @field_validator("transport", mode="after")
    @classmethod
    def _transport(cls, value: str) -> str:
        try:
            return check_transport(value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None
    # issue 17: rate limits of the model, local or shared through a store
    max_rpm: int | None = Field(None, ge=1, description="calls started per minute, at most "
                                                        "(waited for, not refused)")
    max_tpm: int | None = Field(None, ge=1, description="estimated tokens per minute, at most "
                                                        "(waited for, not refused)")
    rate_limit_store: str | None = Field(
        None, description="a redis:// URL: max_rpm / max_tpm hold across every process using "
                          "this model and store")
    max_calls: int | None = Field(None, ge=1, description="per-query budget: call attempts")
    max_budget_tokens: int | None = Field(
        None, ge=1, description="per-query budget: prompt + completion tokens (formerly "
                                "max_tokens, still accepted with a DeprecationWarning)")
    max_cost_usd: float | None = Field(None, gt=0, description="per-query budget: US dollars")
    on_budget: OnBudget = Field("raise", description="'raise' BudgetExceeded (with the partial "
                                                     "ranking) or 'keep_order'")
    deadline_s: float | None = Field(None, gt=0, description="per-query deadline in seconds")
    max_passage_words: int | None = Field(300, ge=1, description="passages cut to this length")
    on_error: OnError = Field("raise", description="a call that failed for good: 'raise' or "
                                                   "'keep_order' (recorded in the results)")
    parse_retries: int = Field(1, ge=0, le=5, description="re-asks after an unusable answer")
    instructions: str | None = Field(None, description="extra judging instructions, rendered "
                                                       "in their own section of every prompt")
    criteria: CriteriaSpec = Field(
        None, description="the query's parts: a list of str or {text, weight, required}, "
                          "or 'auto' (the LLM splits each query); rendered in every prompt")

    @field_validator("criteria", mode="plain")
    @classmethod
    def _criteria(cls, value: object) -> CriteriaSpec:
        return coerce_criteria(value)

    price: tuple[float, float] | None = Field(
        None, description="(input, output) US dollars per token, for a model LiteLLM does not "
                          "price (registered with register_price)")

    @field_validator("price", mode="before")
    @classmethod
    def _price(cls, value: object) -> object:
        if isinstance(value, list):  # a list is a pair too
            value = tuple(value)
        if isinstance(value, tuple) and not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
                for v in value):
            raise ValueError("both prices must be numbers >= 0 (US dollars per token)")
        return tuple(float(v) for v in value) if isinstance(value, tuple) else value


class PermutationOptions(LLMOptions):
    """Options of the strategies with permutation self-consistency (listwise, setwise)."""

    num_permutations: int = Field(1, ge=1, le=20, description="orders each prompt's passages "
                                  "are shown in, asked concurrently and aggregated")
    seed: int = Field(0, description="seed of the shuffled orders")
