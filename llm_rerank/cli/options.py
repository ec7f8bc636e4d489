"""Command-line options shared by the commands that build rerankers.

A reranker option set by a dedicated flag (``-m`` sets ``model``) cannot also be given as
``-O KEY=VALUE``: two values for one option are refused instead of one silently winning.
A new dedicated flag is added in ``add_model_options`` and listed in ``DEDICATED_FLAGS``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import InvalidInput


def criteria_flag(value: str) -> Any:
    """``--criteria``: ``auto`` or a JSON list, checked like the ``criteria`` option.

    >>> criteria_flag("auto"), criteria_flag('["cost"]')[0].text
    ('auto', 'cost')
    """
    from ..criteria import coerce_criteria

    if value.strip() == "auto":
        return "auto"
    try:
        loaded = json.loads(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or a JSON list such as '[\"cost\", \"range\"]', got {value!r}"
        ) from None
    try:
        return coerce_criteria(loaded)
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def price_pair(text: str) -> tuple[float, float]:
    """``"1.5e-7,6e-7"`` -> ``(1.5e-07, 6e-07)`` (the ``--price`` flag).

    >>> price_pair("1.5e-7, 6e-7")
    (1.5e-07, 6e-07)
    """
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        first, second = (float(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected INPUT,OUTPUT US dollars per token, e.g. 1.5e-7,6e-7; got {text!r}"
        ) from None
    return first, second


class RegisteredStrategies:
    """The registry's strategy names as argparse ``choices``, looked up only when argparse
    checks a value or prints a command's help (so building the parser imports no strategy).

    >>> "listwise" in RegisteredStrategies(), "nosuch" in RegisteredStrategies()
    (True, False)
    """

    def __contains__(self, name: object) -> bool:
        from ..registry import reranker_names

        return name in reranker_names()

    def __iter__(self) -> Iterator[str]:
        from ..registry import reranker_names

        return iter(reranker_names())


def add_strategy_option(parser: argparse.ArgumentParser, default: str, note: str = "") -> None:
    """``-s/--strategy NAME``: a registered strategy, checked when the command line is read."""
    parser.add_argument("-s", "--strategy", default=default, metavar="NAME",
                        choices=RegisteredStrategies(),
                        help=f"a registered strategy: %(choices)s (default: %(default)s){note}")


# LLM options with a flag of their own: option -> (type, help)
LLM_FLAGS: dict[str, tuple[Any, str]] = {
    "timeout": (float, "seconds one call attempt may take (default 60)"),
    "max_retries": (int, "retries of a call after rate limits, timeouts, 5xx (default 10)"),
    "max_calls": (int, "budget per query: LLM call attempts"),
    "max_budget_tokens": (int, "budget per query: prompt + completion tokens (--max-tokens is "
                               "its deprecated name)"),
    "max_cost_usd": (float, "budget per query: US dollars (LiteLLM's price table)"),
    "on_budget": (str, "when a budget runs out: 'raise' (default; exit status 3) or "
                       "'keep_order' (the rest keeps its order, counted in the summary)"),
    "deadline_s": (float, "deadline per query in seconds; the rest keeps its order"),
    "on_error": (str, "a call that failed for good: 'raise' (default) or 'keep_order'"),
    "instructions": (str, "judging instructions added to every prompt (a JSONL row's "
                          "'instructions' field overrides them for its query)"),
    "criteria": (criteria_flag, "the query's parts: 'auto' (the LLM splits each query) or a "
                                "JSON list of strings or {text, weight, required} (a JSONL "
                                "row's 'criteria' field overrides them for its query)"),
    "transport": (str, "'litellm' (default), 'direct': post openai/... calls straight to "
                       "the OpenAI-compatible --api-base, without LiteLLM (less CPU per call), "
                       "or the name of a transport a plug-in registers"),
    "price": (price_pair, "INPUT,OUTPUT: US dollars per prompt and per "
              "completion token, for a model LiteLLM does not price (e.g. 1.5e-7,6e-7)"),
}


# LLM flag -> its deprecated name, still accepted (with a warning on stderr)
OLD_FLAG_NAMES: dict[str, str] = {"max_budget_tokens": "--max-tokens"}


class _FlagWithOldName(argparse.Action):
    """A flag also accepted under its deprecated name, with a warning; giving both refused."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        new, old = self.option_strings
        seen = f"_{self.dest}_flag"
        if getattr(namespace, seen, option_string) != option_string:
            parser.error(f"{old} and {new} are one option ({old} is its deprecated name); "
                         f"give only {new}")
        if option_string == old:
            print(f"llm-rerank: warning: {old} is deprecated; use {new} (same meaning)",
                  file=sys.stderr)
        setattr(namespace, seen, option_string)
        setattr(namespace, self.dest, values)


# reranker option -> the flag(s) that set it; ``-O`` refuses these keys
DEDICATED_FLAGS: dict[str, str] = {
    "model": "-m/--model",
    "api_base": "--api-base",
    "api_key": "--api-key",
    "cache": "--cache, --cache-dir or --no-cache",
    "cache_dir": "--cache-dir",
    **{name: "--" + name.replace("_", "-") for name in LLM_FLAGS},
    "max_tokens": "--max-budget-tokens",  # the option's deprecated name
}


