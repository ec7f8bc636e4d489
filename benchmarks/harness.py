"""What every benchmark shares: the data, the simulated judge, a reranker on it, a batch run
with a progress bar, scores from ``llm_rerank.eval.evaluate``, and the result fragment.

Each script writes ``benchmarks/results/<name>.md`` naming the command that produced it;
``python benchmarks/report.py`` joins the fragments into ``BENCHMARKS.md``.

The judge runs in a subprocess (``judge_server``): client and server in one process would
share the GIL, and the server's ~1-2 ms of CPU per answer would slow the client down.

>>> with judge_server(requests, qrels, noise=1.0, seed=1) as judge:   # doctest: +SKIP
...     results = run_batch(judge_reranker("listwise", judge.url), requests)
...     mean_score(requests, results, qrels)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm import tqdm

from llm_rerank import RankedResults, Reranker, get_reranker
from llm_rerank.eval import RerankRequest, evaluate, load_trec_dl19, run_from_rankings

JUDGE_MODEL = "openai/judge"  # LiteLLM's OpenAI client against the judge's api_base
MAX_CONCURRENCY = 64
# The simulated judges the quality figures use: perfect, noisy (N(0, 1) added to each grade),
# and noisy + position-biased (+1 grade for the first passage of a prompt, fading to +0).
JUDGES: dict[str, dict[str, float]] = {
    "perfect": {}, "noisy": {"noise": 1.0}, "noisy + biased": {"noise": 1.0, "position_bias": 1.0}}
RESULTS = Path(__file__).resolve().parent / "results"
Qrels = Mapping[str, Mapping[str, int]]
Aspects = Mapping[str, Mapping[str, Mapping[str, int]]]

# LiteLLM reads its bundled price list instead of fetching one (the benchmarks run offline).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


# --- data and command line -------------------------------------------------------------

def arguments(doc: str | None, *, queries: bool = True) -> argparse.ArgumentParser:
    """A parser with the options every DL19 benchmark takes: ``--data`` and ``--queries``."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--data", help="data folder holding trec-dl19/ (default: "
                                       "$LLM_RERANK_DATA)")
    if queries:
        parser.add_argument("--queries", type=int, help="only the first N queries")
    return parser


def data_dir(argument: str | None = None) -> Path:
    """The evaluation data folder (holding ``trec-dl19/``): the argument, else
    ``$LLM_RERANK_DATA``."""
    for candidate in (argument, os.environ.get("LLM_RERANK_DATA")):
        if candidate and (Path(candidate) / "trec-dl19").is_dir():
            return Path(candidate)
    sys.exit("benchmark data not found: pass --data or set LLM_RERANK_DATA")


def dl19(args: argparse.Namespace) -> tuple[list[RerankRequest], dict[str, dict[str, int]]]:
    """TREC DL19 (BM25 top-100), cut to ``--queries`` when given."""
    requests, qrels = load_trec_dl19(data_dir(args.data))
    return requests[: args.queries] if getattr(args, "queries", None) else requests, qrels


def subset(requests: Sequence[RerankRequest], total: int = 43) -> str:
    return (f"the first {len(requests)} of the {total} queries" if len(requests) < total
            else f"all {total} queries")


def log(started: float, text: str) -> None:
    """A progress line on stderr, stamped with the seconds since ``started``."""
    print(f"[{time.perf_counter() - started:5.0f}s] {text}", file=sys.stderr, flush=True)


# --- the judge ---------------------------------------------------------------------------

@dataclass
class JudgeProcess:
    """A running judge server: its ``url`` (the ``api_base``) and its counters."""

    url: str
    pid: int = 0

    def _call(self, path: str, method: str = "GET") -> dict[str, Any]:
        request = urllib.request.Request(self.url.removesuffix("/v1") + path, method=method,
                                         data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=10) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result

    def stats(self) -> dict[str, Any]:
        """``GET /stats``: requests, tokens, peak concurrency."""
        return self._call("/stats")

    def reset_stats(self) -> dict[str, Any]:
        return self._call("/stats/reset", method="POST")


