"""The LangChain and LlamaIndex adapters against direct ``arank`` on the simulated judge:
nDCG@10 per adapter and ``metadata_mode``, float scores through both, and their overhead.

Usage: python benchmarks/bench_adapters.py [--data DIR] [--runs 3]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import harness
from harness import JudgeProcess, markdown_table, write_fragment
from langchain_core.documents import Document as LCDocument
from llama_index.core.postprocessor import SimilarityPostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode

from llm_rerank import Reranker
from llm_rerank.eval import RerankRequest
from llm_rerank.testing import JudgeServer, judge

LISTWISE = {"window_size": 20, "step": 10}
STRATEGIES: dict[str, dict[str, Any]] = {
    "listwise": LISTWISE, "setwise": {"num_children": 3}, "pairwise": {"method": "heapsort"},
    "pointwise": {},
}
Ranker = Callable[[Reranker, RerankRequest], Awaitable[list[str]]]


def metadata(request: RerankRequest, position: int) -> dict[str, Any]:
    doc = request.documents[position]
    return {"docid": doc.id, "source": "msmarco-passage", "retriever": "bm25",
            "bm25_rank": position + 1}


def lc_documents(request: RerankRequest) -> list[LCDocument]:
    return [LCDocument(page_content=d.text, id=d.id, metadata=metadata(request, n))
            for n, d in enumerate(request.documents)]


def li_nodes(request: RerankRequest) -> list[NodeWithScore]:
    size = len(request.documents)
    return [NodeWithScore(node=TextNode(text=d.text, id_=d.id or str(n),
                                        metadata=metadata(request, n)), score=1 - n / size)
            for n, d in enumerate(request.documents)]


async def direct(reranker: Reranker, request: RerankRequest) -> list[str]:
    return [r.document.id or "" for r in await reranker.arank(request.query, request.documents)]


async def langchain(reranker: Reranker, request: RerankRequest) -> list[str]:
    ranked = await reranker.as_langchain_compressor().acompress_documents(
        lc_documents(request), request.query)
    return [d.id or "" for d in ranked]


def llamaindex(mode: MetadataMode) -> Ranker:
    async def rank(reranker: Reranker, request: RerankRequest) -> list[str]:
        postprocessor = reranker.as_llamaindex_postprocessor(metadata_mode=mode)
        ranked = await postprocessor.apostprocess_nodes(li_nodes(request),
                                                        query_str=request.query)
        return [n.node.node_id for n in ranked]
    return rank


async def garbage(reranker: Reranker, request: RerankRequest) -> list[str]:
    unrelated = [{"id": d.id, "text": f"unrelated filler passage number {n} " * 3}
                 for n, d in enumerate(request.documents)]
    return [r.document.id or "" for r in await reranker.arank(request.query, unrelated)]


def listwise_on(url: str) -> Reranker:
    return harness.judge_reranker("listwise", url, max_concurrency=16, **LISTWISE)


async def mean_ndcg(rank: Ranker, reranker: Reranker, requests: list[RerankRequest],
                    qrels: dict[str, dict[str, int]]) -> float:
    ranked = await asyncio.gather(*(rank(reranker, r) for r in requests))
    return harness.scores({r.query_id: ids for r, ids in zip(requests, ranked, strict=True)},
                  qrels)["ndcg@10"]


def quality(requests: list[RerankRequest], qrels: dict[str, dict[str, int]],
            judge_process: JudgeProcess) -> str:
    bm25 = harness.scores(harness.input_order(requests), qrels)["ndcg@10"]
    rows: list[list[object]] = [["BM25 order (no reranking)", bm25, "-", "-"]]
    cases: list[tuple[str, Ranker]] = [
        ("`Reranker.arank`, plain text", direct),
        ("LangChain `LLMRerankCompressor`", langchain),
        *[(f"LlamaIndex `LLMRerankPostprocessor`, `MetadataMode.{mode.name}`", llamaindex(mode))
          for mode in (MetadataMode.NONE, MetadataMode.EMBED, MetadataMode.LLM,
                       MetadataMode.ALL)],
        ("every passage replaced by unrelated text", garbage),
    ]
    reranker = listwise_on(judge_process.url)
    for label, rank in cases:
        judge_process.reset_stats()
        score = asyncio.run(mean_ndcg(rank, reranker, requests, qrels))
        stats = judge_process.stats()
        rows.append([label, score, stats["requests"], stats["unmatched_passages"]])
    # The judge as it was: passages behind metadata lines were not found (grade 0).
    saved, judge._MAX_PREFIX_WORDS = judge._MAX_PREFIX_WORDS, 0
    try:
        with JudgeServer(requests, qrels) as old:
            score = asyncio.run(mean_ndcg(llamaindex(MetadataMode.EMBED), listwise_on(old.url),
                                          requests, qrels))
            stats_old = old.stats()
    finally:
        judge._MAX_PREFIX_WORDS = saved
    rows.append(["LlamaIndex, `MetadataMode.EMBED`, judge without metadata matching (before)",
                 score, stats_old.requests, stats_old.unmatched_passages])
    return markdown_table(["ranking (43 queries x BM25 top-100, perfect judge)", "nDCG@10",
                           "LLM calls", "unmatched passages"], rows)


def score_checks(requests: list[RerankRequest], judge_process: JudgeProcess) -> str:
    rows: list[list[object]] = []
    sample = [RerankRequest(r.query_id, r.query, r.documents[:20]) for r in requests[:5]]
    cutoff = SimilarityPostprocessor(similarity_cutoff=0.0)
    for strategy, options in STRATEGIES.items():
        ranker = harness.judge_reranker(strategy, judge_process.url, **options)
        kept = total = scored = 0
        for request in sample:
            nodes = ranker.as_llamaindex_postprocessor().postprocess_nodes(
                li_nodes(request), query_str=request.query)
            kept += len(cutoff.postprocess_nodes(nodes))
            total += len(nodes)
            docs = ranker.as_langchain_compressor().compress_documents(
                lc_documents(request), request.query)
            scored += sum(isinstance(d.metadata.get("relevance_score"), float) for d in docs)
        rows.append([strategy, f"{kept}/{total}", f"{scored}/{total}"])
    return markdown_table(["strategy (5 queries x top-20)",
                           "nodes kept by `SimilarityPostprocessor(similarity_cutoff=0.0)`",
                           "LangChain documents with a float `relevance_score`"], rows)


def overhead(requests: list[RerankRequest], judge_process: JudgeProcess, runs: int) -> str:
    reranker = listwise_on(judge_process.url)
    ways: dict[str, Ranker] = {"direct `arank`": direct, "LangChain compressor": langchain,
                               "LlamaIndex postprocessor": llamaindex(MetadataMode.NONE)}
    seconds = dict.fromkeys(ways, 0.0)

    async def timed() -> None:
        for _ in range(runs):
            for request in requests:
                for label, rank in ways.items():
                    started = time.perf_counter()
                    await rank(reranker, request)
                    seconds[label] += time.perf_counter() - started

    asyncio.run(timed())
    base = seconds["direct `arank`"]
    count = runs * len(requests)
    rows = [[label, f"{1000 * total / count:.1f}", f"{total / base:.3f}"]
            for label, total in seconds.items()]
    return markdown_table([f"way ({count} rankings of 100 passages each, interleaved)",
                           "ms per query", "ratio to direct"], rows)


def main() -> None:
    parser = harness.arguments(__doc__, queries=False)
    parser.add_argument("--runs", type=int, default=3, help="overhead repetitions (3)")
    args = parser.parse_args()
    requests, qrels = harness.dl19(args)
    with harness.judge_server(requests, qrels) as judge_process:
        sections = [
            "### Quality through the adapters\n\n" + quality(requests, qrels, judge_process),
            "### Scores through the adapters\n\n" + score_checks(requests, judge_process),
            "### Adapter overhead\n\n" + overhead(requests, judge_process, args.runs),
        ]
    write_fragment("adapters", "LangChain and LlamaIndex adapters", "\n\n".join(sections))


if __name__ == "__main__":
    main()