def add_model_options(parser: argparse.ArgumentParser, *, model_required: bool = True) -> None:
    """``-s/--strategy``, ``-m/--model``, ``-O`` and the connection options of a reranker
    (``model_required=False`` where a config file can name the rerankers instead)."""
    add_strategy_option(parser, "listwise")
    parser.add_argument("-m", "--model", required=model_required,
                        help="a LiteLLM model string (e.g. openai/gpt-4o-mini) or a local model")
    parser.add_argument("--option", "-O", action="append", default=[], metavar="KEY=VALUE",
                        help="a strategy option, e.g. -O window_size=20 (value read as JSON); "
                             "options with a flag of their own (model, api_base, ...) take "
                             "that flag")
    llm = parser.add_argument_group("LLM connection (not for cross-encoder)")
    llm.add_argument("--api-base", help="endpoint URL, e.g. http://127.0.0.1:8000/v1")
    llm.add_argument("--api-key", help="API key (default: the provider's environment variable)")
    llm.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    llm.add_argument("--cache-dir", help="response cache directory")
    llm.add_argument("--cache", metavar="DIR|URL",
                     help="the response cache: a directory, or redis://HOST:PORT/DB[?ttl=S] "
                          "shared by every process naming it (default: $LLM_RERANK_CACHE_URL, "
                          "else the user cache directory)")
    limits = parser.add_argument_group("LLM limits and policies (not for cross-encoder)")
    for name, (kind, text) in LLM_FLAGS.items():
        flag = "--" + name.replace("_", "-")
        if name in OLD_FLAG_NAMES:
            limits.add_argument(flag, OLD_FLAG_NAMES[name], dest=name, type=kind, help=text,
                                action=_FlagWithOldName)
        else:
            limits.add_argument(flag, dest=name, type=kind, help=text)


def parse_options(pairs: list[str], dedicated: Mapping[str, str] = DEDICATED_FLAGS,
                  flag: str = "-O") -> dict[str, Any]:
    """``["window_size=20", "method=heap"]`` -> ``{"window_size": 20, "method": "heap"}``.

    A key given twice, or one that ``dedicated`` maps to its own flag, raises ``InvalidInput``.

    >>> parse_options(["window_size=20", "method=heap"])
    {'window_size': 20, 'method': 'heap'}
    >>> parse_options(["model=x"])
    Traceback (most recent call last):
    ...
    llm_rerank.errors.InvalidInput: -O model=x: set model with -m/--model, not -O
    """
    options: dict[str, Any] = {}
    for pair in pairs:
        raw_key, sep, raw = pair.partition("=")
        key = raw_key.strip().replace("-", "_")
        if not sep or not key:
            raise InvalidInput(f"{flag} {pair!r} is not KEY=VALUE")
        if key in dedicated:
            raise InvalidInput(f"{flag} {pair}: set {key} with {dedicated[key]}, not {flag}")
        if key in options:
            raise InvalidInput(f"{flag} {key} is given twice; keep one value")
        try:
            options[key] = json.loads(raw)
        except ValueError:  # not JSON (or nested too deeply to be): the text itself
            options[key] = raw
        except RecursionError:
            raise InvalidInput(f"{flag} {key}: value nested too deeply") from None
    return options


def llm_options(*, api_base: str | None = None, api_key: str | None = None,
                no_cache: bool = False, cache_dir: str | None = None,
                cache: str | None = None) -> dict[str, Any]:
    """The connection and cache options of an LLM reranker that were given (Nones left out).

    >>> llm_options(api_base="http://127.0.0.1:8000/v1", no_cache=True)
    {'api_base': 'http://127.0.0.1:8000/v1', 'cache': False}
    """
    if sum(map(bool, (no_cache, cache_dir, cache))) > 1:
        raise InvalidInput("--no-cache, --cache-dir and --cache contradict each other; give one")
    options: dict[str, Any] = {}
    if api_base:
        options["api_base"] = api_base
    if api_key:
        options["api_key"] = api_key
    if no_cache:
        options["cache"] = False
    elif cache_dir or cache:
        options["cache"] = cache_dir or cache
    return options


def is_llm_strategy(strategy: str) -> bool:
    """Whether ``strategy`` calls an LLM (an unknown name raises ``InvalidInput``)."""
    from ..llm_reranker import LLMReranker
    from ..registry import reranker_class

    return issubclass(reranker_class(strategy), LLMReranker)


def reranker_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword options for ``get_reranker`` from the parsed command line."""
    options = parse_options(args.option)
    if is_llm_strategy(args.strategy):
        options.update(llm_options(api_base=args.api_base, api_key=args.api_key,
                                   no_cache=args.no_cache, cache_dir=args.cache_dir,
                                   cache=args.cache))
        options.update({name: getattr(args, name) for name in LLM_FLAGS
                        if getattr(args, name, None) is not None})
    else:
        refuse_llm_flags(args, ("api_base", "api_key", "no_cache", "cache_dir", "cache",
                                *LLM_FLAGS))
    return {"model": args.model, **options}


def refuse_llm_flags(args: argparse.Namespace, names: tuple[str, ...]) -> None:
    """Raise ``InvalidInput`` for the first of the LLM options ``names`` that was given to a
    strategy that calls no LLM (``args.strategy``)."""
    for name in names:
        if getattr(args, name, None):
            raise InvalidInput(f"--{name.replace('_', '-')} does not apply to strategy "
                               f"{args.strategy!r}, which calls no LLM")
