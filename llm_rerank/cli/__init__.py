"""The ``llm-rerank`` command line. Each subcommand is a module in this package exposing
``register(subparsers)``; nothing heavy (LiteLLM, torch) is imported until a command runs.

``main`` never shows a traceback for a problem with the input, a file or the environment:
it prints one line ``llm-rerank: error: ...`` and exits with a documented status
(``EXIT_CODES``). ``LLM_RERANK_DEBUG=1`` shows the traceback of an unexpected error.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence

from ..errors import BudgetExceeded, LLMCallError, RerankError

COMMANDS = ["rerank", "prompts", "compare", "eval", "judge_server", "demo", "serve"]
DEBUG_ENV = "LLM_RERANK_DEBUG"

EXIT_OK, EXIT_STRICT, EXIT_USAGE, EXIT_LLM, EXIT_BUG = 0, 1, 2, 3, 4
EXIT_INTERRUPTED, EXIT_PIPE = 130, 141
EXIT_CODES = f"""\
exit status:
  {EXIT_OK}    success
  {EXIT_STRICT}    the run completed, but --strict saw failed LLM calls or parse failures
  {EXIT_USAGE}    bad flag, input file, output path or prompt template
  {EXIT_LLM}    an LLM call failed for good (after retries) or a budget was exhausted
  {EXIT_BUG}    unexpected internal error (set {DEBUG_ENV}=1 to see the traceback)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)
  {EXIT_PIPE}  the reader of stdout went away (e.g. | head)
Output files are written atomically: a failed run leaves an existing file unchanged."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-rerank",
        description="Rerank retrieval candidates with LLM judges or a cross-encoder.",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def _error(message: str) -> None:
    """``llm-rerank: error: `` and the first line of ``message`` (some provider errors carry
    a remote traceback or a bug-report link on the following lines)."""
    line = next((line.strip() for line in message.splitlines() if line.strip()), message)
    print(f"llm-rerank: error: {line}", file=sys.stderr, flush=True)


def _os_error(exc: OSError) -> str:
    """One line about a file-system or network error, naming the file when known."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is not None:
        return f"{exc.filename}: {reason}"
    return f"{type(exc).__name__}: {reason}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse arguments, run the command, map every failure to one line and an
    exit status (see ``EXIT_CODES``)."""
    args = build_parser().parse_args(argv)
    debug = os.environ.get(DEBUG_ENV, "").lower() in ("1", "true", "yes", "on")
    try:
        status: int = args.func(args)
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `llm-rerank rerank ... | head`: the reader went away
        with contextlib.suppress(OSError, ValueError):  # no second error when Python exits
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE
    except (LLMCallError, BudgetExceeded) as exc:
        if debug:
            raise
        _error(str(exc))
        return EXIT_LLM
    except RerankError as exc:
        if debug:
            raise
        _error(str(exc))
        return EXIT_USAGE
    except OSError as exc:
        if debug:
            raise
        _error(_os_error(exc))
        return EXIT_USAGE
    except Exception as exc:
        if debug:
            raise
        _error(f"unexpected {type(exc).__name__}: {exc}; this is a bug: rerun with "
               f"{DEBUG_ENV}=1 for the traceback and report it")
        return EXIT_BUG
    return status


if __name__ == "__main__":
    sys.exit(main())
