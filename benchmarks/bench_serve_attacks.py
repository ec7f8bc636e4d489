"""``llm-rerank serve`` under three attacks: provider faults under load, silent sockets
against ``ulimit -n 256``, and clients that abandon large requests.

Usage: python benchmarks/bench_serve_attacks.py [--clients 150] [--seconds 45]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import harness
import httpx
from harness import JUDGE_MODEL, markdown_table, write_fragment

from llm_rerank.eval.io import RerankRequest
from llm_rerank.models import Document

WORDS = ["solar", "panel", "roof", "grid", "battery", "inverter", "cell", "light", "energy",
         "storage", "winter", "cloud", "voltage", "meter", "tariff", "export", "heat", "pump"]


def synthetic(queries: int, documents: int, seed: int = 0) -> list[RerankRequest]:
    """Queries with ``documents`` distinct passages each (graded by the judge from qrels)."""
    rng = random.Random(seed)
    return [RerankRequest(f"q{q}", f"query {q}: " + " ".join(rng.sample(WORDS, 4)),
                          [Document(id=f"q{q}d{d}", text=f"Passage {d} of {q}: "
                                    + " ".join(rng.choices(WORDS, k=12)))
                           for d in range(documents)])
            for q in range(queries)]


def qrels_of(requests: list[RerankRequest]) -> dict[str, dict[str, int]]:
    return {r.query_id: {d.id or "": (n * 7) % 4 for n, d in enumerate(r.documents)}
            for r in requests}


def run_judge(args: argparse.Namespace) -> None:
    """The ``judge`` sub-command: serve the simulated judge until killed."""
    from llm_rerank.testing import JudgeServer

    requests = synthetic(args.queries, args.documents)
    JudgeServer(requests, qrels_of(requests), port=args.port, latency_ms=args.latency_ms,
                error_rate=args.error_rate, malformed_rate=args.malformed_rate).serve_forever()


@contextlib.contextmanager
def judge_and_serve(folder: Path, *, queries: int, documents: int, latency_ms: float,
                    error_rate: float = 0.0, malformed_rate: float = 0.0,
                    serve_args: list[str], prefix: list[str] | None = None
                    ) -> Iterator[tuple[str, str, Path]]:
    """The judge and ``serve`` as subprocesses: (judge root URL, serve URL, serve log)."""
    judge_port, serve_port = harness.free_port(), harness.free_port()
    judge = [sys.executable, __file__, "judge", "--port", str(judge_port), "--queries",
             str(queries), "--documents", str(documents), "--latency-ms", str(latency_ms),
             "--error-rate", str(error_rate), "--malformed-rate", str(malformed_rate)]
    judge_url, serve_url = f"http://127.0.0.1:{judge_port}", f"http://127.0.0.1:{serve_port}"
    serve = [*(prefix or []), *harness.serve_command(serve_port, "-m", JUDGE_MODEL, "--api-base",
                                             f"{judge_url}/v1", "--api-key", "x",
                                             "--no-cache", *serve_args)]
    with harness.healthy_process(judge, judge_url, folder / "judge.log"), \
            harness.healthy_process(serve, serve_url, folder / "serve.log"):
        yield judge_url, serve_url, folder / "serve.log"


# ---- (a) load with provider faults --------------------------------------------------------

async def load(url: str, requests: list[RerankRequest], clients: int, seconds: float
               ) -> tuple[Counter[str], int, int]:
    """(answers by status, answers checked, answers that were not a permutation)."""
    statuses: Counter[str] = Counter()
    checked = bad = 0
    stop = time.monotonic() + seconds

    async def client(number: int, http: httpx.AsyncClient) -> None:
        nonlocal checked, bad
        turn = number
        while time.monotonic() < stop:
            request = requests[turn % len(requests)]
            turn += clients
            texts = [d.text for d in request.documents]
            try:
                answer = await http.post(f"{url}/v2/rerank", timeout=120,
                                         json={"query": request.query, "documents": texts})
            except httpx.TransportError as exc:
                statuses[type(exc).__name__] += 1
                continue
            statuses[str(answer.status_code)] += 1
            if answer.status_code == 200:
                checked += 1
                indices = sorted(r["index"] for r in answer.json()["results"])
                bad += indices != list(range(len(texts)))

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits) as http:
        await asyncio.gather(*[client(n, http) for n in range(clients)])
    return statuses, checked, bad


def faults(folder: Path, clients: int, seconds: float) -> list[list[object]]:
    rows: list[list[object]] = []
    requests = synthetic(60, 20)
    for malformed in (0.05, 0.0):
        with judge_and_serve(folder, queries=60, documents=20, latency_ms=50, error_rate=0.30,
                             malformed_rate=malformed,
                             serve_args=["-O", "max_concurrency=64"]) as (judge, url, _):
            statuses, checked, bad = asyncio.run(load(url, requests, clients, seconds))
            stats = httpx.get(f"{judge}/stats").json()
        total = sum(statuses.values())
        others = {k: v for k, v in statuses.items() if k != "200"}
        rows.append([f"{malformed:.0%}", clients, seconds, total, statuses["200"],
                     ", ".join(f"{k}: {v}" for k, v in sorted(others.items())) or "0",
                     "yes" if bad == 0 and checked else f"no ({bad})", stats["requests"],
                     stats["errors_sent"], stats["malformed_sent"]])
    return rows


# ---- (b) silent sockets under ulimit -n 256 -------------------------------------------------

def silent_sockets(folder: Path, count: int = 300) -> list[object]:
    prefix = ["prlimit", "--nofile=256:256"]
    with judge_and_serve(folder, queries=1, documents=5, latency_ms=0, serve_args=[],
                         prefix=prefix) as (_, url, log), contextlib.ExitStack() as held:
        port = int(url.rsplit(":", 1)[1])
        for _ in range(count):
            silent = held.enter_context(socket.socket())
            silent.connect(("127.0.0.1", port))
        time.sleep(1.0)  # the server accepts them (and closes the oldest over its cap)
        waits = []
        for _ in range(5):
            began = time.monotonic()
            try:
                ok = httpx.get(f"{url}/health", timeout=1).status_code == 200
            except httpx.TransportError:
                ok = False
            waits.append((time.monotonic() - began) * 1000 if ok else float("inf"))
        text = log.read_text()
    return [count, "256", sum(w != float("inf") for w in waits), f"{max(waits):.0f}",
            text.count("Too many open files"), text.count("Traceback")]


# ---- (c) abandoned large requests ---------------------------------------------------------

async def abandon(url: str, requests: list[RerankRequest], sizes: list[int],
                  patience_s: float) -> float:
    """Send one request per size and give up on each after ``patience_s``; returns when the
    last client left (``time.monotonic``)."""
    async def client(number: int, request: RerankRequest, size: int) -> None:
        texts = [d.text for d in request.documents[:size]]
        await asyncio.sleep(0.2 * number)  # one client every 0.2 s
        async with httpx.AsyncClient() as http:
            with contextlib.suppress(httpx.TimeoutException):
                await http.post(f"{url}/v2/rerank", timeout=patience_s,
                                json={"query": request.query, "documents": texts})

    await asyncio.gather(*[client(n, r, s) for n, (r, s)
                           in enumerate(zip(requests, sizes, strict=True))])
    return time.monotonic()


def abandoned(folder: Path, clients: int = 30) -> list[object]:
    rng = random.Random(1)
    sizes = [rng.randint(200, 1000) for _ in range(clients)]
    requests = synthetic(clients, 1000)
    with judge_and_serve(folder, queries=clients, documents=1000, latency_ms=1000,
                         serve_args=["-s", "listwise", "-O", "max_concurrency=32"]
                         ) as (judge, url, _):
        left = asyncio.run(abandon(url, requests, sizes, patience_s=2.0))
        at_leaving = httpx.get(f"{judge}/stats").json()["requests"]
        time.sleep(max(0.0, left + 2 - time.monotonic()))
        after_2s = httpx.get(f"{judge}/stats").json()["requests"]
        time.sleep(5)
        after_7s = httpx.get(f"{judge}/stats").json()["requests"]
        metrics = httpx.get(f"{url}/metrics").text
    gone = re.search(r'llm_rerank_http_requests_total\{route="/v2/rerank",status="499"\} (\S+)',
                     metrics)
    return [clients, f"{min(sizes)}-{max(sizes)}", at_leaving, after_2s - at_leaving,
            after_7s - after_2s, int(float(gone.group(1))) if gone else 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "judge"])
    parser.add_argument("--clients", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=45.0)
    for name in ("--port", "--queries", "--documents"):  # the judge sub-command's
        parser.add_argument(name, type=int, default=0)
    for name in ("--latency-ms", "--error-rate", "--malformed-rate"):
        parser.add_argument(name, type=float, default=0.0)
    args = parser.parse_args()
    if args.mode == "judge":
        run_judge(args)
        return
    with tempfile.TemporaryDirectory(prefix="serve-attacks-") as folder:
        fault_rows = faults(Path(folder), args.clients, args.seconds)
        silent_row = silent_sockets(Path(folder))
        abandoned_row = abandoned(Path(folder))
    body = f"""
