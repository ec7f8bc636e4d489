"""TREC qrels and runs: reading, writing, and trec_eval's ranking order.

A run maps ``query id -> doc id -> score``; qrels map ``query id -> doc id -> grade``.
``read_run`` reads a TREC run (``qid Q0 docid rank score tag``) or a JSONL file of
rankings (our ``rerank`` output, or a reranking input file, where the candidate order
is the ranking).

>>> run = run_from_rankings({"q1": ["d3", "d1", "d2"]})
>>> run["q1"]
{'d3': 3.0, 'd1': 2.0, 'd2': 1.0}
>>> ranking(run["q1"])
['d3', 'd1', 'd2']
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ..errors import InvalidInput
from ..files import Source, atomic_write, text_lines

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]


def read_qrels(source: Source) -> Qrels:
    """Read TREC qrels, lines ``qid 0|Q0 docid grade`` (path or open text stream).

    >>> import io
    >>> read_qrels(io.StringIO("q1 0 d1 2\\nq1 0 d2 0\\n"))
    {'q1': {'d1': 2, 'd2': 0}}
    """
    qrels: Qrels = {}
    with text_lines(source, "qrels") as (lines, name):
        for number, line in lines:
            fields = line.split()
            if not fields:
                continue
            where = f"{name}:{number}"
            if len(fields) != 4:
                raise InvalidInput(
                    f"{where}: expected 4 columns 'qid 0 docid grade', got {len(fields)}: "
                    f"{line.strip()[:80]!r}"
                )
            qid, _, doc_id, grade = fields
            try:
                qrels.setdefault(qid, {})[doc_id] = int(grade)
            except ValueError:
                raise InvalidInput(f"{where}: grade {grade!r} is not an integer") from None
    if not qrels:
        raise InvalidInput(f"{name}: no judgments")
    return qrels


def _add(run: Run, qid: str, doc_id: str, score: float, where: str) -> None:
    scores = run.setdefault(qid, {})
    if doc_id in scores:
        raise InvalidInput(f"{where}: document {doc_id!r} appears twice for query {qid!r}")
    scores[doc_id] = score


def _read_trec_line(run: Run, fields: list[str], where: str) -> None:
    if len(fields) != 6:
        raise InvalidInput(
            f"{where}: expected 6 columns 'qid Q0 docid rank score tag', got {len(fields)}"
        )
    qid, _, doc_id, _, score, _ = fields
    try:
        value = float(score)
    except ValueError:
        raise InvalidInput(f"{where}: score {score!r} is not a number") from None
    _add(run, qid, doc_id, value, where)


def _ordered_ids(row: Mapping[str, object], where: str) -> tuple[str, list[str]]:
    """The query id and the ranked doc ids of one JSONL row (output or either input shape)."""
    if "candidates" in row:
        items, id_key = row["candidates"], "id"
    elif "hits" in row:
        items, id_key = row["hits"], "docid"
    else:
        raise InvalidInput(f"{where}: a row needs 'candidates' or 'hits'")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise InvalidInput(f"{where}: 'candidates'/'hits' must be a list of objects")
    qid = row.get("query_id")
    if qid is None and id_key == "docid" and items:
        qid = items[0].get("qid")
    if qid is None:
        raise InvalidInput(f"{where}: no query id ('query_id', or 'qid' on the hits)")
    if id_key == "id" and items and all(isinstance(item.get("rank"), int) for item in items):
        items = sorted(items, key=lambda item: item["rank"])  # our output rows carry ranks
    doc_ids = []
    for item in items:
        if item.get(id_key) is None:
            raise InvalidInput(f"{where}: a candidate has no {id_key!r}")
        doc_ids.append(str(item[id_key]))
    return str(qid), doc_ids


def load_json_line(line: str, where: str) -> object:
    """One JSONL line as a Python value; bad JSON raises ``InvalidInput`` naming ``where``.

    >>> load_json_line("[" * 100000, "in.jsonl:3")
    Traceback (most recent call last):
    ...
    llm_rerank.errors.InvalidInput: in.jsonl:3: JSON nested too deeply to read
    """
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        hint = ""
        if line.strip() in ("[", "{"):
            hint = "; write one complete JSON object a line (JSONL), not an indented document"
        raise InvalidInput(f"{where}: not valid JSON ({exc.msg}){hint}") from None
    except RecursionError:
        raise InvalidInput(f"{where}: JSON nested too deeply to read") from None
    except ValueError as exc:  # e.g. an integer past Python's digit limit
        raise InvalidInput(f"{where}: not valid JSON ({exc})") from None


def _read_jsonl_line(run: Run, line: str, where: str) -> None:
    row = load_json_line(line, where)
    if not isinstance(row, dict):
        raise InvalidInput(f"{where}: expected a JSON object, got {type(row).__name__}")
    qid, doc_ids = _ordered_ids(row, where)
    if qid in run:
        raise InvalidInput(f"{where}: query {qid!r} appears on two rows")
    run[qid] = {}
    for position, doc_id in enumerate(doc_ids):
        _add(run, qid, doc_id, float(len(doc_ids) - position), where)


def read_run(source: Source) -> Run:
    """Read a TREC run or a JSONL ranking file; the format is detected from the content.

    JSONL rows are our ``rerank`` output (``{"query_id", "candidates": [{"id", "rank"}]}``,
    ordered by ``rank``) or a reranking input row in either shape of
    ``llm_rerank.eval.io.read_requests`` (the candidate order is the ranking). A JSONL
    ranking of N documents gets scores N, N-1, ..., 1, so its order is kept exactly.

    >>> import io
    >>> read_run(io.StringIO("q1 Q0 d1 1 9.5 bm25\\nq1 Q0 d2 2 7 bm25\\n"))
    {'q1': {'d1': 9.5, 'd2': 7.0}}
    """
    run: Run = {}
    with text_lines(source, "run") as (lines, name):
        is_jsonl: bool | None = None
        for number, line in lines:
            stripped = line.strip()
            if not stripped:
                continue
            where = f"{name}:{number}"
            if is_jsonl is None:
                is_jsonl = stripped.startswith("{")
            if is_jsonl:
                _read_jsonl_line(run, stripped, where)
            else:
                _read_trec_line(run, stripped.split(), where)
    if not run:
        raise InvalidInput(f"{name}: the run is empty")
    return run


def ranking(scores: Mapping[str, float]) -> list[str]:
    """Doc ids in trec_eval's order: score descending, ties by doc id descending (as strings).

    >>> ranking({"a": 1.0, "b": 2.0, "c": 1.0})
    ['b', 'c', 'a']
    """
    return sorted(scores, key=lambda doc_id: (scores[doc_id], doc_id), reverse=True)


def run_from_rankings(rankings: Mapping[str, Sequence[str]]) -> Run:
    """A run whose scores (N, N-1, ..., 1) reproduce each query's doc id list in order."""
    run: Run = {}
    for qid, doc_ids in rankings.items():
        if len(set(doc_ids)) != len(doc_ids):
            raise InvalidInput(f"query {qid!r}: the ranking lists a document twice")
        run[qid] = {doc_id: float(len(doc_ids) - i) for i, doc_id in enumerate(doc_ids)}
    return run


