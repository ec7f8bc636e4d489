"""``llm-rerank serve`` under load (1 client, C clients, cache hits; per worker count) and
under hostile requests and raw bytes, over the simulated judge.

Usage: python benchmarks/bench_serve.py [--data DIR] [--requests 2000] [--clients 200]
       [--workers 1 2]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import harness
import httpx
from harness import JUDGE_MODEL, markdown_table, write_fragment

from llm_rerank.eval import RerankRequest

TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DOCS_PER_REQUEST = 20
LATENCY_MS = 50
SERIAL = 100  # requests sent one at a time, to measure the critical path alone
WARM = 215  # distinct requests answered from the cache in the cache-hit run
TICKS = os.sysconf("SC_CLK_TCK")


# ---- processes ----------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live children (uvicorn workers)."""
    pids = [pid] + [int(p) for p in os.listdir("/proc") if p.isdigit() and _parent(int(p)) == pid]
    total = 0
    for one in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


class Stub(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that always fails with ``status`` (set per server)."""

    protocol_version = "HTTP/1.1"
    status = 500

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"error": {"message": f"stub answers {self.status}",
                                     "type": "stub", "code": self.status}}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextlib.contextmanager
def failing_endpoint(status: int) -> Iterator[str]:
    handler = type(f"Stub{status}", (Stub,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then kill after 30 s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


@contextlib.contextmanager
def serve(config: dict[str, Any], workers: int, folder: Path) -> Iterator[tuple[str, Any, Path]]:
    """``llm-rerank serve --config`` on a free port; yields (url, process, stderr path)."""
    config_path = folder / f"serve-{workers}.json"
    config_path.write_text(json.dumps(config))
    port = harness.free_port()
    stderr = folder / f"serve-{workers}.log"
    command = harness.serve_command(port, "--config", str(config_path), "--workers", str(workers),
                            "--auth-token", TOKEN)
    url = f"http://127.0.0.1:{port}"
    with harness.healthy_process(command, url, stderr, stop=terminate) as process:
        yield url, process, stderr


# ---- (a) load -----------------------------------------------------------------------------

def payloads(requests: list[RerankRequest], count: int) -> list[dict[str, Any]]:
    """``count`` requests cycling over queries and over 20-passage slices of their top-100."""
    bodies = []
    for n in range(count):
        request = requests[n % len(requests)]
        start = (n // len(requests)) * DOCS_PER_REQUEST % max(1, len(request.documents)
                                                             - DOCS_PER_REQUEST + 1)
        docs = request.documents[start:start + DOCS_PER_REQUEST]
        bodies.append({"model": "listwise", "query": request.query,
                       "documents": [d.text for d in docs]})
    return bodies


async def load(url: str, bodies: list[dict[str, Any]], clients: int
               ) -> tuple[list[float], list[str], float]:
    """Send every body with ``clients`` concurrent clients; latencies, problems, wall time."""
    latencies: list[float] = []
    problems: list[str] = []
    queue = iter(bodies)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=AUTH, limits=limits,
                                 timeout=120) as http:
        async def client() -> None:
            for body in queue:
                started = time.perf_counter()
                try:
                    answer = await http.post("/v2/rerank", json=body)
                except httpx.HTTPError as exc:
                    problems.append(f"{type(exc).__name__}: {exc}")
                    continue
                latencies.append(time.perf_counter() - started)
                if answer.status_code != 200:
                    problems.append(f"{answer.status_code}: {answer.text[:100]}")
                    continue
                indices = [r["index"] for r in answer.json()["results"]]
                if sorted(indices) != list(range(len(body["documents"]))):
                    problems.append(f"not a permutation: {indices}")

        started = time.perf_counter()
        await asyncio.gather(*[client() for _ in range(clients)])
        return latencies, problems, time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def load_row(workers: int, url: str, serve_pid: int, judge: int, bodies: list[dict[str, Any]],
             clients: int) -> list[object]:
    asyncio.run(load(url, bodies[: clients], clients))  # warm-up: connections, imports
    before = (cpu_seconds(serve_pid), cpu_seconds(judge), time.process_time())
    load_before = os.getloadavg()[0]
    latencies, problems, wall = asyncio.run(load(url, bodies, clients))
    after = (cpu_seconds(serve_pid), cpu_seconds(judge), time.process_time())
    count = len(bodies)
    serve_ms, judge_ms, client_ms = ((b - a) * 1000 / count
                                     for a, b in zip(before, after, strict=True))
    total_ms = serve_ms + judge_ms + client_ms
    cores = os.cpu_count() or 1
    return [workers, count, clients, len(problems), "yes" if not problems else "NO",
            f"{statistics.median(latencies) * 1000:.0f}",
            f"{percentile(latencies, 0.99) * 1000:.0f}", f"{count / wall:.1f}",
            f"{serve_ms:.1f} / {judge_ms:.1f} / {client_ms:.1f}",
            f"{total_ms * count / wall / 1000:.2f}",
            f"{load_before:.1f} / {os.getloadavg()[0]:.1f}",
            f"{cores * 1000 / total_ms:.0f}", f"{clients * 1000 / LATENCY_MS:.0f}",
            (problems[0][:60] if problems else "")]


# ---- (b) hostile requests -----------------------------------------------------------------

JSON = {"Content-Type": "application/json"}


def hostile_cases(query: str, texts: list[str]) -> list[tuple[str, str, str, dict[str, str],
                                                               bytes | None]]:
    good = {"model": "listwise", "query": query, "documents": texts}

    def body(**fields: Any) -> bytes:
        return json.dumps({**good, **fields}).encode()

    def without(name: str) -> bytes:
        return json.dumps({k: v for k, v in good.items() if k != name}).encode()

    return [
        ("malformed JSON", "POST", "/v2/rerank", JSON, b'{"query": "q", "documents": [',),
        ("empty body", "POST", "/v2/rerank", JSON, b""),
        ("JSON array instead of an object", "POST", "/v2/rerank", JSON, b"[1, 2, 3]"),
        ("query a number", "POST", "/v2/rerank", JSON, body(query=42)),
        ("documents a string", "POST", "/v2/rerank", JSON, body(documents="one document")),
        ("a document a number", "POST", "/v2/rerank", JSON, body(documents=["a", 7])),
        ("top_n a string", "POST", "/v2/rerank", JSON, body(top_n="3")),
        ("top_n negative", "POST", "/v2/rerank", JSON, body(top_n=-1)),
        ("return_documents a string", "POST", "/v1/rerank", JSON, body(return_documents="yes")),
        ("TEI texts of objects", "POST", "/rerank", JSON,
         json.dumps({"query": query, "texts": [{"a": 1}]}).encode()),
        ("NaN in a number field", "POST", "/v2/rerank", JSON,
         b'{"query": "q", "documents": ["a"], "top_n": NaN}'),
        ("empty query", "POST", "/v2/rerank", JSON, body(query="   ")),
        ("missing query", "POST", "/v2/rerank", JSON, without("query")),
        ("missing documents", "POST", "/v1/rerank", JSON, without("documents")),
        ("huge body (11 MB)", "POST", "/v2/rerank", JSON, body(query="x" * 11_000_000)),
        ("10,000 documents", "POST", "/v2/rerank", JSON, body(documents=["d"] * 10_000)),
        ("query of 20,000 characters", "POST", "/v2/rerank", JSON, body(query="q " * 10_000)),
        ("TEI passage over the token limit", "POST", "/rerank", JSON,
         json.dumps({"query": query, "texts": ["word " * 5000]}).encode()),
        ("deep JSON (50,000 levels)", "POST", "/v2/rerank", JSON,
         b"[" * 50_000 + b"]" * 50_000),
        ("invalid UTF-8", "POST", "/v2/rerank", JSON, b'{"query": "caf\xe9", "documents": []}'),
        ("unpaired surrogate in a document", "POST", "/v2/rerank", JSON,
         b'{"query": "q", "documents": ["a\\udc80b"]}'),
        ("form content type", "POST", "/v2/rerank",
         {"Content-Type": "application/x-www-form-urlencoded"}, b"query=q&documents=a"),
        ("no content type", "POST", "/v2/rerank", {}, body()),
        ("no Authorization header", "POST", "/v2/rerank", {**JSON, "Authorization": ""}, body()),
        ("wrong bearer token", "POST", "/v2/rerank", {**JSON, "Authorization": "Bearer nope"},
         body()),
        ("unknown model", "POST", "/v2/rerank", JSON, body(model="rerank-v3.5")),
        ("unknown route", "POST", "/v3/rerank", JSON, body()),
        ("wrong method", "GET", "/v2/rerank", {}, None),
        ("provider refuses (401 from the LLM)", "POST", "/v2/rerank", JSON,
         body(model="permanent")),
        ("provider 503 after retries", "POST", "/v2/rerank", JSON, body(model="transient")),
        ("per-query budget runs out", "POST", "/v2/rerank", JSON, body(model="budget")),
    ]


RAW = [
    ("not HTTP at all", b"HELLO\r\n\r\n"),
    ("a TLS client hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(200))),
    ("request line of 70 KB", b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("bad chunked body", b"POST /rerank HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                         b"Content-Type: application/json\r\n\r\nZZ\r\n"),
    ("Content-Length of 20 digits", b"POST /v2/rerank HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                    b"application/json\r\nAuthorization: Bearer " +
                                    TOKEN.encode() + b"\r\nContent-Length: "
                                    b"99999999999999999999\r\n\r\n{"),
]


def first_words(text: str, count: int = 9) -> str:
    words = text.replace("|", "\\|").replace("\r", " ").replace("\n", " ").split()
    shown = " ".join(words[:count])
    return (shown[:90] + "...") if len(shown) > 90 or len(words) > count else shown


def send_raw(port: int, data: bytes) -> bytes:
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=3) as connection:
        connection.sendall(data)
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := connection.recv(65536):
                chunks.append(chunk)
    return b"".join(chunks)


def error_lines(log: Path) -> int:
    return sum("ERROR" in line for line in log.read_text(errors="replace").splitlines())


def hostile(url: str, request: RerankRequest, log: Path
            ) -> tuple[list[list[object]], int, list[str]]:
    """Each hostile request's status and answer, the health at the end, and the cases after
    which the server's stderr got an ERROR line."""
    rows: list[list[object]] = []
    noisy: list[str] = []
    seen = error_lines(log)

    def note(case: str) -> None:
        nonlocal seen
        if (now := error_lines(log)) > seen:
            noisy.append(case)
            seen = now

    texts = [d.text for d in request.documents[:DOCS_PER_REQUEST]]
    with httpx.Client(base_url=url, timeout=120) as http:
        for case, method, path, headers, content in hostile_cases(request.query, texts):
            merged = {**AUTH, **headers}
            merged = {k: v for k, v in merged.items() if v}
            answer = http.request(method, path, headers=merged, content=content)
            try:
                payload = answer.json()
                message = payload.get("message") or payload.get("error") or ""
            except ValueError:
                message = answer.text
            retry = answer.headers.get("retry-after")
            extra = f" (Retry-After: {retry})" if retry else ""
            rows.append([case, f"{method} {path}", answer.status_code,
                         first_words(str(message)) + extra])
            note(case)
    port = int(url.rsplit(":", 1)[1])
    for case, data in RAW:
        answer = send_raw(port, data)
        status_line, _, rest = answer.partition(b"\r\n")
        body = rest.partition(b"\r\n\r\n")[2].decode(errors="replace")
        rows.append([case, "raw bytes", status_line.decode(errors="replace")[9:12] or "closed",
                     first_words(body)])
        time.sleep(0.5)  # let the server write its log
        note(case)
    healthy = httpx.get(f"{url}/health", timeout=10).status_code
    return rows, healthy, noisy


# ---- main ---------------------------------------------------------------------------------

def main() -> None:
    parser = harness.arguments(__doc__, queries=False)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    requests, qrels = harness.dl19(args)
    bodies = payloads(requests, args.requests)
    load_rows: list[list[object]] = []
    hostile_rows: list[list[object]] = []
    health: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp, \
            harness.judge_server(requests, qrels, latency_ms=LATENCY_MS) as judge, \
            failing_endpoint(401) as refusing, failing_endpoint(503) as unavailable:
        folder = Path(tmp)
        common = {"api_key": "x", "cache": False}
        config = {"rerankers": {
            "listwise": {"strategy": "listwise", "model": JUDGE_MODEL, "api_base": judge.url,
                         "max_concurrency": 1024, **common},
            "permanent": {"strategy": "listwise", "model": JUDGE_MODEL,
                          "api_base": refusing, **common},
            "transient": {"strategy": "listwise", "model": JUDGE_MODEL,
                          "api_base": unavailable, "max_retries": 2, **common},
            "cached": {"strategy": "listwise", "model": JUDGE_MODEL, "api_base": judge.url,
                       "max_concurrency": 1024, "api_key": "x", "cache": str(folder / "cache")},
            "budget": {"strategy": "pointwise", "model": JUDGE_MODEL, "api_base": judge.url,
                       "max_calls": 5, **common},
        }, "default": "listwise"}
        for workers in args.workers:
            with serve(config, workers, folder) as (url, process, stderr):
                pids = (process.pid, judge.pid)
                if workers == args.workers[0]:  # the critical path, without queueing
                    load_rows.append(load_row(workers, url, *pids, bodies[:SERIAL], 1))
                load_rows.append(load_row(workers, url, *pids, bodies, args.clients))
                if workers == args.workers[0]:  # everything but the LLM call: cache hits
                    distinct = [{**body, "model": "cached"} for body in bodies[:WARM]]
                    asyncio.run(load(url, distinct, args.clients))
                    cached = (distinct * (len(bodies) // WARM + 1))[:len(bodies)]
                    row = load_row(workers, url, *pids, cached, args.clients)
                    load_rows.append([f"{workers}, cache hits", *row[1:]])
                if workers == args.workers[0]:
                    hostile_rows, healthy, noisy = hostile(url, requests[0], stderr)
                    health.append(f"`GET /health` after the hostile requests: {healthy}")
                    health.append("ERROR lines in the server's stderr came after: "
                                  + (", ".join(noisy) or "none of them"))
            log = stderr.read_text(errors="replace")
            errors = [line for line in log.splitlines() if "ERROR" in line]
            health.append(f"{workers} worker(s): {log.count('Traceback')} tracebacks, "
                          f"{len(errors)} ERROR lines in the server's stderr"
                          + (f" (first: `{errors[0][:160]}`)" if errors else ""))
    cores = os.cpu_count()
    load_table = markdown_table(
        ["workers", "requests", "clients", "errors", "every answer a permutation",
         "p50 ms", "p99 ms", "requests/s", "CPU ms per request: serve / judge / client",
         "cores our processes got", "machine load before / after",
         f"CPU bound ({cores} free cores), req/s", "latency bound, req/s", "first error"],
        load_rows)
    hostile_table = markdown_table(["request", "sent", "status", "answer (first words)"],
                                   hostile_rows)
    body = f"""
**(a) Load.** {args.clients} concurrent clients send {args.requests} Cohere v2 requests
(`POST /v2/rerank`, {DOCS_PER_REQUEST} DL19 BM25 passages each, cycling over the 43 queries
and 20-passage slices of their top-100) to `llm-rerank serve --config ...` (a subprocess:
listwise, one LLM call per request, no cache) backed by the simulated judge (another
subprocess) answering each call after {LATENCY_MS} ms. Every answer is checked: status 200
and its indices a permutation of the 20 inputs. Client, server and judge share the
machine's {cores} cores.

{load_table}

The critical path of one request is one LLM call: {LATENCY_MS} ms of judge latency plus
the CPU it takes (parse and validate the request, render the prompt, LiteLLM's call, the
judge's answer, build the response); the 1-client row measures it without queueing. With
{args.clients} clients the latency alone would allow {args.clients} / {LATENCY_MS} ms =
{args.clients * 1000 // LATENCY_MS} requests/s. The CPU bound is the cores divided by the
CPU that the three processes spend per request (if the cores were ours alone); it is far
below the latency bound, so CPU bounds the throughput: requests queue for CPU, which is
where a p50 far above {LATENCY_MS} ms comes from. The machine is shared (load average in
the table, {cores} cores), so the processes got only the "cores our processes got" share
of it; requests/s ≈ that share × 1000 / (CPU ms per request). The "cache hits" row sends
the same load to a reranker whose answers all come from the response cache: its serve CPU
is everything but the LLM call (HTTP, JSON, validation, prompt rendering, cache lookup,
response); the difference from the row above is the CPU of the LLM call itself, mostly
LiteLLM's per-call overhead.

**(b) Hostile requests** sent to the 1-worker server (with `--auth-token`; `permanent`,
`transient` and `budget` are extra rerankers in the config pointing at an endpoint that
answers 401, at one that answers 503 with `Retry-After: 1` (2 retries), and a pointwise
reranker with `max_calls=5`). Raw rows are bytes written to a socket.

{hostile_table}

{"; ".join(health)}. An ERROR line without a traceback after the bad chunked body is
uvicorn's note that the app ended without answering a request whose connection uvicorn had
already answered with 400 and closed.
"""
    write_fragment("serve", "`llm-rerank serve`: load and hostile requests", body)


if __name__ == "__main__":
    main()
