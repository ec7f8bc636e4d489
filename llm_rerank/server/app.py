"""The HTTP API as a Starlette app: Cohere (v1, v2) and Jina rerank, TEI rerank, health and
Prometheus metrics, over rerankers built once and run concurrently on the async core.

- ``POST /v1/rerank``, ``POST /v2/rerank``: Cohere (and Jina on v1),
  ``{id, results: [{index, relevance_score, document?}], meta}``;
- ``POST /rerank``: TEI, ``[{index, score, text?}]``;
- ``GET /health``: ``{"status": "ok", "models": [...], "default": ...}``;
- ``GET /metrics``: Prometheus text.

Results are best first; ``relevance_score`` is the reranker's ``RankedResult.relevance_score``
(in [0, 1]); TEI's ``score`` is the same, or the native score with ``raw_scores=true``.
``meta.llm_rerank`` carries the usage: LLM calls, cache hits, tokens, cost, retries. An empty
``documents`` list gives ``results: []`` without a call. Errors: see ``errors.py``.

A client that goes away before its answer cancels its ranking (no further LLM call, its
concurrency slots freed); it is counted and logged with status 499. A path with a trailing
slash is not redirected (the redirect would name the ``Host`` the client sent): 404.

>>> from starlette.testclient import TestClient
>>> from llm_rerank.testing import fake_llm
>>> from llm_rerank import ListwiseReranker
>>> with fake_llm(lambda messages: "[2] > [1]") as fake:
...     app = create_app({"fast": ListwiseReranker(fake.model, cache=False)})
...     answer = TestClient(app).post("/v2/rerank", json={"query": "q", "documents": ["a", "b"]})
>>> [r["index"] for r in answer.json()["results"]]
[1, 0]
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..models import RankedResults
from ..reranker import Reranker
from ..tokens import count_word_tokens, truncate_word_tokens
from .config import ServerSettings, ServeSetup, build_rerankers
from .errors import ApiError, error_for
from .lifecycle import ConnectionLimits, lifespan
from .metrics import CONTENT_TYPE, Metrics
from .schemas import CohereRequest, TEIRequest, json_type

log = logging.getLogger("llm_rerank.server")
access_log = logging.getLogger("uvicorn.access")  # where uvicorn logs each answer
Shape = Literal["cohere", "tei"]
RequestT = TypeVar("RequestT", bound=BaseModel)
T = TypeVar("T")
DEBUG_ENV = "LLM_RERANK_DEBUG"
RERANK_ROUTES = ("/v1/rerank", "/v2/rerank", "/rerank")
CLIENT_GONE = 499  # the status recorded for a client that left before its answer (nginx's)


class RerankService:
    """The served rerankers by name, the limits, and the metrics of one app."""

    def __init__(self, rerankers: Mapping[str, Reranker], default: str | None,
                 settings: ServerSettings) -> None:
        if not rerankers:
            raise ValueError("a server needs at least one reranker")
        self.rerankers = dict(rerankers)
        self.default = default or next(iter(self.rerankers))
        if self.default not in self.rerankers:
            raise ValueError(f"default {self.default!r} is not one of the rerankers")
        self.settings = settings
        self.metrics = Metrics()
        self.budget = settings.server_budget()  # issue 17: the server-wide spend cap

    def pick(self, name: str | None) -> tuple[str, Reranker]:
        """The reranker a request's ``model`` names (the default when it names none)."""
        name = name or self.default
        if name not in self.rerankers:
            raise ApiError(404, f"unknown model {name!r}; this server offers: "
                                f"{', '.join(self.rerankers)}", "unknown_model")
        return name, self.rerankers[name]

    def check_auth(self, request: Request) -> None:
        token = self.settings.auth_token
        if token is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, credential = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                credential.strip().encode("utf-8", "surrogateescape"), token.encode("utf-8")):
            raise ApiError(401, "missing or wrong bearer token: send 'Authorization: Bearer "
                                "<token>'", "unauthorized", {"WWW-Authenticate": "Bearer"})

    def check_limits(self, query: str, texts: list[str]) -> None:
        s = self.settings
        if len(texts) > s.max_documents:
            raise ApiError(413, f"{len(texts)} documents is over this server's limit of "
                                f"{s.max_documents} per request", "too_many_documents")
        if len(query) > s.max_query_chars:
            raise ApiError(413, f"the query has {len(query)} characters, over this server's "
                                f"limit of {s.max_query_chars}", "query_too_long")

    async def rank(self, model: str | None, query: str, texts: list[str], top_n: int | None,
                   max_tokens: int, direction: str = "right") -> tuple[str, RankedResults]:
        """Rank ``texts`` (cut to ``max_tokens`` tokens each) with the named reranker."""
        name, reranker = self.pick(model)
        self.check_limits(query, texts)
        if not texts:
            return name, RankedResults(query=query, results=[], strategy=reranker.name,
                                       model=reranker.model)
        passages = [truncate_word_tokens(text, max_tokens, direction) for text in texts]
        results = await reranker.arank(query, passages, top_n, budget=self.budget)
        self.metrics.observe_usage(name, results.usage, len(texts))
        return name, results