**(a) Provider faults under load.** {args.clients} clients for {args.seconds:.0f} s send
Cohere v2 requests (20 passages each) to `serve` (listwise, no cache, 64 calls in flight)
over the simulated judge: 50 ms, 15% 429 + 15% 503 (Retry-After 0) and the share of
malformed 200s below (an HTML page, or JSON that is no chat completion). Every 200 is
checked to be a permutation.

{markdown_table(["malformed 200s", "clients", "seconds", "answers", "200", "other answers",
                 "every 200 a permutation", "judge calls", "429/503 sent", "malformed sent"],
                fault_rows)}

**(b) Silent sockets.** `serve` under `prlimit --nofile=256:256`; 300 sockets connect and
send nothing; then `GET /health` 5 times with a 1 s timeout.

{markdown_table(["silent sockets", "ulimit -n", "/health answered (of 5)", "slowest ms",
                 "'Too many open files' in the log", "tracebacks in the log"], [silent_row])}

**(c) Abandoned requests.** {abandoned_row[0]} clients each send one request of
{abandoned_row[1]} passages to `serve -s listwise` (32 calls in flight) over a judge
answering after 1 s, one client every 0.2 s; each leaves after 2 s. Calls counted at the judge.

{markdown_table(["clients", "passages", "judge calls until the last client left",
                 "calls in the next 2 s", "calls 2-7 s after", "499s in /metrics"],
                [abandoned_row])}
"""
    write_fragment("serve_attacks", "`llm-rerank serve` under attack: faults, silent sockets, "
                   "abandoned requests", body)


if __name__ == "__main__":
    main()