def write_inputs(folder: Path, requests: Sequence[RerankRequest],
                 qrels: Qrels) -> tuple[Path, Path]:
    """The judge's knowledge as files: candidates JSONL and TREC qrels."""
    data, qrels_path = folder / "data.jsonl", folder / "qrels.txt"
    with data.open("w", encoding="utf-8") as stream:
        for request in requests:
            row = {"query_id": request.query_id, "query": request.query,
                   "candidates": [{"id": d.id, "text": d.text} for d in request.documents]}
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")
    with qrels_path.open("w", encoding="utf-8") as stream:
        for qid, grades in qrels.items():
            stream.writelines(f"{qid} 0 {doc} {grade}\n" for doc, grade in grades.items())
    return data, qrels_path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def judge_server(requests: Sequence[RerankRequest], qrels: Qrels, *, noise: float = 0.0,
                 position_bias: float = 0.0, latency_ms: float = 0.0, seed: int = 0,
                 error_rate: float = 0.0, garbage_rate: float = 0.0) -> Iterator[JudgeProcess]:
    """``llm-rerank judge-server`` in a subprocess, killed when the block ends."""
    with tempfile.TemporaryDirectory(prefix="judge-") as folder:
        data, qrels_path = write_inputs(Path(folder), requests, qrels)
        port = free_port()
        knobs = {"noise": noise, "position-bias": position_bias, "latency-ms": latency_ms,
                 "seed": seed, "error-rate": error_rate, "garbage-rate": garbage_rate}
        command = ["llm-rerank", "judge-server", "--data", str(data), "--qrels",
                   str(qrels_path), "--port", str(port),
                   *(part for name, value in knobs.items() for part in (f"--{name}", str(value)))]
        log_file = (Path(folder) / "server.log").open("w+b")
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log_file)
        judge = JudgeProcess(f"http://127.0.0.1:{port}/v1", process.pid)
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    log_file.seek(0)
                    raise RuntimeError("judge server exited: "
                                       + log_file.read().decode(errors="replace"))
                try:
                    judge._call("/health")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("judge server did not answer /health") from None
                    time.sleep(0.1)
            yield judge
        finally:
            process.kill()
            process.wait()
            log_file.close()


SERVE = "import sys; from llm_rerank.cli import main; sys.exit(main())"  # llm-rerank, this Python


def wait_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path,
                 timeout_s: float = 180) -> None:
    """Wait until ``GET {url}/health`` answers 200; raise if the process exits first."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited: {log_path.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer /health")
        time.sleep(0.2)


@contextmanager
def healthy_process(command: Sequence[str], url: str, log_path: Path,
                    stop: Any = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` (stderr to ``log_path``) until the block ends, once ``url`` is healthy;
    ``stop(process)`` ends it (default: kill)."""
    with log_path.open("wb") as stream:
        process = subprocess.Popen(list(command), stdout=subprocess.DEVNULL, stderr=stream)
    try:
        wait_healthy(url, process, log_path)
        yield process
    finally:
        if process.poll() is None:
            (stop or subprocess.Popen.kill)(process)
        process.wait()


def serve_command(port: int, *options: str) -> list[str]:
    """``llm-rerank serve`` on ``port`` with this interpreter, without the access log."""
    return [sys.executable, "-c", SERVE, "serve", "--port", str(port), "--no-access-log",
            *options]


# --- rerankers, batches, scores ----------------------------------------------------------

def judge_reranker(strategy: str, url: str, **options: Any) -> Reranker:
    """A reranker of ``strategy`` on the judge at ``url``: cache off, 64 calls in flight
    unless ``options`` say otherwise."""
    settings: dict[str, Any] = {"api_key": "x", "cache": False,
                                "max_concurrency": MAX_CONCURRENCY, **options}
    return get_reranker(strategy, model=JUDGE_MODEL, api_base=url, **settings)


def batch_of(requests: Sequence[RerankRequest]) -> list[tuple[str, list[Any]]]:
    return [(r.query, list(r.documents)) for r in requests]


