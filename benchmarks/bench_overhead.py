"""Per-call overhead of ``LLMClient.complete`` (cache off, cold, warm) against a bare
``litellm.acompletion``, interleaved in rounds; and ``llm-rerank --help``'s time and imports.

Usage: python benchmarks/bench_overhead.py [--calls 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import JUDGE_MODEL, markdown_table, write_fragment

from llm_rerank import Document, Usage
from llm_rerank.eval import RerankRequest
from llm_rerank.llm import LLMClient
from llm_rerank.prompts import PromptTemplate
from llm_rerank.testing import JudgeServer
from llm_rerank.transports.litellm import HTTP_HANDLER, import_litellm


def prompts(count: int) -> list[list[dict[str, str]]]:
    template = PromptTemplate.load("listwise/rankgpt")
    return [template.render(query=f"query {n}", passages=[
        {"id": i, "text": f"passage {n}-{i} " + "lorem ipsum " * 40} for i in range(1, 21)])
        for n in range(count)]


async def time_bare(url: str, batch: list[list[dict[str, str]]]) -> float:
    litellm = import_litellm()
    os.environ.setdefault(HTTP_HANDLER, "true")  # the handler LLMClient's transport uses
    started = time.perf_counter()
    for messages in batch:
        await litellm.acompletion(model=JUDGE_MODEL, messages=messages, api_base=url,
                                  api_key="x", temperature=0.0, max_retries=0)
    return (time.perf_counter() - started) / len(batch)


async def time_ours(url: str, batch: list[list[dict[str, str]]], cache: bool | Path) -> float:
    client = LLMClient(JUDGE_MODEL, api_base=url, api_key="x", cache=cache)
    usage = Usage()
    started = time.perf_counter()
    for messages in batch:
        await client.complete(messages, usage)
    return (time.perf_counter() - started) / len(batch)


async def measure(url: str, calls: int, rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"bare": [], "ours_nocache": [], "ours_cold": [],
                                     "ours_warm": []}
    await time_bare(url, prompts(5))  # warm up connections and imports
    for round_number in range(rounds):
        batch = [[{**m, "content": m["content"] + f" r{round_number}"} for m in p]
                 for p in prompts(calls)]
        with tempfile.TemporaryDirectory() as cache_dir:
            times["bare"].append(await time_bare(url, batch))
            times["ours_nocache"].append(await time_ours(url, batch, False))
            times["ours_cold"].append(await time_ours(url, batch, Path(cache_dir)))
            times["ours_warm"].append(await time_ours(url, batch, Path(cache_dir)))
    return times


def help_timing(repeats: int = 5) -> tuple[float, bool]:
    walls = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(["llm-rerank", "--help"], check=True, capture_output=True)
        walls.append(time.perf_counter() - started)
    probe = ("import sys; from llm_rerank.cli import main\ntry: main(['--help'])\n"
             "except SystemExit: pass\nprint('litellm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                         text=True).stdout
    return statistics.median(walls), out.strip().endswith("True")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    data = [RerankRequest("q", "query", [Document(id="d", text="passage")])]
    with JudgeServer(data, {"q": {"d": 1}}) as server:
        times = asyncio.run(measure(server.url, args.calls, args.rounds))
    bare = statistics.median(times["bare"])
    rows = []
    for name, label in [("bare", "bare `litellm.acompletion`"),
                        ("ours_nocache", "`LLMClient.complete`, cache off"),
                        ("ours_cold", "`LLMClient.complete`, cold cache (miss + write)"),
                        ("ours_warm", "`LLMClient.complete`, warm cache (hit)")]:
        median = statistics.median(times[name])
        rows.append([label, f"{median * 1000:.2f}", f"{median / bare:.2f}x"])
    help_wall, imported = help_timing()
    body = (
        f"Sequential calls to the simulated judge (0 ms latency), {args.calls} distinct "
        f"20-passage listwise prompts per round, {args.rounds} rounds interleaved; "
        "median of the rounds' per-call means.\n\n"
        + markdown_table(["call path", "ms per call", "ratio to bare LiteLLM"], rows)
        + f"\n\n`llm-rerank --help`: median wall time {help_wall * 1000:.0f} ms over 5 runs; "
        f"LiteLLM imported by it: {'yes' if imported else 'no'}."
    )
    write_fragment("overhead", "Call-path overhead", body)


if __name__ == "__main__":
    main()
