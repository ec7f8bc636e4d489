"""``llm-rerank judge-server``: a simulated LLM judge that answers the project's prompts from
qrels, as an OpenAI-compatible server (use ``--api-base http://HOST:PORT/v1 -m openai/judge``).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

from ..errors import InvalidInput


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "judge-server", help="serve a simulated judge that knows the relevance grades",
        description=__doc__,
    )
    parser.add_argument("--data", required=True,
                        help="JSONL of queries and candidates (RankGPT or candidates shape)")
    parser.add_argument("--qrels", required=True, help="TREC qrels: qid 0 docid grade")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="default 8000; 0 picks a free port")
    parser.add_argument("--noise", type=float, default=0.0,
                        help="std-dev of Gaussian noise added to each grade (default 0)")
    parser.add_argument("--position-bias", type=float, default=0.0,
                        help="grade bonus for the first passage, fading to 0 for the last")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="each answer is sent this long after its request arrived")
    parser.add_argument("--error-rate", type=float, default=0.0,
                        help="share of requests answered 429/503 (default 0)")
    parser.add_argument("--garbage-rate", type=float, default=0.0,
                        help="share of malformed answers (default 0)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..eval.io import read_requests
    from ..eval.trec import read_qrels
    from ..testing.server import JudgeServer

    if not 0 <= args.port <= 65535:
        raise InvalidInput(f"--port must be in 0..65535, got {args.port}")
    requests = read_requests(args.data)
    qrels = read_qrels(args.qrels)
    try:
        server = JudgeServer(
            requests, qrels, host=args.host, port=args.port, verbose=args.verbose,
            noise=args.noise, position_bias=args.position_bias, latency_ms=args.latency_ms,
            error_rate=args.error_rate, garbage_rate=args.garbage_rate, seed=args.seed,
        )
    except OSError as exc:  # port in use, no permission for a low port, unknown host
        reason = exc.strerror or str(exc)
        raise InvalidInput(f"cannot listen on {args.host}:{args.port}: {reason}; pick another "
                           "--port (--port 0 picks a free one) or --host") from None
    print(f"judge server: {len(requests)} queries, {sum(map(len, qrels.values()))} judgments; "
          f"api_base {server.url} (model openai/{server.model_name}); Ctrl-C stops",
          file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0
