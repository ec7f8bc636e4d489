"""Run the simulated judge (``llm-rerank judge-server``) as a separate process.

Client and server in one process would share the GIL, and the server's ~1-2 ms of CPU per
answer would slow the client down; a subprocess uses the second core. The data set is
written to temporary JSONL and qrels files, the server is started on a free port, and
``GET /health`` is polled until it answers. The process is killed on exit.

>>> with judge_server(requests, qrels, noise=1.0, seed=1) as judge:   # doctest: +SKIP
...     ListwiseReranker("openai/judge", api_base=judge.url, api_key="x", cache=False)
"""

from __future__ import annotations

import json
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_rerank.eval.io import RerankRequest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class JudgeProcess:
    """A running judge server: its ``url`` (the ``api_base``) and its counters."""

    url: str

    def _get(self, path: str, method: str = "GET") -> dict[str, Any]:
        root = self.url.removesuffix("/v1")
        request = urllib.request.Request(root + path, method=method,
                                         data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=10) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result

    def stats(self) -> dict[str, Any]:
        """``GET /stats``: requests, tokens, peak concurrency."""
        return self._get("/stats")

    def reset_stats(self) -> dict[str, Any]:
        """``POST /stats/reset``."""
        return self._get("/stats/reset", method="POST")


def write_inputs(folder: Path, requests: Sequence[RerankRequest],
                 qrels: Mapping[str, Mapping[str, int]]) -> tuple[Path, Path]:
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


@contextmanager
def judge_server(requests: Sequence[RerankRequest], qrels: Mapping[str, Mapping[str, int]],
                 *, noise: float = 0.0, position_bias: float = 0.0, latency_ms: float = 0.0,
                 seed: int = 0, error_rate: float = 0.0,
                 garbage_rate: float = 0.0) -> Iterator[JudgeProcess]:
    """Start ``llm-rerank judge-server`` in a subprocess; stop it when the block ends."""
    with tempfile.TemporaryDirectory(prefix="judge-") as folder:
        data, qrels_path = write_inputs(Path(folder), requests, qrels)
        port = free_port()
        command = ["llm-rerank", "judge-server", "--data", str(data), "--qrels",
                   str(qrels_path), "--port", str(port), "--noise", str(noise),
                   "--position-bias", str(position_bias), "--latency-ms", str(latency_ms),
                   "--seed", str(seed), "--error-rate", str(error_rate),
                   "--garbage-rate", str(garbage_rate)]
        log = (Path(folder) / "server.log").open("w+b")
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
        judge = JudgeProcess(f"http://127.0.0.1:{port}/v1")
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    error = log.read().decode(errors="replace")
                    raise RuntimeError(f"judge server exited: {error}")
                try:
                    judge._get("/health")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("judge server did not answer /health") from None
                    time.sleep(0.1)
            yield judge
        finally:
            process.kill()
            process.wait()
            log.close()
