"""An agent tool that reranks passages through ``llm-rerank serve`` with the ``cohere`` SDK.

``llm-rerank serve`` speaks Cohere's rerank API, so the stock SDK is the client:
``cohere.ClientV2(base_url=..., api_key=...).rerank(model=..., query=..., documents=...)``.
``RERANK_TOOL`` declares the tool in the JSON-schema form that function-calling LLMs take;
``RerankTool`` runs it. The agent here is scripted (it always calls the tool with the
corpus, then answers from the best passage), so the example needs no planning LLM.

With ``--url`` it uses a running server; without, it starts one on 127.0.0.1 (listwise
over the simulated judge, offline) and stops it at the end; that server's log goes to a
temporary file, shown only if it fails to start, so it does not mix with the tool's output.

Usage: python examples/cohere_rerank_tool.py [--url http://127.0.0.1:8080] [--token TOKEN]
       [--model listwise] [--query "..."] [--top-n 3]
Needs, from the clone: pip install -e ".[examples,server]"
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import cohere
from sample_corpus import PASSAGES, QRELS, QUERIES, judge_requests

from llm_rerank.testing import JudgeServer

RERANK_TOOL = {
    "type": "function",
    "function": {
        "name": "rerank_passages",
        "description": "Order passages by how well they answer a question, best first, and "
                       "return the best ones with a relevance score between 0 and 1.",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "the question"},
                "passages": {"type": "array", "items": {"type": "string"}},
                "top_n": {"type": "integer", "minimum": 1, "description": "passages to return"},
            },
            "required": ["query", "passages"],
        },
    },
}


class RerankTool:
    """``rerank_passages`` on a Cohere-compatible rerank endpoint (``llm-rerank serve``)."""

    def __init__(self, url: str, token: str, model: str) -> None:
        self.client = cohere.ClientV2(base_url=url, api_key=token)
        self.model = model

    def __call__(self, query: str, passages: list[str], top_n: int = 3) -> list[dict[str, Any]]:
        response = self.client.rerank(model=self.model, query=query, documents=passages,
                                      top_n=top_n)
        return [{"index": r.index, "relevance_score": r.relevance_score,
                 "passage": passages[r.index]} for r in response.results]


def agent(tool: RerankTool, question: str, top_n: int) -> str:
    """A scripted agent turn: emit a tool call as an LLM would, run it, answer from it."""
    passages = [p.text for p in PASSAGES]
    call = {"name": "rerank_passages",
            "arguments": json.dumps({"query": question, "passages": passages, "top_n": top_n})}
    results = tool(**json.loads(call["arguments"]))
    for n, hit in enumerate(results, 1):
        passage = PASSAGES[hit["index"]]
        print(f"  {n}. {passage.id:7} {passage.title}  (relevance {hit['relevance_score']:.2f})")
    return f"According to '{PASSAGES[results[0]['index']].title}': {results[0]['passage']}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def local_server() -> Iterator[str]:
    """``llm-rerank serve`` (listwise on the simulated judge) on 127.0.0.1; yields its URL."""
    with JudgeServer(judge_requests(), QRELS) as judge:
        port = free_port()
        command = [sys.executable, "-c", "import sys; from llm_rerank.cli import main; "
                   "sys.exit(main())", "serve", "-s", "listwise", "-m", "openai/judge",
                   "--api-base", judge.url, "--api-key", "unused", "--no-cache",
                   "--port", str(port), "--no-access-log"]
        url = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryFile() as log:
            server = subprocess.Popen(command, stderr=log)
            try:
                try:
                    wait_until_healthy(url, server)
                except SystemExit:
                    log.seek(0)
                    sys.stderr.write(log.read().decode(errors="replace")[-4000:])
                    raise
                yield url
            finally:
                server.terminate()
                server.wait(30)


def wait_until_healthy(url: str, server: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"llm-rerank serve exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.25)
    raise SystemExit(f"llm-rerank serve did not answer on {url} within {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("LLM_RERANK_SERVE_URL"),
                        help="a running llm-rerank serve (default: start one locally)")
    parser.add_argument("--token", default=os.environ.get("LLM_RERANK_AUTH_TOKEN", "none"),
                        help="its --auth-token, if any")
    parser.add_argument("--model", default="listwise",
                        help="the served reranker's name (serve -s listwise calls it listwise)")
    parser.add_argument("--query", help="one question (default: the corpus's four questions)")
    parser.add_argument("--top-n", type=int, default=3)
    args = parser.parse_args()

    with nullcontext(args.url) if args.url else local_server() as url:
        tool = RerankTool(url, args.token, args.model)
        print(f"tool schema: {RERANK_TOOL['function']['name']}"
              f"({', '.join(RERANK_TOOL['function']['parameters']['properties'])})")
        for question in [args.query] if args.query else QUERIES.values():
            print(f"\n{question}")
            print(f"  answer: {agent(tool, question, args.top_n)[:100]}...")


if __name__ == "__main__":
    main()
