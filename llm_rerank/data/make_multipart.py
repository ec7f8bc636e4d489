"""Generate the bundled multi-part sample, ``llm_rerank/data/multipart/``, from its prose in
``multipart/source.json`` (each query, its parts with a sentence answering each fully and one
answering it partly, and three on-topic distractor sentences).

Every query has 2-4 parts; each part has a sentence answering it fully and one answering
it partly, plus three on-topic distractor sentences. Passages are made of one to four of
these sentences: passages answering every part, several parts, one part (fully or partly,
alone or with a distractor), and distractors only. A passage's grade for a part is 2 when
it holds the part's full answer, 1 when it holds only the partial one, else 0. Its overall
grade is ``ceil(3 * mean part grade / 2)``: 0 answers nothing, 3 answers (nearly) all.
The first-stage order is a seeded shuffle.

    python -m llm_rerank.data.make_multipart   # rewrites llm_rerank/data/multipart/

>>> len(combos(2)), combos(2)[:3]
(20, [('F1', 'F2'), ('W1', 'W2'), ('F1', 'W2')])
"""

from __future__ import annotations

import itertools
import json
import math
import random
import sys
from pathlib import Path
from typing import Any

MULTIPART_DIR = Path(__file__).resolve().parent / "multipart"
PASSAGES_PER_QUERY = 24
SEED = 12


def combos(parts: int) -> list[tuple[str, ...]]:
    """Sentence keys of the passages, most informative shapes first: ``F1`` is part 1's
    full answer, ``W1`` its partial one, ``D1`` a distractor."""
    full = [f"F{i}" for i in range(1, parts + 1)]
    weak = [f"W{i}" for i in range(1, parts + 1)]
    shapes: list[tuple[str, ...]] = [tuple(full), tuple(weak)]
    shapes += [tuple(f if i == j else w for j, (f, w) in enumerate(zip(full, weak, strict=True)))
               for i in range(parts)]
    shapes += [tuple(pair) for pair in itertools.combinations(full, 2)] if parts > 2 else []
    shapes += [("D1",), ("D2",), ("D3",), ("D1", "D2"), ("D2", "D3"), ("D3", "D1")]
    shapes += [(f,) for f in full] + [(w,) for w in weak]
    shapes += [(f, f"D{i % 3 + 1}") for i, f in enumerate(full)]
    shapes += [(f"D{(i + 1) % 3 + 1}", w) for i, w in enumerate(weak)]
    shapes += [(f"D{i % 3 + 1}", f) for i, f in enumerate(full)]
    return list(dict.fromkeys(shapes))[:PASSAGES_PER_QUERY]


def generate(out: Path = MULTIPART_DIR, source: Path = MULTIPART_DIR / "source.json") -> int:
    """Write ``queries.jsonl``, ``qrels`` and ``aspects.qrels`` into ``out`` from the prose
    in ``source``; returns the number of passages."""
    queries: list[dict[str, Any]] = json.loads(source.read_text(encoding="utf-8"))
    rng = random.Random(SEED)
    out.mkdir(parents=True, exist_ok=True)
    rows, qrels, aspects = [], [], []
    for query in queries:
        qid, parts = str(query["id"]), query["parts"]
        sentences = {f"D{i}": text for i, text in enumerate(query["distractors"], start=1)}
        for i, part in enumerate(parts, start=1):
            sentences[f"F{i}"], sentences[f"W{i}"] = part["full"], part["partial"]
        shapes = combos(len(parts))
        rng.shuffle(shapes)
        candidates = []
        for n, shape in enumerate(shapes, start=1):
            doc_id = f"{qid}-{n:02d}"
            candidates.append({"id": doc_id, "text": " ".join(sentences[k] for k in shape)})
            grades = [2 if f"F{i}" in shape else 1 if f"W{i}" in shape else 0
                      for i in range(1, len(parts) + 1)]
            for i, grade in enumerate(grades, start=1):
                aspects.append(f"{qid} {qid}.{i} {doc_id} {grade}")
            overall = math.ceil(3 * sum(grades) / (2 * len(grades)))
            qrels.append(f"{qid} 0 {doc_id} {overall}")
        rows.append({"query_id": qid, "query": query["query"],
                     "parts": [{"id": f"{qid}.{i}", "text": part["text"]}
                               for i, part in enumerate(parts, start=1)],
                     "candidates": candidates})
    (out / "queries.jsonl").write_text(
        "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    (out / "qrels").write_text("\n".join(qrels) + "\n", encoding="utf-8")
    (out / "aspects.qrels").write_text("\n".join(aspects) + "\n", encoding="utf-8")
    return len(qrels)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else MULTIPART_DIR
    print(f"{generate(target)} passages -> {target}")
