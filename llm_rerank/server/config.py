"""What ``llm-rerank serve`` serves: named rerankers (a request picks one by ``model``) and
the limits every request must fit.

A config file (JSON, or TOML on Python 3.11+) names one or more rerankers; each entry takes
``strategy``, ``model`` and any option of that strategy::

    {"rerankers": {
        "fast": {"strategy": "listwise", "model": "openai/gpt-4o-mini"},
        "exact": {"strategy": "pairwise", "model": "openai/gpt-4o", "method": "allpair"}},
     "default": "fast"}

>>> config = ServeConfig.model_validate(
...     {"rerankers": {"fast": {"strategy": "listwise", "model": "openai/gpt-4o-mini",
...                             "window_size": 10}}})
>>> config.default_name, config.rerankers["fast"].options()
('fast', {'window_size': 10})
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ..budget import Budget
from ..errors import InvalidInput
from ..registry import get_reranker, reranker_names
from ..reranker import Reranker

ENV_VAR = "LLM_RERANK_SERVE_CONFIG"  # hands the configuration to worker processes (JSON)
AUTH_TOKEN_ENV = "LLM_RERANK_AUTH_TOKEN"


class RerankerSpec(BaseModel):
    """One served reranker: its strategy, its model, and strategy options (the other keys)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    strategy: str = Field(min_length=1, description="a registered strategy name "
                                                    "(see register_reranker)")
    model: str = Field(min_length=1, description="a LiteLLM model string, or the "
                                                 "cross-encoder's model name")

    @field_validator("strategy")
    @classmethod
    def _registered(cls, name: str) -> str:
        if name not in reranker_names():
            raise ValueError(f"unknown strategy {name!r}; known: {', '.join(reranker_names())}")
        return name

    def options(self) -> dict[str, Any]:
        """The strategy options: every key besides ``strategy`` and ``model``."""
        return dict(self.model_extra or {})


class ServeConfig(BaseModel):
    """The rerankers a server offers, by name, and the one used when a request names none."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rerankers: dict[str, RerankerSpec] = Field(min_length=1)
    default: str | None = None

    @model_validator(mode="after")
    def _default_is_known(self) -> ServeConfig:
        if self.default is not None and self.default not in self.rerankers:
            raise ValueError(f"default {self.default!r} is not one of the rerankers: "
                             f"{', '.join(self.rerankers)}")
        return self

    @property
    def default_name(self) -> str:
        """``default``, else the first reranker."""
        return self.default or next(iter(self.rerankers))


class ServerSettings(BaseModel):
    """Limits and access control of the HTTP API (the ``serve`` flags of the same names)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    auth_token: str | None = Field(default=None, repr=False, description="Bearer token required on "
                                                                 "the rerank routes")
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1, description="largest request body")
    max_documents: int = Field(default=1000, ge=1, description="most documents in one request")
    max_query_chars: int = Field(default=10_000, ge=1, description="longest query, in characters")
    max_tokens_per_doc: int = Field(default=4096, ge=1, description="passages are cut to this "
                                    "many tokens (Cohere's default; the bound of TEI's truncate)")
    retry_after_s: int = Field(default=5, ge=0,
                               description="Retry-After of a 503 when the provider gave none")
    read_timeout_s: float = Field(default=30.0, gt=0, description="seconds a request may take "
                                  "to arrive whole (headers and body) before its connection "
                                  "is closed")
    max_connections: int = Field(default=1000, ge=1, description="most open connections (at "
                                 "most half of ulimit -n); over it the longest-idle one closes")

    @field_validator("auth_token")
    @classmethod
    def _token_is_ascii(cls, token: str | None) -> str | None:
        # Header values are read as Latin-1 bytes: a token outside visible ASCII could never
        # match what a client sends.
        if token is not None and not all("!" <= char <= "~" for char in token.strip()):
            raise ValueError("the auth token must be visible ASCII characters (letters, digits, "
                             "punctuation), as an HTTP header carries it")
        return token

    # a spend cap over every request of the server (of every replica, with a store)
    budget_max_calls: int | None = Field(default=None, ge=1, description="server-wide budget: "
                                         "LLM call attempts")
    budget_max_tokens: int | None = Field(default=None, ge=1, description="server-wide budget: "
                                          "prompt + completion tokens")
    budget_max_cost_usd: float | None = Field(default=None, gt=0, description="server-wide "
                                              "budget: US dollars")
    budget_store: str | None = Field(default=None, description="a redis:// URL: the server-wide "
                                     "budget is one ledger for every replica naming it")
    budget_name: str = Field(default="default", min_length=1, description="the shared ledger's "
                             "name in the store")

    def server_budget(self) -> Budget | None:
        """The budget every request of this server is ranked under (``None``: none)."""
        limits = (self.budget_max_calls, self.budget_max_tokens, self.budget_max_cost_usd)
        if self.budget_store is None and all(limit is None for limit in limits):
            return None
        return Budget(max_calls=self.budget_max_calls, max_tokens=self.budget_max_tokens,
                      max_cost_usd=self.budget_max_cost_usd, store=self.budget_store,
                      name=self.budget_name)


class ServeSetup(BaseModel):
    """Everything a server process needs; travels to ``--workers`` processes as JSON."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config: ServeConfig
    settings: ServerSettings = Field(default_factory=lambda: ServerSettings())

    def to_env(self) -> str:
        """JSON for the ``LLM_RERANK_SERVE_CONFIG`` environment variable."""
        return json.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_env(cls) -> ServeSetup:
        """The setup that the ``serve`` command left in ``LLM_RERANK_SERVE_CONFIG``."""
        raw = os.environ.get(ENV_VAR)
        if not raw:
            raise InvalidInput(f"{ENV_VAR} is not set; start the server with llm-rerank serve")
        return cls.model_validate_json(raw)


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'config'}: "
        f"{str(error['msg']).removeprefix('Value error, ')}"
        for error in exc.errors(include_url=False))


def _read_toml(text: str, path: Path) -> object:
    if sys.version_info < (3, 11):
        raise InvalidInput(f"--config {path}: TOML needs Python 3.11+; use JSON")
    import tomllib

    return tomllib.loads(text)


def load_config(path: str | Path) -> ServeConfig:
    """Read a JSON (``.json``) or TOML (``.toml``) config file, naming the file in errors."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"--config {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"--config {path}: not UTF-8 text ({exc.reason})") from None
    try:
        data = _read_toml(text, path) if path.suffix.lower() == ".toml" else json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"--config {path}: not valid {path.suffix.lstrip('.').upper() or 'JSON'}"
                           f": {exc}") from None
    try:
        return ServeConfig.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(f"--config {path}: {_problems(exc)}") from None


def build_rerankers(config: ServeConfig) -> dict[str, Reranker]:
    """Build every reranker once (each opens its cache once), naming the entry in errors."""
    rerankers: dict[str, Reranker] = {}
    for name, spec in config.rerankers.items():
        try:
            rerankers[name] = get_reranker(spec.strategy, model=spec.model, **spec.options())
        except (TypeError, InvalidInput) as exc:
            raise InvalidInput(f"reranker {name!r}: {exc}") from None
    return rerankers
