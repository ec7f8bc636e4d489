"""Retrieve with BM25 (``bm25s``), then rerank the candidates with an LLM.

BM25 ranks passages that share the query's words high, even when they are off-topic
("Northern Lights", the album); the LLM reranker reads them and puts the answers first.
Runs offline as it is (the simulated judge); pass ``--model`` for a real LLM.

Usage: python examples/bm25_then_rerank.py [--query "why does bread dough rise"]
       [--candidates 8] [--top-n 3] [--strategy listwise] [--model openai/gpt-4o-mini]
Needs, from the clone: pip install -e ".[examples]"
"""

from __future__ import annotations

import argparse

import bm25s
from sample_corpus import PASSAGES, QRELS, QUERIES, add_model_arguments, reranker_from

from llm_rerank import Document
from llm_rerank.eval.metrics import ndcg


def bm25_search(query: str, k: int) -> list[Document]:
    """The ``k`` best passages by BM25, best first, with their BM25 score in metadata."""
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([p.text for p in PASSAGES], show_progress=False),
                    show_progress=False)
    found, scores = retriever.retrieve(bm25s.tokenize([query], show_progress=False),
                                       k=min(k, len(PASSAGES)), show_progress=False)
    return [Document(id=PASSAGES[i].id, text=PASSAGES[i].text,
                     metadata={"title": PASSAGES[i].title, "bm25": float(score)})
            for i, score in zip(found[0], scores[0], strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--query", help="one question (default: the corpus's four questions)")
    parser.add_argument("--candidates", type=int, default=8, help="BM25 candidates (8)")
    parser.add_argument("--top-n", type=int, default=3, help="results kept (3)")
    add_model_arguments(parser)
    args = parser.parse_args()
    queries = {"": args.query} if args.query else QUERIES

    with reranker_from(args) as reranker:
        for query_id, query in queries.items():
            candidates = bm25_search(query, args.candidates)
            results = reranker.rank(query, candidates, top_n=args.top_n)
            print(f"\n{query}")
            for n, doc in enumerate(candidates[:args.top_n], 1):
                print(f"  bm25   {n}. {doc.id:7} {doc.metadata['title']}")
            for r in results:
                print(f"  rerank {r.rank}. {r.document.id:7} {r.document.metadata['title']}"
                      f"  (relevance {r.relevance_score:.2f})")
            if query_id in QRELS:
                before = ndcg([d.id or "" for d in candidates], QRELS[query_id], args.top_n)
                after = ndcg([r.document.id or "" for r in results], QRELS[query_id], args.top_n)
                calls = results.usage.llm_calls
                print(f"  nDCG@{args.top_n}: bm25 {before:.3f} -> reranked {after:.3f}"
                      f"  ({calls} LLM call{'' if calls == 1 else 's'})")


if __name__ == "__main__":
    main()
