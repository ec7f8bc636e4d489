"""Client throughput: CPU (and instructions) per call for main's LiteLLM defaults, LiteLLM
tuned and ``transport="direct"``, each setting in fresh processes, interleaved round by
round; large batches against their critical path (workers 1 and 2); LiteLLM's import.

Usage: python benchmarks/bench_throughput.py [--data DIR] [--rounds 3] [--calls 600]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import JUDGE_MODEL, data_dir, markdown_table, write_fragment

HERE = Path(__file__).resolve()
PRICE = (1.5e-07, 6e-07)  # gpt-4o-mini's, US dollars per prompt / completion token
HANDLER = "EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER"
SETTINGS = {
    # name: (LiteLLM's own HTTP handler for OpenAI calls, judge priced, transport,
    #        LiteLLM's objects frozen after its import)
    "before (main's defaults)": (False, False, "litellm", False),
    "before, judge priced": (False, True, "litellm", False),
    "LiteLLM HTTP handler only": (True, False, "litellm", True),
    "LiteLLM tuned (handler + register_price)": (True, True, "litellm", True),
    "after (transport='direct', priced)": (True, True, "direct", True),
}
BEFORE, TUNED, AFTER = "before (main's defaults)", "LiteLLM tuned (handler + register_price)", \
    "after (transport='direct', priced)"
CONCURRENCY = 64
LISTWISE_SEQUENTIAL = 9


# --- child processes: one measurement each, printed as JSON ----------------------------------

def child(args: argparse.Namespace) -> None:
    """Run one measurement in this fresh process and print it as JSON."""
    handler, priced, transport, frozen = SETTINGS[args.setting]
    os.environ[HANDLER] = "true" if handler else "false"  # the LiteLLM transport keeps this value
    import asyncio

    from llm_rerank import ListwiseReranker, PointwiseReranker
    from llm_rerank.eval import load_trec_dl19
    from llm_rerank.transports.litellm import import_litellm, register_price

    import_litellm()
    if not frozen:  # main before this work did not freeze LiteLLM's objects
        import gc

        gc.unfreeze()
    if priced:
        register_price(JUDGE_MODEL, *PRICE)
    requests, _ = load_trec_dl19(data_dir(args.data))
    requests = requests[: args.queries] if args.queries else requests
    common = {"api_base": args.url, "api_key": "x", "cache": False, "transport": transport}
    if args.child in ("per-call", "instructions"):
        reranker: Any = PointwiseReranker(JUDGE_MODEL, max_concurrency=16, **common)
        batch = [(r.query, r.documents) for r in requests]
        batch = [(q, docs[:50]) for q, docs in batch][: max(1, args.calls // 50)]
    elif args.child == "pointwise":
        reranker = PointwiseReranker(JUDGE_MODEL, max_concurrency=CONCURRENCY, **common)
        batch = [(r.query, r.documents) for r in requests]
    else:
        reranker = ListwiseReranker(JUDGE_MODEL, max_concurrency=CONCURRENCY,
                                    window_size=20, step=10, **common)
        batch = [(r.query, r.documents) for r in requests]

    # warm up (LiteLLM's lazy imports at the first call, connections); cache off, so the
    # batch still makes every call
    asyncio.run(reranker.arank(requests[-1].query, requests[-1].documents[:20]))

    async def run() -> list[Any]:
        if args.child == "instructions":  # count instructions over the batch only
            subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], check=True,
                           capture_output=True)
        try:
            return await reranker.arank_batch(batch, max_concurrent_queries=len(batch),
                                              workers=args.workers)
        finally:
            if args.child == "instructions":
                subprocess.run(["callgrind_control", "-i", "off", str(os.getpid())],
                               check=True, capture_output=True)

    before = os.times()
    wall = time.perf_counter()
    results = asyncio.run(run())
    wall = time.perf_counter() - wall
    after = os.times()
    cpu = sum(getattr(after, f) - getattr(before, f)
              for f in ("user", "system", "children_user", "children_system"))
    calls = sum(r.usage.llm_calls for r in results)
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "calls": calls,
                      "retries": sum(r.usage.retries for r in results),
                      "cost_usd": sum(r.usage.cost_usd for r in results)}))


def measure(kind: str, setting: str, url: str, data: str | None, *, workers: int = 1,
            calls: int = 0, queries: int = 0) -> dict[str, Any]:
    command = [sys.executable, str(HERE), "--child", kind, "--setting", setting, "--url", url,
               "--workers", str(workers), "--calls", str(calls), "--queries", str(queries)]
    if data:
        command += ["--data", data]
    env = {k: v for k, v in os.environ.items() if k != HANDLER}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} {setting} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- the three parts -----------------------------------------------------------------------

def instructions(url: str, data: str | None, calls: int) -> str:
    """Instructions per call under callgrind (deterministic, whatever the machine's load):
    main's defaults and this branch's settings, run side by side."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        return "**Instructions per call**: skipped (valgrind is not installed).\n"
    names = [BEFORE, TUNED, AFTER]
    env = {k: v for k, v in os.environ.items() if k != HANDLER}
    with tempfile.TemporaryDirectory(prefix="callgrind-") as folder:
        running = []
        for n, name in enumerate(names):
            command = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                       f"--callgrind-out-file={folder}/out.{n}", sys.executable, str(HERE),
                       "--child", "instructions", "--setting", name, "--url", url,
                       "--calls", str(calls), *(["--data", data] if data else [])]
            running.append(subprocess.Popen(command, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True, env=env))
        counts = []
        for process in running:
            out, err = process.communicate(timeout=1200)
            collected = re.search(r"Collected : ([\d,]+)", err)
            if process.returncode != 0 or collected is None:
                raise RuntimeError(f"callgrind run failed:\n{err[-3000:]}")
            made = json.loads(out.strip().splitlines()[-1])["calls"]
            counts.append(int(collected.group(1).replace(",", "")) / made)
    rows = [[name, f"{count / 1e6:.1f}", f"{count / counts[0]:.2f}x"]
            for name, count in zip(names, counts, strict=True)]
    ratio = counts[-1] / counts[0]
    return (f"**Instructions per call** (callgrind, counting only the batch of {calls} "
            "pointwise calls, 16 in flight, after the warm-up; exact whatever the load):\n\n"
            + markdown_table(["setting", "million instructions per call", "ratio"], rows)
            + f"\n\n{'PASS' if ratio <= 0.5 else 'FAIL'}: {ratio:.2f}x (target at most 0.5x).\n")


