"""The ``llm-rerank`` command line. Each subcommand is a module in this package exposing
``register(subparsers)``; nothing heavy (LiteLLM, torch) is imported until a command runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ..errors import RerankError

COMMANDS = ["rerank", "prompts", "compare", "eval", "judge_server", "demo"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-rerank",
        description="Rerank retrieval candidates with LLM judges or a cross-encoder.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse arguments and run the chosen command; errors exit with status 2."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
    except RerankError as exc:
        print(f"llm-rerank: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