async def arun_batch(ranker: Reranker, batch: Sequence[tuple[Any, ...]], *, desc: str = "",
                     top_n: int | None = None) -> list[RankedResults]:
    """Every query of ``batch`` at once (``max_concurrent_queries=len(batch)``), with a
    progress bar on stderr (quiet when stderr is not a terminal)."""
    with tqdm(total=len(batch), desc=desc or ranker.name, leave=False, file=sys.stderr,
              disable=not sys.stderr.isatty()) as bar:
        return await ranker.arank_batch(list(batch), top_n,
                                        max_concurrent_queries=max(1, len(batch)),
                                        on_result=lambda position, results: bar.update())


def run_batch(ranker: Reranker, batch: Sequence[tuple[Any, ...]], *, desc: str = "",
              top_n: int | None = None) -> list[RankedResults]:
    """``arun_batch`` from synchronous code."""
    return asyncio.run(arun_batch(ranker, batch, desc=desc, top_n=top_n))


async def interleaved_walls(rerankers: Mapping[str, Reranker],
                            batch: Sequence[tuple[str, Sequence[Any]]],
                            top_n: int | None = 10) -> dict[str, list[float]]:
    """Wall seconds per query, one query at a time, the rerankers taking turns (their order
    rotating query by query, so the machine's load hits all alike); the first warms up."""
    names = list(rerankers)
    await rerankers[names[0]].arank(batch[0][0], list(batch[0][1])[:2])  # LiteLLM's imports
    walls: dict[str, list[float]] = {name: [] for name in names}
    for position, (query, documents) in enumerate(batch):
        turn = position % len(names)
        for name in names[turn:] + names[:turn]:
            began = time.perf_counter()
            await rerankers[name].arank(query, list(documents), top_n=top_n)
            walls[name].append(time.perf_counter() - began)
    return walls


def rankings(requests: Sequence[RerankRequest],
             results: Sequence[RankedResults]) -> dict[str, list[str]]:
    """Each query's ranked doc ids."""
    return {request.query_id: [r.document.id or "" for r in ranked]
            for request, ranked in zip(requests, results, strict=True)}


def scores(ranked: Mapping[str, Sequence[str]], qrels: Qrels,
           metrics: Sequence[str] = ("ndcg@10",),
           aspects: Aspects | None = None) -> dict[str, float]:
    """Mean of each metric over the queries, by ``llm_rerank.eval.evaluate``."""
    return evaluate(run_from_rankings(ranked), qrels, metrics, aspects=aspects).mean


def mean_score(requests: Sequence[RerankRequest], results: Sequence[RankedResults],
               qrels: Qrels, metric: str = "ndcg@10") -> float:
    """One metric (nDCG@10 by default) of a batch's results."""
    return scores(rankings(requests, results), qrels, [metric])[metric]


def input_order(requests: Sequence[RerankRequest]) -> dict[str, list[str]]:
    """The first-stage order, as ``rankings``."""
    return {r.query_id: [d.id or "" for d in r.documents] for r in requests}


def per_query(results: Sequence[RankedResults], field: str) -> float:
    """Mean of one ``Usage`` counter (``llm_calls``, ``prompt_tokens``...) per query."""
    return statistics.mean(getattr(r.usage, field) for r in results)


# --- fragments -----------------------------------------------------------------------------

def command_line() -> str:
    """How this script was run, for the 'produced by' line of each figure."""
    script = Path(sys.argv[0]).resolve().relative_to(Path(__file__).resolve().parent.parent)
    return shlex.join(["python", str(script), *sys.argv[1:]])


def write_fragment(name: str, title: str, body: str, command: str | None = None) -> Path:
    """Write one section of BENCHMARKS.md, stamped with the command and the machine."""
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    text = (f"## {title}\n\nProduced by `{command or command_line()}` on {stamp} "
            f"({machine}).\n\n{body.strip()}\n")
    path = RESULTS / f"{name}.md"
    path.write_text(text, encoding="utf-8")
    print(text)
    return path


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-style table; floats get 4 decimals.

    >>> print(markdown_table(["a", "b"], [[1, 0.5]]))
    | a | b |
    |---|---|
    | 1 | 0.5000 |
    """
    def cell(value: object) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
