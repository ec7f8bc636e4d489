"""Ray Data batches (issue 17): a Dataset of queries reranked by actors, on a local Ray."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from integration_data import QRELS, REQUESTS

from llm_rerank import get_reranker
from llm_rerank.budget import Budget
from llm_rerank.errors import InvalidInput
from llm_rerank.testing import JudgeServer

ray = pytest.importorskip("ray", reason="the 'ray' extra is not installed")
pytest.importorskip("pandas", reason="ray[data] is not installed")

OPTIONS = {"model": "openai/judge", "api_key": "x", "window_size": 4, "step": 2,
           "transport": "direct"}


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(address="local", num_cpus=2, include_dashboard=False,
             object_store_memory=100 * 1024 * 1024,
             log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def server() -> Iterator[JudgeServer]:
    with JudgeServer(REQUESTS, QRELS) as judge:
        yield judge


def rows(as_text: bool = False) -> list[dict[str, Any]]:
    """The sample's queries, documents as {id, text, metadata} (or as plain strings: a
    dataset has one schema)."""
    return [{"query_id": r.query_id, "query": r.query,
             "documents": [d.text if as_text else {"id": d.id, "text": d.text,
                                                   "metadata": {"n": i}}
                           for i, d in enumerate(r.documents)]} for r in REQUESTS]


def test_a_dataset_ranks_like_a_local_batch(local_ray: None, server: JudgeServer,
                                            tmp_path: Any) -> None:
    from llm_rerank.integrations.ray import rerank_dataset

    options = {**OPTIONS, "api_base": server.url, "cache": str(tmp_path / "cache")}
    ranked = rerank_dataset(ray.data.from_items(rows()), "listwise", concurrency=2,
                            batch_size=2, **options).take_all()
    local = get_reranker("listwise", **{**options, "cache": False}).rank_batch(
        [(r.query, r.documents) for r in REQUESTS])
    by_id = {row["query_id"]: row for row in ranked}
    assert len(ranked) == len(REQUESTS)
    for request, results in zip(REQUESTS, local, strict=True):
        row = by_id[request.query_id]
        assert list(row["ranking"]) == [r.index for r in results] and row["error"] is None
        assert list(row["scores"]) == [r.score for r in results]
        assert row["usage"]["llm_calls"] + row["usage"]["cache_hits"] >= 1


def test_a_failed_query_is_a_row_with_its_error(local_ray: None, server: JudgeServer) -> None:
    from llm_rerank.integrations.ray import rerank_dataset

    bad = [{"query_id": "bad", "query": "q", "documents": ["text", None]}]  # None: no text
    data = ray.data.from_items(rows(as_text=True)[:2] + bad)
    ranked = rerank_dataset(data, "listwise", api_base=server.url, cache=False,
                            **OPTIONS).take_all()
    errors = [row["error"] for row in ranked]
    assert errors[:2] == [None, None] and "InvalidInput" in (errors[2] or "")
    assert ranked[2]["ranking"] is None and ranked[0]["ranking"] is not None


def test_a_budget_without_a_store_is_refused_across_actors() -> None:
    from llm_rerank.integrations.ray import rerank_dataset

    with pytest.raises(InvalidInput, match="shared ledger"):
        rerank_dataset(object(), "listwise", concurrency=2, budget=Budget(max_calls=3),
                       **OPTIONS)


def test_the_cli_engine_ray_on_jsonl_and_parquet(local_ray: None, server: JudgeServer,
                                                 tmp_path: Any) -> None:
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from llm_rerank.cli import main

    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"query_id": r.query_id, "query": r.query,
                                          "candidates": [{"id": d.id, "text": d.text}
                                                         for d in r.documents]}) + "\n"
                              for r in REQUESTS))
    pq.write_table(pa.Table.from_pylist(rows()), tmp_path / "in.parquet")
    common = ["-s", "listwise", "-m", "openai/judge", "--api-base", server.url, "--api-key",
              "x", "--no-cache", "-O", "window_size=4", "-O", "step=2", "--transport", "direct"]
    assert main(["rerank", "-i", str(source), "-o", str(tmp_path / "local.jsonl"), *common]) == 0
    for name in ("in.jsonl", "in.parquet"):
        out = tmp_path / f"{name}.out"
        # one actor: on a 2-CPU Ray, two actors would hold both CPUs that the Parquet read
        # task needs (a deadlock of Ray's scheduling, not of the engine)
        assert main(["rerank", "--engine", "ray", "--actors", "1", "-i", str(tmp_path / name),
                     "-o", str(out), *common]) == 0
        ranked = [json.loads(line) for line in out.read_text().splitlines()]
        local = [json.loads(line) for line in (tmp_path / "local.jsonl").read_text()
                 .splitlines()]
        assert [row["query_id"] for row in ranked] == [r.query_id for r in REQUESTS]
        assert [[h["id"] for h in row["candidates"]] for row in ranked] == \
            [[h["id"] for h in row["candidates"]] for row in local]