def usage_meta(name: str, results: RankedResults, version: str) -> dict[str, Any]:
    """The ``meta`` of a Cohere answer: billed units, tokens and the ``llm_rerank`` usage."""
    usage = results.usage
    return {
        "api_version": {"version": version},
        "billed_units": {"search_units": 1},
        "tokens": {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens},
        "llm_rerank": {
            "model": name, "strategy": results.strategy, "llm_model": results.model,
            "llm_calls": usage.llm_calls, "cache_hits": usage.cache_hits,
            "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "cost_usd": usage.cost_usd, "retries": usage.retries,
            "parse_failures": usage.parse_failures, "failed_calls": len(results.errors),
            "stopped": results.stopped, "latency_s": round(usage.latency_s, 6),
        },
    }


def cohere_answer(body: CohereRequest, name: str, results: RankedResults,
                  version: str) -> dict[str, Any]:
    """A Cohere rerank response (v1 also carries Jina's ``model`` and ``usage``)."""
    items = []
    for r in results:
        item: dict[str, Any] = {"index": r.index, "relevance_score": r.relevance_score}
        if body.return_documents:
            item["document"] = {"text": body.documents[r.index]}
        items.append(item)
    answer: dict[str, Any] = {"id": str(uuid.uuid4()), "results": items,
                              "meta": usage_meta(name, results, version)}
    if version == "1":
        tokens = results.usage.prompt_tokens + results.usage.completion_tokens
        answer |= {"model": name, "usage": {"total_tokens": tokens,
                                            "prompt_tokens": results.usage.prompt_tokens}}
    return answer


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) one over ``limit`` bytes before reading all of it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the body has {declared} bytes, over this server's limit of "
                            f"{limit}", "body_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the body is over this server's limit of {limit} bytes",
                           "body_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def check_content_type(request: Request) -> None:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json" and not kind.endswith("+json"):
        raise ApiError(415, f"content type {kind or '(none)'!r} is not JSON: send "
                            "'Content-Type: application/json'", "unsupported_media_type")


MAX_INT_DIGITS = 4300  # Python's own limit on converting digits to an int


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise ApiError(400, f"the body holds an integer of {len(digits.lstrip('-'))} digits, "
                            f"over this server's limit of {MAX_INT_DIGITS}", "malformed_json")
    return int(digits)


