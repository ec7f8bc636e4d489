"""An agent asks a multi-part question and reads which passage answers which part.

The agent hands its question to the ``criteria`` reranker with ``criteria="auto"``: one call
splits the question into parts, one call per passage judges it against every part, and
``coverage=True`` puts passages covering different parts near the top. The agent then
builds its context from ``details["criteria"]``: for each part, the best passage answering
it, and it reports the parts that no passage answers.

Runs offline against the simulated judge (an OpenAI-compatible server on 127.0.0.1 that
knows the bundled multi-part sample's per-part grades). Swap ``MODEL``/``api_base`` for a
real model (e.g. ``openai/gpt-4o-mini``) to run it for real.

Usage: python examples/multipart_agent.py [--query-id ev] [--noise 0.5]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from llm_rerank import RankedResults, get_reranker
from llm_rerank.data import load_multipart
from llm_rerank.testing import JudgeServer

MODEL = "openai/judge"
ANSWERED = 0.75  # a part counts as answered by a passage at this expected value or more


@dataclass
class Evidence:
    """What the agent keeps for one part of its question."""

    part: str
    passage: str | None
    probability: float


def evidence_per_part(results: RankedResults) -> list[Evidence]:
    """For each part, the highest-ranked passage answering it (``None`` when none does)."""
    parts = [row["criterion"] for row in results[0].details["criteria"]]
    found = []
    for position, part in enumerate(parts):
        best = next((r for r in results
                     if r.details["criteria"][position]["probability"] >= ANSWERED), None)
        found.append(Evidence(part, best.document.id if best else None,
                              best.details["criteria"][position]["probability"] if best else 0.0))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--query-id", default="ev", help="a query of the multi-part sample")
    parser.add_argument("--noise", type=float, default=0.0, help="judge noise (0: perfect)")
    args = parser.parse_args()

    sample = load_multipart()
    request = next(r for r in sample.requests if r.query_id == args.query_id)
    with JudgeServer(sample.requests, sample.qrels, aspects=sample.aspects(),
                     noise=args.noise) as server:
        reranker = get_reranker("criteria", model=MODEL, api_base=server.url, api_key="unused",
                                criteria="auto", coverage=True, cache=False)
        results = reranker.rank(request.query, request.documents, top_n=5)
    print(f"Question: {request.query}\n")
    for evidence in evidence_per_part(results):
        where = (f"answered by {evidence.passage} (p={evidence.probability:.2f})"
                 if evidence.passage else "NOT ANSWERED by any passage")
        print(f"- {evidence.part}\n    {where}")
    print("\nTop passages with their verdict per part:")
    for result in results:
        verdicts = ", ".join(f"{row['label']}" for row in result.details["criteria"])
        print(f"  {result.rank}. {result.document.id}  [{verdicts}]  "
              f"{result.document.text[:70]}...")
    print(f"\n{results.usage.llm_calls} LLM calls, {results.usage.prompt_tokens} prompt tokens")


if __name__ == "__main__":
    main()
