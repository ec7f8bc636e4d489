"""Loaders for the evaluation data sets (not shipped: pass their folder or set
``LLM_RERANK_DATA``).

Expected layout under the data folder::

    trec-dl19/bm25_dl19_top100.jsonl   RankGPT rows, BM25 top-100 per query
    trec-dl19/qrels.txt                TREC qrels, grades 0-3
    noveleval/corpus.tsv               docid<TAB>text (no header, CSV-style quoting)
    noveleval/queries.tsv              qid<TAB>query (no header)
    noveleval/qrels.txt                TREC qrels, grades 0-2

Example (skipped when the data is absent)::

    requests, qrels = load_trec_dl19(data_dir_from_env())
    len(requests), len(requests[0].documents)   # (43, 100)
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from ..errors import InvalidInput
from ..models import Document
from .io import RerankRequest, read_requests
from .trec import Qrels, read_qrels

DATA_ENV = "LLM_RERANK_DATA"


def data_dir_from_env(arg: str | Path | None = None) -> Path:
    """The data folder: ``arg`` if given, else ``$LLM_RERANK_DATA``; it must exist."""
    value = arg if arg is not None else os.environ.get(DATA_ENV)
    if not value:
        raise InvalidInput(f"no data folder: pass one or set the {DATA_ENV} environment variable")
    path = Path(value).expanduser()
    if not path.is_dir():
        raise InvalidInput(f"data folder not found: {path}")
    return path


def _dataset_dir(data_dir: str | Path | None, name: str) -> Path:
    """``data_dir/name``, or ``data_dir`` itself when it already is that data set's folder."""
    root = data_dir_from_env(data_dir)
    return root if root.name == name else root / name


def _require(path: Path) -> Path:
    if not path.is_file():
        raise InvalidInput(f"data file not found: {path}")
    return path


def load_trec_dl19(data_dir: str | Path | None = None) -> tuple[list[RerankRequest], Qrels]:
    """TREC DL 2019 passages: 43 queries with their BM25 top-100 (in BM25 order) and qrels.

    ``data_dir`` is the data folder (or its ``trec-dl19`` subfolder); ``None`` reads
    ``$LLM_RERANK_DATA``.
    """
    folder = _dataset_dir(data_dir, "trec-dl19")
    requests = read_requests(_require(folder / "bm25_dl19_top100.jsonl"))
    return requests, read_qrels(_require(folder / "qrels.txt"))


def _read_tsv(path: Path) -> list[tuple[str, str]]:
    """Two-column TSV rows (no header; fields may be quoted CSV-style, with ``""`` escapes)."""
    rows = []
    with _require(path).open(encoding="utf-8", newline="") as stream:
        for number, row in enumerate(csv.reader(stream, delimiter="\t"), start=1):
            if not row:
                continue
            if len(row) != 2:
                raise InvalidInput(
                    f"{path}:{number}: expected 2 tab-separated fields, got {len(row)}")
            rows.append((row[0], row[1]))
    return rows


def load_noveleval(data_dir: str | Path | None = None) -> tuple[list[RerankRequest], Qrels]:
    """NovelEval-2306: 21 queries x 20 web passages, graded 0-2.

    The files carry no first-stage ranking, so each query's candidates are the documents
    judged for it in the qrels, in ``corpus.tsv`` order. Queries come in ``queries.tsv``
    order; a query without judgments is left out. ``data_dir`` is the data folder (or its
    ``noveleval`` subfolder).
    """
    folder = _dataset_dir(data_dir, "noveleval")
    corpus = _read_tsv(folder / "corpus.tsv")
    qrels = read_qrels(_require(folder / "qrels.txt"))
    texts = dict(corpus)
    requests = []
    for qid, query in _read_tsv(folder / "queries.tsv"):
        judged = qrels.get(qid, {})
        missing = [doc_id for doc_id in judged if doc_id not in texts]
        if missing:
            raise InvalidInput(
                f"{folder}: query {qid}: judged documents not in corpus.tsv: {missing}")
        documents = [Document(text=text, id=doc_id) for doc_id, text in corpus if doc_id in judged]
        if documents:
            requests.append(RerankRequest(query_id=qid, query=query, documents=documents))
    return requests, qrels
