"""Bundled sample data: 3 multi-part queries x 10 candidates with graded judgments.

>>> requests, qrels = load_sample()
>>> len(requests), len(requests[0].documents), sorted(qrels) == sorted(r.query_id for r in requests)
(3, 10, True)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..eval.io import RerankRequest
    from ..eval.trec import Qrels

DATA_DIR = Path(__file__).parent
SAMPLE_CANDIDATES = DATA_DIR / "sample.jsonl"
SAMPLE_QRELS = DATA_DIR / "sample.qrels"


def load_sample() -> tuple[list[RerankRequest], Qrels]:
    """The sample queries (candidates in first-stage order) and their qrels."""
    from ..eval.io import read_requests
    from ..eval.trec import read_qrels

    return read_requests(SAMPLE_CANDIDATES), read_qrels(SAMPLE_QRELS)
