"""LangChain: a vector-store retriever wrapped in a ``ContextualCompressionRetriever`` whose
compressor is an llm_rerank reranker.

The retriever finds candidates by vector similarity (here a tiny hashing bag-of-words
embedding, so no embedding model is needed); the compressor reranks them with an LLM and
keeps the best ``--top-n``, each with ``relevance_score``, ``rerank_position`` and
``rerank_strategy`` in its metadata. Runs offline as it is (the simulated judge); pass
``--model`` for a real LLM.

Usage: python examples/langchain_rerank.py [--query "..."] [--candidates 8] [--top-n 3]
       [--strategy setwise] [--model openai/gpt-4o-mini]
Needs, from the clone: pip install -e ".[examples]"
"""

from __future__ import annotations

import argparse
import asyncio

from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore
from sample_corpus import PASSAGES, QUERIES, add_model_arguments, hashed_embedding, reranker_from


class HashingEmbeddings(Embeddings):
    """``hashed_embedding`` as a LangChain ``Embeddings`` (no model needed)."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [hashed_embedding(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return hashed_embedding(text)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--query", help="one question (default: the corpus's four questions)")
    parser.add_argument("--candidates", type=int, default=8, help="retrieved candidates (8)")
    parser.add_argument("--top-n", type=int, default=3, help="documents kept (3)")
    add_model_arguments(parser, strategy="setwise")
    args = parser.parse_args()

    store = InMemoryVectorStore(HashingEmbeddings())
    store.add_documents([Document(page_content=p.text, id=p.id, metadata={"title": p.title})
                         for p in PASSAGES])
    with reranker_from(args) as reranker:
        retriever = ContextualCompressionRetriever(
            base_retriever=store.as_retriever(search_kwargs={"k": args.candidates}),
            base_compressor=reranker.as_langchain_compressor(top_n=args.top_n),
        )
        for query in [args.query] if args.query else QUERIES.values():
            documents = await retriever.ainvoke(query)  # or retriever.invoke(query)
            print(f"\n{query}")
            for doc in documents:
                print(f"  {doc.metadata['rerank_position']}. {doc.id:7} {doc.metadata['title']}"
                      f"  (relevance {doc.metadata['relevance_score']:.2f}, "
                      f"{doc.metadata['rerank_strategy']})")


if __name__ == "__main__":
    asyncio.run(main())