def _format_score(score: float) -> str:
    return str(int(score)) if score.is_integer() and abs(score) < 1e15 else repr(score)


def trec_id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a TREC run column (query id, doc id), or None when it can.

    >>> trec_id_problem("doc 7"), trec_id_problem(""), trec_id_problem("d7")
    ('contains whitespace', 'is empty', None)
    """
    if not value:
        return "is empty"
    if any(ch.isspace() for ch in value):
        return "contains whitespace"
    return None


TREC_ID_HINT = ("a TREC run is whitespace-separated columns: fix the ids in the input, "
                "or write JSONL (--format jsonl)")


def check_trec_ids(query_id: str, doc_ids: Iterable[str]) -> None:
    """Raise ``InvalidInput`` naming the query, the id and the problem when a TREC run
    cannot hold these ids (empty, whitespace, a document listed twice for the query)."""
    problem = trec_id_problem(query_id)
    if problem:
        raise InvalidInput(f"query id {query_id!r} {problem}; {TREC_ID_HINT}")
    seen: set[str] = set()
    for doc_id in doc_ids:
        problem = trec_id_problem(doc_id)
        if problem is None and doc_id in seen:
            problem = "appears twice"
        if problem:
            raise InvalidInput(f"query {query_id!r}: document id {doc_id!r} {problem}; "
                               f"{TREC_ID_HINT}")
        seen.add(doc_id)


def write_run(
    target: Source, run: Mapping[str, Mapping[str, float]], tag: str = "llm_rerank"
) -> None:
    """Write a TREC run (``qid Q0 docid rank score tag``), each query in ``ranking`` order.

    Ids are checked before anything is written; a path is written atomically (an existing
    file is replaced only once the whole run is written).
    """
    if not tag or any(ch.isspace() for ch in tag):
        raise InvalidInput(f"run tag {tag!r} must be non-empty and contain no whitespace")
    for qid, scores in run.items():
        check_trec_ids(qid, scores)
    if isinstance(target, (str, Path)):
        with atomic_write(target, "run file") as stream:
            write_run(stream, run, tag)
        return
    for qid, scores in run.items():
        for rank, doc_id in enumerate(ranking(scores), start=1):
            target.write(f"{qid} Q0 {doc_id} {rank} {_format_score(scores[doc_id])} {tag}\n")