def parse_json(raw: bytes) -> object:
    """The JSON value of a body: UTF-8, no NaN or Infinity, no integer of more than 4300
    digits, not nested too deeply (400)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"the body is not valid UTF-8 (byte {raw[exc.start]:#04x} at "
                            f"offset {exc.start})", "malformed_json") from None
    if not text.strip():
        raise ApiError(400, "the body is empty; send a JSON object", "malformed_json")
    try:
        return json.loads(text, parse_constant=_no_constant, parse_int=_bounded_int)
    except RecursionError:
        raise ApiError(400, "the body is JSON nested too deeply", "malformed_json") from None
    except ValueError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}", "malformed_json") from None


def validate(model: type[RequestT], data: object) -> RequestT:
    """``data`` as a request model; 422 naming each invalid field (at most five)."""
    if not isinstance(data, dict):
        raise ApiError(422, f"the body must be a JSON object, got {json_type(data)}",
                       "invalid_request")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False)[:5]:
            where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}"
                            for part in error["loc"]).lstrip(".")
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{where or 'body'}: {message}")
        raise ApiError(422, "invalid request: " + "; ".join(problems), "invalid_request") from None


def error_response(error: ApiError, shape: Shape) -> JSONResponse:
    """Cohere's ``{"message"}`` or TEI's ``{"error", "error_type"}`` body for an error."""
    body = ({"error": error.message, "error_type": error.kind} if shape == "tei"
            else {"message": error.message, "error_type": error.kind})
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def _log_unexpected(route: str, exc: BaseException) -> str:
    """One log line for an unexpected error (a traceback only with LLM_RERANK_DEBUG=1)."""
    error_id = uuid.uuid4().hex[:12]
    debug = os.environ.get(DEBUG_ENV, "").lower() in ("1", "true", "yes", "on")
    first = next(iter(str(exc).splitlines()), "")
    log.error("internal error %s on %s: %s: %s", error_id, route, type(exc).__name__, first,
              exc_info=exc if debug else None)
    return error_id


class Guard:
    """The outermost ASGI layer: no exception reaches the HTTP server, which would print a
    traceback. A client that went away is dropped quietly; anything else that escaped a
    route gets a JSON 500 if the answer has not started, and one log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except ClientDisconnect:
            return
        except Exception as exc:
            error_id = _log_unexpected(str(scope.get("path", ""))[:100], exc)
            if started:
                return
            response = error_response(ApiError(500, f"internal server error (id {error_id})",
                                               "internal_error"), "cohere")
            with contextlib.suppress(Exception):  # the connection may be broken already
                await response(scope, receive, send)


async def until_disconnected(request: Request) -> None:
    """Return when the client goes away (call it once the body has been read: the server
    then answers ``receive`` only with ``http.disconnect``, when the client leaves or the
    answer is complete)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_client_leaves(work: Awaitable[T], request: Request) -> T:
    """``work``'s result; if the client goes away first, ``work`` is cancelled (and waited
    for, so it has released what it held) and ``ClientDisconnect`` is raised."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(until_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, watcher):
            if not pending.done():
                pending.cancel()
        await asyncio.gather(task, watcher, return_exceptions=True)
    if task.cancelled() and watcher.done() and not watcher.cancelled():
        raise ClientDisconnect()
    return task.result()


def log_client_gone(request: Request, seconds: float) -> None:
    """An access-log line with status 499 (the client went away before its answer)."""
    client = request.client
    where = f"{client.host}:{client.port}" if client else "-"
    path = request.url.path if len(request.url.path) <= 100 else request.url.path[:100] + "..."
    access_log.info('%s - "%s %s HTTP/%s" %d', where, request.method, path,
                    request.scope.get("http_version", "1.1"), CLIENT_GONE)
    log.info("the client left %s %s after %.1f s: its ranking was cancelled", request.method,
             path, seconds)


Handler = Callable[[RequestT], Awaitable[object]]


def rerank_route(service: RerankService, path: str, model: type[RequestT],
                 handle: Handler[RequestT], shape: Shape) -> Route:
    """A POST route that checks auth, content type, size, JSON and fields, then answers with
    ``handle(body)``; every failure is a JSON error and is counted."""
    settings, metrics = service.settings, service.metrics

    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        try:
            service.check_auth(request)
            check_content_type(request)
            data = parse_json(await read_body(request, settings.max_body_bytes))
            body = validate(model, data)
            response: Response = JSONResponse(await unless_client_leaves(handle(body), request))
        except ClientDisconnect:
            seconds = time.perf_counter() - started
            metrics.observe_request(path, CLIENT_GONE, seconds)
            metrics.observe_error(path, "client_gone")
            log_client_gone(request, seconds)
            raise
        except Exception as exc:
            error = error_for(exc, retry_after_s=settings.retry_after_s)
            if error.status == 500:
                error.message += f" (id {_log_unexpected(path, exc)})"
            metrics.observe_error(path, error.kind)
            response = error_response(error, shape)
        metrics.observe_request(path, response.status_code, time.perf_counter() - started)
        return response

    return Route(path, endpoint, methods=["POST"])