def per_call(url: str, data: str | None, rounds: int, calls: int) -> str:
    names = list(SETTINGS)
    ms: dict[str, list[float]] = {name: [] for name in names}
    ratios: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        order = names if round_ % 2 == 0 else names[::-1]
        found = {name: measure("per-call", name, url, data, calls=calls) for name in order}
        base = found[names[0]]["cpu_s"] / found[names[0]]["calls"]
        for name in names:
            per = found[name]["cpu_s"] / found[name]["calls"]
            ms[name].append(per * 1000)
            ratios[name].append(per / base)
    rows = [[name, f"{statistics.median(ms[name]):.2f}", f"{statistics.median(ratios[name]):.2f}x",
             ", ".join(f"{r:.2f}" for r in ratios[name])] for name in names]
    after = statistics.median(ratios[AFTER])
    priced = after / statistics.median(ratios["before, judge priced"])
    tuned = statistics.median(ratios[TUNED])
    verdict = "PASS" if after <= 0.5 else "FAIL"
    return (f"**Client CPU per call** ({calls} pointwise calls per run, 16 in flight, judge at "
            f"0 ms; user + system CPU of the client process over the batch, after a warm-up "
            f"query; {rounds} rounds, settings interleaved, each in a fresh process):\n\n"
            + markdown_table(["setting", "ms CPU per call (median)",
                              "ratio to main's defaults (median)", "ratio per round"], rows)
            + f"\n\n{verdict}: after / before = {after:.2f}x (target at most 0.5x); after / "
            f"before with the judge priced in both = {priced:.2f}x. Through LiteLLM, tuned: "
            f"{tuned:.2f}x.\n")


