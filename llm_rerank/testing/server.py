"""The simulated judge behind an OpenAI-compatible HTTP server on 127.0.0.1 (stdlib only).

Endpoints: ``POST /v1/chat/completions`` (and ``/chat/completions``), ``GET /v1/models``,
``GET /health``, ``GET /stats``, ``POST /stats/reset``. Each connection gets its own thread
(HTTP/1.1 keep-alive), so ``latency_ms`` delays requests in parallel, as a real server would;
an answer leaves ``latency_ms`` after its request arrived, the judge's own work included.
Token counts in ``usage`` come from a simple tokenizer (each word and each punctuation mark
is one token; see ``llm_rerank.tokens.count_word_tokens``).

A request's ``X-LLM-Rerank-Tag`` header (``strategy=setwise; kind=setwise``, sent by
``LLMClient``; see ``llm_rerank.tags``) tells the judge what the prompt asks; without one
(curl, another client) the judge reads the kind off the prompt (counted in ``untagged``).

Failures are deterministic: the n-th attempt of the same messages fails (429 or 503 with
``Retry-After: 0``) depending only on ``seed``, the messages and n. ``malformed_rate`` is the
share of attempts answered 200 with a body that is not a chat completion (an HTML page, or
JSON of the wrong shape), as a misconfigured proxy or a broken provider would send; it is
drawn the same deterministic way.

>>> from llm_rerank.eval.io import RerankRequest
>>> from llm_rerank.models import Document
>>> data = [RerankRequest("q1", "capital of France", [Document(id="p", text="Paris.")])]
>>> with JudgeServer(data, {"q1": {"p": 3}}) as server:
...     server.url.startswith("http://127.0.0.1:"), server.stats().requests
(True, 0)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from ..eval.io import RerankRequest
from ..tags import TAG_HEADER, parse_tag
from ..tokens import count_word_tokens
from .judge import Judge
from .prompt_reading import PROMPT_KINDS, UnrecognizedPrompt, message_text

MODEL_NAME = "judge"
KIND_NAMES: tuple[str, ...] = PROMPT_KINDS
_ERROR_TYPES = {429: "rate_limit_error", 503: "service_unavailable", 400: "invalid_request_error",
                404: "not_found_error", 411: "invalid_request_error"}


class JudgeStats(BaseModel):
    """What the server has seen since it started (or since the last reset).

    ``unmatched_passages`` counts prompt passages the judge could not match to a known
    document of a known query (they got grade 0): a test whose pipeline mangled or replaced
    the passages sees it above 0 instead of passing on a ranking the judge never made.
    """

    requests: int = 0
    errors_sent: int = 0
    garbage_sent: int = 0
    malformed_sent: int = 0
    unmatched_passages: int = 0
    bad_requests: int = 0
    untagged: int = 0  # answered requests without a kind tag: their kind was read off the prompt
    prompt_tokens: int = 0
    completion_tokens: int = 0
    peak_concurrency: int = 0
    rate_limited: int = 0  # 429s sent because requests came faster than ``max_rpm``
    by_kind: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(KIND_NAMES, 0))


Reply = tuple[int, object, dict[str, str]]  # a payload of bytes is sent as it is
MALFORMED_BODIES: tuple[bytes | list[int] | dict[str, Any], ...] = (
    b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>",
    [1, 2],
    {"choices": "none"},
    {"object": "chat.completion", "choices": [{"index": 0}]},
)


def error_body(status: int, message: str) -> dict[str, Any]:
    """An OpenAI-style error object."""
    kind = _ERROR_TYPES.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": kind}}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256
    owner: JudgeServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120  # seconds an idle keep-alive connection is kept
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm
        # and the client's delayed ACK add ~40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.owner.track(self.connection, open_=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.owner.track(self.connection, open_=False)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        owner = self.server.owner
        if path == "/health":
            self._send(200, {"status": "ok"})
        elif path in ("/v1/models", "/models"):
            self._send(200, {"object": "list", "data": [
                {"id": owner.model_name, "object": "model", "created": 0, "owned_by": "llm-rerank"}
            ]})
        elif path in ("/stats", "/v1/stats"):
            self._send(200, owner.stats().model_dump())
        else:
            self._send(404, error_body(404, f"no route GET {path}"))

    def do_POST(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        raw = self._read_body()
        if raw is None:
            return
        owner = self.server.owner
        if path in ("/v1/chat/completions", "/chat/completions"):
            try:
                body = json.loads(raw or b"null")
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                owner.count_bad_request()
                self._send(400, error_body(400, f"body is not valid JSON: {exc}"))
                return
            self._send(*owner.complete(body, parse_tag(self.headers.get(TAG_HEADER))))
        elif path in ("/stats/reset", "/v1/stats/reset"):
            owner.reset_stats()
            self._send(200, owner.stats().model_dump())
        else:
            self._send(404, error_body(404, f"no route POST {path}"))

    def _read_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._send(411, error_body(411, "a Content-Length header is required"))
            self.close_connection = True
            return None
        return self.rfile.read(int(length))

    def _send(self, status: int, payload: object, headers: Mapping[str, str] | None = None) -> None:
        raw = isinstance(payload, bytes)
        data = payload if isinstance(payload, bytes) else \
            json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html" if raw else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.owner.verbose:
            super().log_message(format, *args)


class JudgeServer:
    """A simulated judge served over HTTP on a background thread; close it when done.

    ``requests`` and ``qrels`` are the judge's knowledge; knobs (``noise``,
    ``position_bias``, ``latency_ms``, ``error_rate``, ``garbage_rate``, ``seed``) are those
    of ``JudgeKnobs``; ``malformed_rate`` is the share of 200 answers that are not chat
    completions. ``port=0`` picks a free port; ``.url`` is the ``api_base`` to use with a
    LiteLLM ``openai/...`` model; ``.arrivals`` holds when each request arrived (the
    provider's view of a client's pacing). ``max_rpm`` makes it a rate-limited provider: a token
    bucket of one second's worth of requests, refilled at ``max_rpm`` a minute; a request
    finding it empty gets a 429 with ``Retry-After: 1``.
    """

    def __init__(self, requests: Iterable[RerankRequest], qrels: Mapping[str, Mapping[str, int]],
                 *, host: str = "127.0.0.1", port: int = 0, verbose: bool = False,
                 malformed_rate: float = 0.0, max_rpm: float | None = None,
                 **knobs: Any) -> None:
        if not 0 <= malformed_rate <= 1:
            raise ValueError(f"malformed_rate must be in [0, 1], got {malformed_rate!r}")
        self.judge = Judge(requests, qrels, **knobs)
        self.malformed_rate = malformed_rate
        self.max_rpm = max_rpm
        self._bucket = (max(1.0, (max_rpm or 0) / 60), time.monotonic())  # (tokens, when)
        self.model_name = MODEL_NAME
        self.verbose = verbose
        self._lock = threading.Lock()
        self._stats = JudgeStats()
        self.arrivals: list[float] = []  # time.monotonic() of each request, in arrival order
        self._in_flight = 0
        self._attempts: dict[str, int] = {}
        self._connections: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.owner = self

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The OpenAI ``api_base``, e.g. ``http://127.0.0.1:8000/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> JudgeServer:
        """Serve on a daemon thread; returns the server itself."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                            daemon=True,
                                            name=f"judge-server-{self.port}")
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (what the CLI does)."""
        try:
            self._httpd.serve_forever()
        finally:
            self._close_connections()
            self._httpd.server_close()

    def close(self) -> None:
        """Stop serving, drop open keep-alive connections and free the port."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._close_connections()
        self._httpd.server_close()

    def __enter__(self) -> JudgeServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _close_connections(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def stats(self) -> JudgeStats:
        """A snapshot of the counters."""
        with self._lock:
            return self._stats.model_copy(deep=True)

    def reset_stats(self) -> None:
        """Zero the counters and forget seen prompts (so the error pattern replays)."""
        with self._lock:
            self._stats = JudgeStats()
            self._attempts.clear()

    def count_bad_request(self) -> None:
        with self._lock:
            self._stats.requests += 1
            self._stats.bad_requests += 1

    def complete(self, body: object, tag: Mapping[str, str] | None = None) -> Reply:
        """Answer one chat-completion request body, whose request carried ``tag`` (its
        ``kind`` says what the prompt asks): ``(status, payload, headers)``."""
        with self._lock:
            self.arrivals.append(time.monotonic())
            self._stats.requests += 1
            self._in_flight += 1
            self._stats.peak_concurrency = max(self._stats.peak_concurrency, self._in_flight)
        arrived = time.monotonic()
        try:
            reply = self._over_rate() or self._complete(body, tag or {})
            if self.judge.knobs.latency_ms:  # the judge's own work happens within the delay
                time.sleep(max(0.0, arrived + self.judge.knobs.latency_ms / 1000
                               - time.monotonic()))
            return reply
        finally:
            with self._lock:
                self._in_flight -= 1

    def _over_rate(self) -> Reply | None:
        """A 429 when the ``max_rpm`` bucket is empty, else ``None`` (one token taken)."""
        if self.max_rpm is None:
            return None
        capacity, rate = max(1.0, self.max_rpm / 60), self.max_rpm / 60
        with self._lock:
            tokens, then = self._bucket
            now = time.monotonic()
            tokens = min(capacity, tokens + (now - then) * rate)
            if tokens < 1:
                self._bucket = (tokens, now)
                self._stats.rate_limited += 1
                return 429, error_body(429, "simulated rate limit: over max_rpm"), {
                    "Retry-After": "1"}
            self._bucket = (tokens - 1, now)
        return None

    def _bad_request(self, message: str) -> Reply:
        with self._lock:
            self._stats.bad_requests += 1
        return 400, error_body(400, message), {}

    def _complete(self, body: object, tag: Mapping[str, str]) -> Reply:
        if not isinstance(body, dict):
            return self._bad_request("the body must be a JSON object")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages
        ):
            return self._bad_request("'messages' must be a non-empty list of {role, content}")
        if body.get("stream"):
            return self._bad_request("the judge server does not stream; send stream=false")
        key = hashlib.sha256(json.dumps(messages, sort_keys=True).encode("utf-8")).hexdigest()
        with self._lock:
            attempt = self._attempts.get(key, 0)
            self._attempts[key] = attempt + 1
        status = self.judge.error_status(messages, attempt)
        if status is not None:
            with self._lock:
                self._stats.errors_sent += 1
            message = "rate limit reached" if status == 429 else "service unavailable"
            return status, error_body(status, f"simulated {message}"), {"Retry-After": "0"}
        if self.malformed_rate > 0:
            rng = random.Random(f"{self.judge.knobs.seed}:{key}:{attempt}:malformed")
            if rng.random() < self.malformed_rate:
                with self._lock:
                    self._stats.malformed_sent += 1
                return 200, rng.choice(MALFORMED_BODIES), {}
        want_logprobs = bool(body.get("logprobs")) or bool(body.get("top_logprobs"))
        try:
            answer = self.judge.answer(messages, logprobs=want_logprobs, kind=tag.get("kind"))
        except UnrecognizedPrompt as exc:
            return self._bad_request(f"unrecognised prompt: {exc}")
        prompt_tokens = sum(count_word_tokens(message_text(m.get("content"))) for m in messages)
        completion_tokens = count_word_tokens(answer.text)
        with self._lock:
            self._stats.by_kind[answer.kind] = self._stats.by_kind.get(answer.kind, 0) + 1
            self._stats.garbage_sent += int(answer.garbage)
            self._stats.untagged += "kind" not in tag
            self._stats.unmatched_passages += answer.unmatched
            self._stats.prompt_tokens += prompt_tokens
            self._stats.completion_tokens += completion_tokens
        payload = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model") or self.model_name),
            "system_fingerprint": None,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": answer.text},
                "finish_reason": "stop",
                "logprobs": {"content": answer.logprobs} if answer.logprobs is not None else None,
            }],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }
        return 200, payload, {}
