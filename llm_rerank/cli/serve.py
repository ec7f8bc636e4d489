"""llm-rerank serve: the rerank HTTP API (Cohere v1/v2 and Jina POST /v1/rerank, TEI
POST /rerank, GET /health, GET /metrics) on uvicorn. Needs the 'server' extra.

One reranker from -s/-m/-O (served under --name, by default the strategy name), or several
from --config FILE (JSON or TOML), picked by each request's "model". Each reranker is built
once at start-up, and LiteLLM is loaded before the server listens; requests run
concurrently. --workers N starts N processes that share the disk cache. A client that
goes away cancels its request (logged as 499). A request must arrive whole within
--read-timeout seconds, and at most --max-connections connections (half of ulimit -n at
most) stay open. Ctrl-C or SIGTERM stops accepting connections and finishes the requests
in flight (for up to --graceful-timeout seconds).

  llm-rerank serve -s listwise -m openai/gpt-4o-mini --port 8080
  llm-rerank serve --config rerankers.json --auth-token "$TOKEN" --workers 2
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, require
from .options import DEDICATED_FLAGS, LLM_FLAGS, add_model_options

if TYPE_CHECKING:
    from ..server.config import ServeSetup

LIMIT_FLAGS = {
    "max_body_bytes": "largest request body in bytes (default 10485760)",
    "max_documents": "most documents per request (default 1000)",
    "max_query_chars": "longest query in characters (default 10000)",
    "max_tokens_per_doc": "passages are cut to this many tokens, words and punctuation "
                          "marks (default 4096)",
}

CONNECTION_FLAGS = {"read_timeout_s": "--read-timeout", "max_connections": "--max-connections"}
SERVER_MODULES = ("starlette", "uvicorn", "prometheus_client")  # the 'server' extra


BUDGET_FLAGS: dict[str, tuple[Any, str]] = {  # issue 17
    "budget_max_calls": (int, "LLM call attempts of all requests together"),
    "budget_max_tokens": (int, "prompt + completion tokens of all requests together"),
    "budget_max_cost_usd": (float, "US dollars of all requests together"),
    "budget_store": (str, "redis://HOST:PORT/DB: one ledger for every replica naming it "
                          "(unreachable: 503, no call is made)"),
    "budget_name": (str, "the shared ledger's name (default 'default')"),
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("serve", help="serve the Cohere, Jina and TEI rerank APIs",
                                   description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_options(parser, model_required=False)
    parser.set_defaults(strategy=None)
    parser.add_argument("--name", help="the model name requests use for the -s/-m reranker "
                                       "(default: the strategy name)")
    parser.add_argument("--config", metavar="FILE",
                        help='JSON or TOML: {"rerankers": {NAME: {"strategy", "model", '
                             'options...}}, "default": NAME}; replaces -s/-m/-O')
    server = parser.add_argument_group("server")
    server.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    server.add_argument("--port", type=int, default=8080, help="default 8080")
    server.add_argument("--workers", type=int, default=1,
                        help="server processes (default 1); they share the disk cache")
    server.add_argument("--auth-token", help="require 'Authorization: Bearer TOKEN' on the "
                                             "rerank routes (default: $LLM_RERANK_AUTH_TOKEN)")
    server.add_argument("--graceful-timeout", type=float, default=30.0,
                        help="seconds to finish in-flight requests at shutdown (default 30)")
    server.add_argument("--keep-alive-timeout", type=float, default=65.0,
                        help="seconds an idle keep-alive connection stays open (default 65: "
                             "longer than clients' pool expiry, so a reused connection is "
                             "not closed under the client)")
    server.add_argument("--read-timeout", dest="read_timeout_s", type=float,
                        help="seconds a request may take to arrive whole, headers and body, "
                             "before its connection is closed (default 30)")
    server.add_argument("--max-connections", dest="max_connections", type=int,
                        help="most open connections, at most half of ulimit -n; over it the "
                             "longest-idle connection is closed (default 1000)")
    server.add_argument("--no-access-log", action="store_true", help="do not log each request")
    for name, text in LIMIT_FLAGS.items():
        server.add_argument("--" + name.replace("_", "-"), dest=name, type=int, help=text)
    spend = parser.add_argument_group("server-wide budget (every request; every replica with "
                                      "--budget-store)")
    for name, (kind, text) in BUDGET_FLAGS.items():
        spend.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, help=text)
    parser.set_defaults(func=run)


def _model_flags_given(args: argparse.Namespace) -> list[str]:
    given = [flag for flag, value in [("-s/--strategy", args.strategy), ("-m/--model", args.model),
                                      ("-O", args.option), ("--name", args.name)] if value]
    return given + [DEDICATED_FLAGS[name] for name in ("api_base", "api_key", *LLM_FLAGS)
                    if getattr(args, name, None) is not None] + (
        ["--no-cache, --cache-dir or --cache"] if args.no_cache or args.cache_dir or args.cache
        else [])


def build_setup(args: argparse.Namespace) -> ServeSetup:
    """The served rerankers and limits from the command line, validated (``InvalidInput``)."""
    from pydantic import ValidationError

    from ..server.config import (
        AUTH_TOKEN_ENV,
        ServeConfig,
        ServerSettings,
        ServeSetup,
        load_config,
    )
    from .options import reranker_options

    if args.config:
        if given := _model_flags_given(args):
            raise InvalidInput(f"--config names the rerankers; {', '.join(given)} apply only "
                               "without it")
        config = load_config(args.config)
    else:
        if not args.model:
            raise InvalidInput("give -m/--model (and -s/--strategy), or --config FILE")
        args.strategy = args.strategy or "listwise"
        options = reranker_options(args)
        name = args.name or args.strategy
        config = ServeConfig.model_validate(
            {"rerankers": {name: {"strategy": args.strategy, **options}}})
    token = args.auth_token if args.auth_token is not None else os.environ.get(AUTH_TOKEN_ENV)
    if token is not None and not token.strip():
        raise InvalidInput("the auth token is empty; give a non-empty --auth-token")
    if not 0 <= args.port <= 65535:
        raise InvalidInput(f"--port must be in 0..65535, got {args.port}")
    if args.workers < 1:
        raise InvalidInput(f"--workers must be >= 1, got {args.workers}")
    limits = {name: getattr(args, name) for name in (*LIMIT_FLAGS, *CONNECTION_FLAGS, *BUDGET_FLAGS)
              if getattr(args, name, None) is not None}
    if args.budget_name is not None and args.budget_store is None:
        raise InvalidInput("--budget-name names a shared ledger: give --budget-store too")
    try:
        settings = ServerSettings(auth_token=token, **limits)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = str(error["loc"][0])
        flag = CONNECTION_FLAGS.get(field) or "--" + field.replace("_", "-")
        message = str(error["msg"]).removeprefix("Value error, ")
        raise InvalidInput(f"{flag}: {message}") from None
    return ServeSetup(config=config, settings=settings)


def run(args: argparse.Namespace) -> int:
    for module in SERVER_MODULES:
        require(module, "server")
    import uvicorn

    from ..server.app import app_from_setup
    from ..server.config import ENV_VAR
    from ..server.lifecycle import warm_up
    from ..server.metrics import MULTIPROC_ENV

    setup = build_setup(args)
    app = app_from_setup(setup)  # builds every reranker: a bad option fails here, once
    if args.workers == 1:  # else each worker warms up before it accepts (the app's lifespan)
        warm_up(app.state.service.rerankers.values())  # LiteLLM loaded before any request
    names = [f"{n} (default)" if n == setup.config.default_name else n
             for n in setup.config.rerankers]
    auth = ", bearer token required" if setup.settings.auth_token else ""
    print(f"llm-rerank serve: {', '.join(names)} on http://{args.host}:{args.port} "
          f"(POST /v1/rerank /v2/rerank /rerank, GET /health /metrics; "
          f"{args.workers} worker(s){auth}); Ctrl-C stops", file=sys.stderr, flush=True)
    common: dict[str, Any] = {
        "host": args.host, "port": args.port, "access_log": not args.no_access_log,
        "timeout_graceful_shutdown": args.graceful_timeout, "log_level": "info",
        "timeout_keep_alive": args.keep_alive_timeout,
        "http": "llm_rerank.server.connections:GuardedH11Protocol",
    }
    if args.workers == 1:
        uvicorn.run(app, **common)
        return 0
    os.environ[ENV_VAR] = setup.to_env()
    with tempfile.TemporaryDirectory(prefix="llm-rerank-metrics-") as folder:
        os.environ.setdefault(MULTIPROC_ENV, folder)
        uvicorn.run("llm_rerank.server.app:app_from_env", factory=True, workers=args.workers,
                    **common)
    return 0
