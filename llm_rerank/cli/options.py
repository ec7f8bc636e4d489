"""Command-line options shared by the commands that build rerankers."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import InvalidInput


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """``-s/--strategy``, ``-m/--model`` and the connection options of a reranker."""
    parser.add_argument("-s", "--strategy", default="listwise",
                        help="pointwise, pairwise, listwise, setwise or cross-encoder")
    parser.add_argument("-m", "--model", required=True,
                        help="a LiteLLM model string (e.g. openai/gpt-4o-mini) or a local model")
    parser.add_argument("--api-base", help="endpoint URL, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--api-key", help="API key (default: the provider's environment variable)")
    parser.add_argument("--option", "-O", action="append", default=[], metavar="KEY=VALUE",
                        help="a strategy option, e.g. -O window_size=20 (value read as JSON)")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    parser.add_argument("--cache-dir", help="response cache directory")


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``["window_size=20", "method=heap"]`` -> ``{"window_size": 20, "method": "heap"}``."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"option {pair!r} is not KEY=VALUE")
        try:
            options[key.replace("-", "_")] = json.loads(raw)
        except json.JSONDecodeError:
            options[key.replace("-", "_")] = raw
    return options


def llm_options(*, api_base: str | None = None, api_key: str | None = None,
                no_cache: bool = False, cache_dir: str | None = None) -> dict[str, Any]:
    """The connection and cache options of an LLM reranker that were given (Nones left out).

    >>> llm_options(api_base="http://127.0.0.1:8000/v1", no_cache=True)
    {'api_base': 'http://127.0.0.1:8000/v1', 'cache': False}
    """
    options: dict[str, Any] = {}
    if api_base:
        options["api_base"] = api_base
    if api_key:
        options["api_key"] = api_key
    if no_cache:
        options["cache"] = False
    elif cache_dir:
        options["cache"] = cache_dir
    return options


def reranker_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword options for ``get_reranker`` from the parsed command line."""
    options = parse_options(args.option)
    if args.strategy != "cross-encoder":
        options.update(llm_options(api_base=args.api_base, api_key=args.api_key,
                                   no_cache=args.no_cache, cache_dir=args.cache_dir))
    return {"model": args.model, **options}
