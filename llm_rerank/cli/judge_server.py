"""``llm-rerank judge-server``: a simulated LLM judge that answers the project's prompts from
qrels, as an OpenAI-compatible server (use ``--api-base http://HOST:PORT/v1 -m openai/judge``).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

from ..errors import InvalidInput
from ..wording import counted


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "judge-server", help="serve a simulated judge that knows the relevance grades",
        description=__doc__,
    )
    parser.add_argument("--data", required=True,
                        help="JSONL of queries and candidates (RankGPT or candidates shape)")
    parser.add_argument("--qrels", required=True, help="TREC qrels: qid 0 docid grade")
    parser.add_argument("--aspects", help="per-part qrels of multi-part queries: qid criterion "
                        "docid grade; each criterion's text comes from its --data row's "
                        "'parts': [{id, text}]")
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
    aspects = load_aspects(args.data, args.aspects) if args.aspects else None
    try:
        server = JudgeServer(
            requests, qrels, aspects=aspects, host=args.host, port=args.port,
            verbose=args.verbose,
            noise=args.noise, position_bias=args.position_bias, latency_ms=args.latency_ms,
            error_rate=args.error_rate, garbage_rate=args.garbage_rate, seed=args.seed,
        )
    except OSError as exc:  # port in use, no permission for a low port, unknown host
        reason = exc.strerror or str(exc)
        raise InvalidInput(f"cannot listen on {args.host}:{args.port}: {reason}; pick another "
                           "--port (--port 0 picks a free one) or --host") from None
    parts = f", {counted(sum(map(len, aspects.values())), 'query part')}" if aspects else ""
    with contextlib.suppress(KeyboardInterrupt):  # from the banner on, Ctrl-C is a clean stop
        print(f"judge server: {counted(len(requests), 'query')}{parts}, "
              f"{counted(sum(map(len, qrels.values())), 'judgment')}; "
              f"api_base {server.url} (model openai/{server.model_name}); Ctrl-C stops",
              file=sys.stderr, flush=True)
        server.serve_forever()
    return 0


def load_aspects(data: str, path: str) -> dict[str, list[Any]]:
    """The judge's knowledge of each query's parts: the grades of ``path`` (``qid criterion
    docid grade``), each criterion named by the ``parts`` of its query's row in ``data``.

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "q.jsonl"), "w") as f:
    ...     _ = f.write('{"query_id": "q1", "query": "cost and warmth", "parts": '
    ...                 '[{"id": "cost", "text": "What does it cost?"}], "candidates": []}\\n')
    >>> with open(os.path.join(folder, "a.qrels"), "w") as f:
    ...     _ = f.write("q1 cost d1 2\\n")
    >>> load_aspects(os.path.join(folder, "q.jsonl"), os.path.join(folder, "a.qrels"))
    {'q1': [Aspect(text='What does it cost?', grades={'d1': 2})]}
    """
    from ..eval.io import Aspect, read_aspect_qrels, read_query_parts

    texts = {qid: dict(parts) for qid, parts in read_query_parts(data).items()}
    aspects: dict[str, list[Any]] = {}
    for qid, criteria in read_aspect_qrels(path).items():
        for criterion, grades in criteria.items():
            text = texts.get(qid, {}).get(criterion)
            if text is None:
                raise InvalidInput(f"--aspects: criterion {criterion!r} of query {qid!r} has no "
                                   f"text in {data} (give its row 'parts': [{{id, text}}])")
            aspects.setdefault(qid, []).append(Aspect(text, grades))
    return aspects
