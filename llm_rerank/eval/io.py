"""Reading reranking inputs and writing rankings.

Two JSONL input shapes are read, one object a line:
RankGPT rows ``{"query", "hits": [{"content", "docid", "qid", ...}]}`` and
``{"query_id", "query", "candidates": [{"id", "text", ...}]}``. Multi-part queries add
each part's text (a row's ``"parts": [{id, text}]``, ``read_query_parts``) and grades
(the qrels extension ``qid part docid grade``, ``read_aspect_qrels``).

>>> import io
>>> row = '{"query_id": "q1", "query": "x", "candidates": [{"id": "d", "text": "t"}]}'
>>> rows = io.StringIO(row + "\\n")
>>> [(r.query_id, r.documents[0].id) for r in read_requests(rows)]
[('q1', 'd')]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from ..criteria import CriteriaSpec, coerce_criteria
from ..errors import InvalidInput
from ..files import Source, text_lines
from ..models import Document, RankedResults
from .trec import check_trec_ids, load_json_line

RunFormat = Literal["jsonl", "trec"]


@dataclass
class RerankRequest:
    """One query to rerank: its id, text and candidate documents (in first-stage order),
    and the row's own ``instructions`` and ``criteria`` when it carries them."""

    query_id: str
    query: str
    documents: list[Document]
    instructions: str | None = None
    criteria: CriteriaSpec = None


def _candidate(raw: object, where: str, text_key: str, id_key: str) -> Document:
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where}: a candidate must be an object, got {type(raw).__name__}")
    if not isinstance(raw.get(text_key), str):
        raise InvalidInput(f"{where}: a candidate has no string {text_key!r}")
    if raw.get(id_key) is None:
        raise InvalidInput(f"{where}: a candidate has no {id_key!r}")
    metadata = {k: v for k, v in raw.items() if k not in (text_key, id_key)}
    return Document(text=raw[text_key], id=str(raw[id_key]), metadata=metadata)


def parse_request(row: object, where: str) -> RerankRequest:
    """One input row, in either JSONL shape, as a ``RerankRequest``."""
    if not isinstance(row, dict):
        raise InvalidInput(f"{where}: expected a JSON object, got {type(row).__name__}")
    query = row.get("query")
    if not isinstance(query, str) or not query.strip():
        raise InvalidInput(f"{where}: missing or empty 'query'")
    if "hits" in row:
        hits = row["hits"]
        if not isinstance(hits, list):
            raise InvalidInput(f"{where}: 'hits' must be a list")
        docs = [_candidate(h, where, "content", "docid") for h in hits]
        qid = row.get("query_id") or (hits[0].get("qid") if hits else None)
    elif "candidates" in row:
        candidates = row["candidates"]
        if not isinstance(candidates, list):
            raise InvalidInput(f"{where}: 'candidates' must be a list")
        docs = [_candidate(c, where, "text", "id") for c in candidates]
        qid = row.get("query_id")
    else:
        raise InvalidInput(f"{where}: a row needs 'hits' (RankGPT) or 'candidates'")
    if qid is None:
        raise InvalidInput(f"{where}: no query id ('query_id', or 'qid' on the hits)")
    if not docs:
        raise InvalidInput(f"{where}: no candidates")
    instructions = row.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise InvalidInput(f"{where}: 'instructions' must be a string")
    try:
        criteria = coerce_criteria(row.get("criteria"))
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc}") from None
    return RerankRequest(query_id=str(qid), query=query, documents=docs,
                         instructions=instructions, criteria=criteria)


def read_requests(source: Source) -> list[RerankRequest]:
    """Read every row of a reranking input file (path or open text stream).

    Problems raise ``InvalidInput`` naming the file and line: bytes that are not UTF-8
    (a leading byte-order mark is fine), a line that is not one JSON object, a missing field.
    """
    requests: list[RerankRequest] = []
    with text_lines(source, "input") as (lines, name):
        for number, line in lines:
            if not line.strip():
                continue
            where = f"{name}:{number}"
            row = load_json_line(line, where)
            if isinstance(row, list) and not requests:
                raise InvalidInput(f"{where}: the file is a JSON array; write one JSON object "
                                   "a line (JSONL)")
            requests.append(parse_request(row, where))
    if not requests:
        raise InvalidInput(f"{name}: no rows")
    return requests


