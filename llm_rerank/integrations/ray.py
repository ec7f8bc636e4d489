"""Rerank a Ray ``Dataset`` of queries on a cluster (extra ``ray``).

``rerank_dataset`` takes rows ``{"query", "documents", ...}`` (documents as strings or
``{"id", "text", "metadata"}``) and returns the dataset with four more columns: ``ranking``
(input indices, best first), ``scores`` (in that order), ``usage`` (the query's ``Usage``)
and ``error`` (``None``, or the query's error: a failed query is a row with its error, not a
lost batch). Other columns pass through. Each of ``concurrency`` actors builds the reranker
once (and looks up the model's context window then) and ranks ``batch_size`` rows at a
time concurrently (its own in-flight limit, ``max_concurrency``). Give the actors a shared
cache (``cache="redis://..."``), a shared ``Budget(store=..., name=...)`` and shared rate
limits (``max_rpm``, ``rate_limit_store``): a budget without a store cannot hold across
actors and is refused.

Example::

    import ray
    from llm_rerank.integrations.ray import rerank_dataset

    rows = ray.data.from_items([{"query": "capital of France",
                                 "documents": ["Paris is...", "Lyon is..."]}])
    ranked = rerank_dataset(rows, "listwise", model="openai/gpt-4o-mini",
                            concurrency=4, cache="redis://cache:6379/0")
    ranked.take(1)[0]["ranking"]   # e.g. [0, 1]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput

if TYPE_CHECKING:
    from ..budget import Budget
    from ..models import RankedResults


def _documents(value: Any) -> list[Any]:
    """A row's documents as plain Python (Arrow gives arrays and dicts with Nones)."""
    items = value.tolist() if hasattr(value, "tolist") else list(value)
    documents: list[Any] = []
    for item in items:
        if isinstance(item, dict):
            document = {k: v for k, v in item.items() if v is not None}
            if isinstance(document.get("metadata"), dict):
                document["metadata"] = {k: v for k, v in document["metadata"].items()
                                        if v is not None}
            documents.append(document)
        else:
            documents.append(item)
    return documents


class RerankActor:
    """One Ray actor: the reranker, built once, ranking a batch of rows at a time."""

    def __init__(self, strategy: str, options: dict[str, Any], top_n: int | None,
                 budget: Budget | None, max_concurrent_queries: int,
                 with_results: bool = False) -> None:
        from ..registry import get_reranker

        self.reranker = get_reranker(strategy, **options)
        llm = getattr(self.reranker, "llm", None)
        if llm is not None:  # the model's tables (LiteLLM's import) now, not in the first batch
            llm.context_window()
        self.with_results = with_results  # a ``results`` column of RankedResults JSON (CLI)
        self.top_n, self.budget = top_n, budget
        self.max_concurrent_queries = max_concurrent_queries

    def __call__(self, batch: Any) -> Any:
        """Rank a pandas batch of rows; the batch with the four columns added."""
        from ..errors import BudgetExceeded
        from ..models import Usage

        items = [(str(query), _documents(documents))
                 for query, documents in zip(batch["query"], batch["documents"], strict=True)]
        outcomes = self.reranker.rank_batch(items, self.top_n, self.max_concurrent_queries,
                                            return_exceptions=True, budget=self.budget)
        rankings, scores, usages, errors, whole = [], [], [], [], []
        for outcome in outcomes:
            results: RankedResults | None = outcome if not isinstance(outcome, Exception) \
                else outcome.results if isinstance(outcome, BudgetExceeded) else None
            rankings.append([r.index for r in results] if results is not None else None)
            scores.append([r.score for r in results] if results is not None else None)
            usages.append((results.usage if results is not None else Usage()).model_dump())
            errors.append(f"{type(outcome).__name__}: {outcome}"
                          if isinstance(outcome, Exception) else None)
            whole.append(results.model_dump_json() if results is not None else None)
        batch = batch.copy()
        batch["ranking"], batch["scores"] = rankings, scores
        batch["usage"], batch["error"] = usages, errors
        if self.with_results:
            batch["results"] = whole
        return batch


def rerank_dataset(dataset: Any, strategy: str, *, top_n: int | None = None,
                   concurrency: int = 1, batch_size: int = 16,
                   max_concurrent_queries: int = 16, budget: Budget | None = None,
                   with_results: bool = False, **options: Any) -> Any:
    """``dataset`` (a ``ray.data.Dataset`` of ``{"query", "documents"}`` rows) with the
    columns ``ranking``, ``scores``, ``usage`` and ``error`` added (lazily, as Ray does).

    ``strategy`` and ``options`` are ``get_reranker``'s (``model=...``, ``cache=...``);
    ``concurrency`` is the number of actors; ``batch_size`` rows go to an actor at a time
    and ``max_concurrent_queries`` of them are ranked at once. ``budget`` must have a
    ``store`` when ``concurrency > 1``. ``with_results=True`` adds ``results``: each
    query's whole ``RankedResults`` as JSON.
    """
    for name, value in (("concurrency", concurrency), ("batch_size", batch_size),
                        ("max_concurrent_queries", max_concurrent_queries)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInput(f"{name} must be an int >= 1, got {value!r}")
    if budget is not None and budget.store is None and concurrency > 1:
        raise InvalidInput(f"a budget cannot hold across {concurrency} actors without a "
                           "shared ledger: give it store='redis://...' and a name")
    import ray

    from ..registry import get_reranker

    get_reranker(strategy, **options)  # a bad option fails here, once, not in every actor
    return dataset.map_batches(
        RerankActor, batch_format="pandas", batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=concurrency),
        fn_constructor_kwargs={"strategy": strategy, "options": options, "top_n": top_n,
                               "budget": budget, "with_results": with_results,
                               "max_concurrent_queries": max_concurrent_queries})