def batches(url: str, data: str | None, latency_s: float, queries: int) -> str:
    rows, verdicts = [], []
    for kind, target in (("pointwise", 2.0), ("listwise", 1.5)):
        for setting, workers in ((BEFORE, 1), (TUNED, 1), (TUNED, 2), (AFTER, 1), (AFTER, 2)):
            found = measure(kind, setting, url, data, workers=workers, queries=queries)
            sequential = 1 if kind == "pointwise" else LISTWISE_SEQUENTIAL
            rounds = max(sequential, math.ceil(found["calls"] / CONCURRENCY))
            critical = rounds * latency_s
            ratio = found["wall_s"] / critical
            rows.append([kind, setting, workers, found["calls"], f"{found['wall_s']:.2f}",
                         f"{critical:.2f} ({rounds} rounds)", f"{ratio:.2f}x",
                         f"{found['cpu_s']:.2f}", found["retries"],
                         f"{found['cost_usd']:.4f}"])
            if setting != BEFORE:
                verdicts.append(f"- {'PASS' if ratio <= target else 'FAIL'}: {kind}, "
                                f"{found['calls']} calls, {setting}, workers={workers}: "
                                f"{ratio:.2f}x its critical path (target at most {target:g}x)")
    return (f"**Batches** ({queries} DL19 queries x 100 candidates, judge at "
            f"{latency_s * 1000:g} ms, {CONCURRENCY} calls in flight in all, all queries at "
            "once; client CPU includes the worker processes):\n\n"
            + markdown_table(["strategy", "setting", "workers", "calls", "wall s",
                              "critical path s", "ratio", "client CPU s", "retries",
                              "cost $"], rows)
            + "\n\n" + "\n".join(verdicts) + "\n")


LITELLM_CHECK = """
import sys, time
started = time.perf_counter()
try:
    from llm_rerank.cli import main
    main(sys.argv[1:])
finally:
    print("LITELLM", "litellm" in sys.modules, time.perf_counter() - started, file=sys.stderr)
"""


def imports(url: str, data: Path) -> str:
    rows = []
    with tempfile.TemporaryDirectory(prefix="throughput-") as folder:
        source = data / "trec-dl19" / "bm25_dl19_top100.jsonl"
        sample = Path(folder) / "sample.jsonl"
        sample.write_text("".join(source.read_text().splitlines(keepends=True)[:3]))
        rerank = ["rerank", "-s", "listwise", "-m", JUDGE_MODEL, "--api-base", url,
                  "--api-key", "x", "--cache-dir", str(Path(folder) / "cache"),
                  "-i", str(sample), "-o", str(Path(folder) / "out.jsonl")]
        for label, argv in (("`llm-rerank --help`", ["--help"]),
                            ("`llm-rerank rerank`, cold cache (3 queries)", rerank),
                            ("`llm-rerank rerank`, warm-cache rerun", rerank)):
            done = subprocess.run([sys.executable, "-c", LITELLM_CHECK, *argv],
                                  capture_output=True, text=True, timeout=300, check=False)
            line = next(x for x in done.stderr.splitlines() if x.startswith("LITELLM"))
            _, imported, seconds = line.split()
            rows.append([label, "yes" if imported == "True" else "no", f"{float(seconds):.2f}",
                         done.returncode])
    return ("**LiteLLM's import** (is `litellm` in `sys.modules` when the command ends):\n\n"
            + markdown_table(["command", "LiteLLM imported", "command time s", "exit status"],
                             rows) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="data folder (default: $LLM_RERANK_DATA or ../shared/data)")
    parser.add_argument("--rounds", type=int, default=3, help="per-call rounds (default 3)")
    parser.add_argument("--calls", type=int, default=600, help="calls per per-call run")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--instruction-calls", type=int, default=100,
                        help="calls counted under callgrind (0: skip; default 100)")
    parser.add_argument("--queries", type=int, default=0,
                        help="only the first N queries in the batches (a quick check)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--setting", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    from harness import judge_server

    from llm_rerank.eval import load_trec_dl19

    folder = data_dir(args.data)
    requests, qrels = load_trec_dl19(folder)
    queries = args.queries or len(requests)
    started = time.perf_counter()
    with judge_server(requests, qrels) as judge:
        part1 = per_call(judge.url, args.data, args.rounds, args.calls)
        if args.instruction_calls:
            part1 += "\n" + instructions(judge.url, args.data, args.instruction_calls)
        part3 = imports(judge.url, folder)
    with judge_server(requests, qrels, latency_ms=args.latency_ms) as judge:
        part2 = batches(judge.url, args.data, args.latency_ms / 1000, queries)
    total = time.perf_counter() - started
    write_fragment("throughput", "Client throughput: CPU per call, batches against the "
                   "critical path",
                   f"Simulated judge in its own process, priced like gpt-4o-mini "
                   f"(${PRICE[0] * 1e6:.2f} / ${PRICE[1] * 1e6:.2f} per million tokens) unless "
                   f"a row says otherwise; this machine has {os.cpu_count()} cores, shared by "
                   f"the client, its workers and the judge. Run time {total:.0f} s.\n\n"
                   + part1 + "\n" + part2 + "\n" + part3)


if __name__ == "__main__":
    main()