def results_to_jsonl(query_id: str, results: RankedResults) -> dict[str, Any]:
    """One output JSONL row: the query, the ranked candidates and the usage."""
    return {
        "query_id": query_id,
        "query": results.query,
        "strategy": results.strategy,
        "model": results.model,
        "candidates": [
            {"id": r.document.id, "rank": r.rank, "index": r.index, "score": r.score,
             "text": r.document.text,
             **({"criteria": r.details["criteria"]} if "criteria" in r.details else {})}
            for r in results
        ],
        "usage": results.usage.model_dump(),
        "errors": results.errors,
        **({"notes": results.notes} if results.notes else {}),
    }


def trec_lines(query_id: str, results: RankedResults, tag: str) -> Iterator[str]:
    """TREC run lines ``qid Q0 docid rank score tag``; ids a run cannot hold raise
    ``InvalidInput`` (see ``check_trec_ids``) before the first line.

    The score column is ``N - rank + 1``: evaluation tools sort by score, and strategy
    scores may tie, so this keeps our order exactly (JSONL output keeps the real scores).
    """
    doc_ids = [r.document.id if r.document.id is not None else str(r.index) for r in results]
    check_trec_ids(query_id, doc_ids)
    count = len(results)
    for r, doc_id in zip(results, doc_ids, strict=True):
        yield f"{query_id} Q0 {doc_id} {r.rank} {count - r.rank + 1} {tag}"


def write_results(
    stream: IO[str], items: Iterable[tuple[str, RankedResults]], fmt: RunFormat, tag: str
) -> None:
    """Write ``(query_id, results)`` pairs as JSONL or a TREC run."""
    for query_id, results in items:
        if fmt == "trec":
            stream.writelines(line + "\n" for line in trec_lines(query_id, results, tag))
        else:
            stream.write(json.dumps(results_to_jsonl(query_id, results), ensure_ascii=False) + "\n")


@dataclass
class Aspect:
    """One part (criterion) of a multi-part query: its text and its grades
    (``{docid: grade}``), what the simulated judge knows of it."""

    text: str
    grades: dict[str, int]


AspectQrels = dict[str, dict[str, dict[str, int]]]  # qid -> criterion id -> docid -> grade


def read_aspect_qrels(path: str | Path) -> AspectQrels:
    """Read the qrels extension for multi-part queries: lines ``qid criterion docid grade``
    (``criterion`` is an id without spaces; blank lines and ``#`` comments skipped).

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".qrels", delete=False) as f:
    ...     _ = f.write("q1 cost d1 2\\nq1 winter d1 0\\n")
    >>> read_aspect_qrels(f.name)
    {'q1': {'cost': {'d1': 2}, 'winter': {'d1': 0}}}
    >>> os.unlink(f.name)
    """
    found: AspectQrels = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) != 4 or not fields[3].lstrip("-").isdigit():
            raise InvalidInput(f"{path}:{number}: expected 'qid criterion docid grade', "
                               f"got {line.strip()[:80]!r}")
        qid, criterion, doc_id, grade = fields
        found.setdefault(qid, {}).setdefault(criterion, {})[doc_id] = int(grade)
    return found


def read_query_parts(path: str | Path) -> dict[str, list[tuple[str, str]]]:
    """Each multi-part query's parts, ``(id, text)``, from the ``"parts": [{id, text}]`` of
    its row in a queries JSONL (rows without ``parts`` are left out).

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
    ...     _ = f.write('{"query_id": "q1", "parts": [{"id": "cost", "text": "Cost?"}]}\\n')
    >>> read_query_parts(f.name)
    {'q1': [('cost', 'Cost?')]}
    >>> os.unlink(f.name)
    """
    parts: dict[str, list[tuple[str, str]]] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        row = json.loads(line) if line.strip() else None
        if isinstance(row, dict) and isinstance(row.get("parts"), list):
            try:
                parts[str(row["query_id"])] = [(str(p["id"]), str(p["text"]))
                                               for p in row["parts"]]
            except (KeyError, TypeError):
                raise InvalidInput(f"{path}:{number}: 'parts' must be a list of {{id, text}} "
                                   "with the row's query_id") from None
    return parts