def create_app(rerankers: Mapping[str, Reranker], *, default: str | None = None,
               settings: ServerSettings | None = None) -> Starlette:
    """The app serving ``rerankers`` by name (``default`` for requests naming no model).

    >>> from llm_rerank import ListwiseReranker
    >>> app = create_app({"fast": ListwiseReranker("openai/gpt-4o-mini", cache=False)})
    >>> sorted(route.path for route in app.routes)
    ['/health', '/metrics', '/rerank', '/v1/rerank', '/v2/rerank']
    """
    service = RerankService(rerankers, default, settings or ServerSettings())
    limit = service.settings.max_tokens_per_doc

    def cohere(version: str) -> Handler[CohereRequest]:
        async def handle(body: CohereRequest) -> object:
            max_tokens = min(body.max_tokens_per_doc or limit, limit)
            name, results = await service.rank(body.model, body.query, body.documents,
                                               body.top_n, max_tokens)
            return cohere_answer(body, name, results, version)
        return handle

    async def tei(body: TEIRequest) -> object:
        if not body.truncate:
            for index, text in enumerate(body.texts):
                if (tokens := count_word_tokens(text)) > limit:
                    raise ApiError(413, f"texts[{index}] has {tokens} tokens, over this "
                                        f"server's limit of {limit}; send truncate=true",
                                   "text_too_long")
        _, results = await service.rank(body.model, body.query, body.texts, None, limit,
                                        body.truncation_direction)
        return [{"index": r.index, "score": r.score if body.raw_scores else r.relevance_score,
                 **({"text": body.texts[r.index]} if body.return_text else {})}
                for r in results]

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "models": list(service.rerankers),
                             "default": service.default})

    async def metrics(request: Request) -> Response:
        return Response(service.metrics.render(), media_type=CONTENT_TYPE)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        path = request.url.path
        shown = path if len(path) <= 100 else path[:100] + "..."
        if exc.status_code == 405:
            message = f"{request.method} is not allowed on {shown}"
        else:
            message = f"no route {request.method[:20]} {shown}"
            if path.endswith("/") and path.rstrip("/") in (*RERANK_ROUTES, "/health", "/metrics"):
                message += f" (without the trailing slash: {path.rstrip('/')})"
        error = ApiError(exc.status_code, message,
                         "method_not_allowed" if exc.status_code == 405 else "not_found",
                         dict(exc.headers or {}))
        route = path if path in (*RERANK_ROUTES, "/health", "/metrics") else "unmatched"
        service.metrics.observe_error(route, error.kind)
        service.metrics.observe_request(route, error.status, 0.0)
        return error_response(error, "tei" if path == "/rerank" else "cohere")

    routes = [
        rerank_route(service, "/v1/rerank", CohereRequest, cohere("1"), "cohere"),
        rerank_route(service, "/v2/rerank", CohereRequest, cohere("2"), "cohere"),
        rerank_route(service, "/rerank", TEIRequest, tei, "tei"),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    limits = ConnectionLimits(service.settings.read_timeout_s, service.settings.max_connections)
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error},
                    middleware=[Middleware(Guard)],
                    lifespan=lifespan(service.rerankers.values(), limits))
    app.router.redirect_slashes = False  # a redirect would name the Host the client sent
    app.state.service = service
    return app


def app_from_setup(setup: ServeSetup) -> Starlette:
    """Build every configured reranker once and serve them."""
    return create_app(build_rerankers(setup.config), default=setup.config.default_name,
                      settings=setup.settings)


def app_from_env() -> Starlette:
    """The uvicorn factory of ``--workers`` processes: the setup comes from the environment."""
    return app_from_setup(ServeSetup.from_env())
