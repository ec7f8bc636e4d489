"""What a reranking run went through: usage, failed LLM calls, parse failures, shrunk prompts,
and the queries with notes (e.g. a ``--criteria auto`` query kept whole).

Under ``on_error="keep_order"`` a failed call does not stop the run: the documents it
concerned keep their order and ``RankedResults.errors`` records it. The summary line and
``--strict`` make such failures visible.

>>> from llm_rerank.models import RankedResults
>>> outcome = Outcome()
>>> outcome.add(RankedResults(query="q", results=[], strategy="listwise", errors=["timeout"]))
>>> outcome.failed
True
>>> outcome.summary("reranked").split(", ")[3:6]
['1 failed call', '0 parse failures', '0 prompts shrunk']
>>> outcome.add(RankedResults(query="q", results=[], strategy="criteria", notes=["kept whole"]))
>>> outcome.summary("reranked").split("; ")[1]
'1 query with a note, first: kept whole'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..wording import counted

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
    notes: list[str] = field(default_factory=list)
    noted_queries: int = 0

    def add(self, results: RankedResults) -> None:
        self.queries += 1
        self.usage = self.usage + results.usage
        self.failed_calls += len(results.errors)
        self.prompts_shrunk += results.prompts_shrunk
        self.stopped += results.stopped is not None
        self.noted_queries += bool(results.notes)
        self.notes.extend(results.notes)

    @property
    def failed(self) -> bool:
        """Whether any call failed or any answer could not be parsed (``--strict``)."""
        return self.failed_calls > 0 or self.usage.parse_failures > 0

    def summary(self, label: str) -> str:
        usage = self.usage
        line = (f"{label} {counted(self.queries, 'query')}: "
                f"{counted(usage.llm_calls, 'LLM call')}, "
                f"{counted(usage.cache_hits, 'cache hit')}, "
                f"{counted(usage.prompt_tokens, 'prompt token')}, "
                f"{counted(self.failed_calls, 'failed call')}, "
                f"{counted(usage.parse_failures, 'parse failure')}, "
                f"{counted(self.prompts_shrunk, 'prompt shrunk', 'prompts shrunk')}, "
                f"{self.stopped} stopped early (budget or deadline), ${usage.cost_usd:.4f}")
        if self.notes:
            noted = counted(self.noted_queries, "query with a note", "queries with notes")
            line += f"; {noted}, first: {self.notes[0]}"
        return line


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
    return (f"llm-rerank: warning: query {query_id}: {counted(failed, 'failed call')} "
            f"(order kept), {counted(unparsed, 'parse failure')}{first}")
