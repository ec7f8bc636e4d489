"""What a reranking run went through: usage, failed LLM calls, parse failures, shrunk prompts.

Under ``on_error="keep_order"`` a failed call does not stop the run: the documents it
concerned keep their order and ``RankedResults.errors`` records it. The summary line and
``--strict`` make such failures visible.

>>> from llm_rerank.models import RankedResults
>>> outcome = Outcome()
>>> outcome.add(RankedResults(query="q", results=[], strategy="listwise", errors=["timeout"]))
>>> outcome.failed
True
>>> outcome.summary("reranked").split(", ")[3:6]
['1 failed calls', '0 parse failures', '0 prompts shrunk']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..models import RankedResults, Usage

STRICT_HELP = ("exit with status 1 when any LLM call failed (its documents kept their order, "
               "e.g. with -O on_error=keep_order) or any answer could not be parsed")


def _usage() -> Usage:
    from ..models import Usage

    return Usage()


@dataclass
class Outcome:
    """Totals over the queries of a run; ``add`` each query's ``RankedResults``."""

    queries: int = 0
    usage: Usage = field(default_factory=_usage)
    failed_calls: int = 0
    prompts_shrunk: int = 0
    stopped: int = 0

    def add(self, results: RankedResults) -> None:
        self.queries += 1
        self.usage = self.usage + results.usage
        self.failed_calls += len(results.errors)
        self.prompts_shrunk += results.prompts_shrunk
        self.stopped += results.stopped is not None

    @property
    def failed(self) -> bool:
        """Whether any call failed or any answer could not be parsed (``--strict``)."""
        return self.failed_calls > 0 or self.usage.parse_failures > 0

    def summary(self, label: str) -> str:
        usage = self.usage
        return (f"{label} {self.queries} queries: {usage.llm_calls} LLM calls, "
                f"{usage.cache_hits} cache hits, {usage.prompt_tokens} prompt tokens, "
                f"{self.failed_calls} failed calls, {usage.parse_failures} parse failures, "
                f"{self.prompts_shrunk} prompts shrunk, {self.stopped} stopped early "
                f"(budget or deadline), ${usage.cost_usd:.4f}")


def query_problems(query_id: str, results: RankedResults) -> str | None:
    """One stderr line about a query's failed calls and parse failures, or None.

    >>> from llm_rerank.models import RankedResults
    >>> print(query_problems("q1", RankedResults(query="q", results=[], strategy="x",
    ...                                          errors=["503", "timeout"])))
    llm-rerank: warning: query q1: 2 failed calls (order kept), 0 parse failures; first: 503
    """
    failed, unparsed = len(results.errors), results.usage.parse_failures
    if not failed and not unparsed:
        return None
    first = f"; first: {results.errors[0]}" if results.errors else ""
    return (f"llm-rerank: warning: query {query_id}: {failed} failed calls (order kept), "
            f"{unparsed} parse failures{first}")
