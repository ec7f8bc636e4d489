"""LlamaIndex: a vector index's query engine with an llm_rerank node postprocessor.

The index retrieves candidates by vector similarity (a tiny hashing bag-of-words embedding,
so no embedding model is needed); the postprocessor reranks them with an LLM, keeps the best
``--top-n`` and sets each node's score to its relevance in [0, 1], so a
``SimilarityPostprocessor`` after it filters on the reranker's judgement. The retrieval score
stays in the node's metadata (``retrieval_score``). ``--metadata-mode embed`` shows the LLM
each node's metadata lines (title, source) before its text; the default shows the text only.
The engine answers with LlamaIndex's ``MockLLM`` (no model needed); the point here is which
sources it gets. Runs offline as it is (the simulated judge); pass ``--model`` for a real LLM.

Usage: python examples/llamaindex_rerank.py [--query "..."] [--top-n 3] [--cutoff 0.5]
       [--metadata-mode none|embed|llm|all] [--strategy listwise] [--model openai/gpt-4o-mini]
Needs, from the clone: pip install -e ".[examples]"
"""

from __future__ import annotations

import argparse
import asyncio

from llama_index.core import VectorStoreIndex
from llama_index.core.embeddings import BaseEmbedding
from llama_index.core.llms import MockLLM
from llama_index.core.postprocessor import SimilarityPostprocessor
from llama_index.core.schema import MetadataMode, TextNode
from sample_corpus import PASSAGES, QUERIES, add_model_arguments, hashed_embedding, reranker_from


class HashingEmbedding(BaseEmbedding):
    """``hashed_embedding`` as a LlamaIndex embedding (no model needed)."""

    def _get_query_embedding(self, query: str) -> list[float]:
        return hashed_embedding(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return hashed_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return hashed_embedding(text)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--query", help="one question (default: the corpus's four questions)")
    parser.add_argument("--candidates", type=int, default=8, help="retrieved candidates (8)")
    parser.add_argument("--top-n", type=int, default=3, help="nodes kept (3)")
    parser.add_argument("--cutoff", type=float, default=0.0,
                        help="drop nodes whose relevance is below this (0.0: keep all)")
    parser.add_argument("--metadata-mode", choices=[m.value for m in MetadataMode],
                        default="none", help="node metadata shown to the LLM (none)")
    add_model_arguments(parser)
    args = parser.parse_args()

    nodes = [TextNode(text=p.text, id_=p.id, metadata={"title": p.title, "source": p.source})
             for p in PASSAGES]
    index = VectorStoreIndex(nodes, embed_model=HashingEmbedding())
    with reranker_from(args) as reranker:
        engine = index.as_query_engine(
            llm=MockLLM(), similarity_top_k=args.candidates,
            node_postprocessors=[
                reranker.as_llamaindex_postprocessor(
                    top_n=args.top_n, metadata_mode=MetadataMode(args.metadata_mode)),
                SimilarityPostprocessor(similarity_cutoff=args.cutoff),
            ])
        for query in [args.query] if args.query else QUERIES.values():
            response = await engine.aquery(query)  # or engine.query(query)
            print(f"\n{query}")
            for n, source in enumerate(response.source_nodes, 1):
                print(f"  {n}. {source.node.node_id:7} {source.node.metadata['title']}"
                      f"  (relevance {source.score:.2f}, "
                      f"retrieval {source.node.metadata['retrieval_score']:.2f})")


if __name__ == "__main__":
    asyncio.run(main())
