"""Bundled sample data: 3 multi-part queries x 10 candidates with graded judgments, and
the multi-part sample (20 queries of 2-4 parts, 20-24 passages each, graded per part).

>>> requests, qrels = load_sample()
>>> len(requests), len(requests[0].documents), sorted(qrels) == sorted(r.query_id for r in requests)
(3, 10, True)
>>> sample = load_multipart()
>>> len(sample.requests), sorted({len(p) for p in sample.parts.values()})
(20, [2, 3, 4])
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..eval.io import Aspect, AspectQrels, RerankRequest
    from ..eval.trec import Qrels

DATA_DIR = Path(__file__).parent
SAMPLE_CANDIDATES = DATA_DIR / "sample.jsonl"
SAMPLE_QRELS = DATA_DIR / "sample.qrels"
MULTIPART_DIR = DATA_DIR / "multipart"


def load_sample() -> tuple[list[RerankRequest], Qrels]:
    """The sample queries (candidates in first-stage order) and their qrels."""
    from ..eval.io import read_requests
    from ..eval.trec import read_qrels

    return read_requests(SAMPLE_CANDIDATES), read_qrels(SAMPLE_QRELS)


@dataclass
class MultipartSample:
    """The multi-part sample: requests, overall qrels, each query's parts
    (``{qid: [(part id, text)]}``) and per-part grades (``{qid: {part id: {docid: grade}}}``)."""

    requests: list[RerankRequest]
    qrels: Qrels
    parts: dict[str, list[tuple[str, str]]]
    aspect_qrels: AspectQrels

    def aspects(self) -> dict[str, list[Aspect]]:
        """The simulated judge's knowledge of each query's parts."""
        from ..eval.io import Aspect

        return {qid: [Aspect(text, dict(self.aspect_qrels.get(qid, {}).get(part_id, {})))
                      for part_id, text in parts]
                for qid, parts in self.parts.items()}


def load_multipart() -> MultipartSample:
    """The multi-part sample of ``data/multipart`` (see its README)."""
    from ..eval.io import read_aspect_qrels, read_query_parts, read_requests
    from ..eval.trec import read_qrels

    queries = MULTIPART_DIR / "queries.jsonl"
    return MultipartSample(read_requests(queries), read_qrels(MULTIPART_DIR / "qrels"),
                           read_query_parts(queries),
                           read_aspect_qrels(MULTIPART_DIR / "aspects.qrels"))
