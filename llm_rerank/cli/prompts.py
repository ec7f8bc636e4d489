"""``llm-rerank prompts list|show NAME|render NAME``: inspect the prompt templates.

NAME is a bundled template (``listwise/rankgpt``), a ``.j2`` path, or a registered strategy
(its default template). ``render`` fills the template with example values that fit its
declared ``kind`` (lettered passages for setwise, criteria for criteria and decompose).
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..prompts import PromptTemplate

NAME_HELP = "bundled name (e.g. listwise/rankgpt), a .j2 path, or a strategy name"

EXAMPLE_DOCS = [
    "Paris is the capital and most populous city of France.",
    "The Eiffel Tower was completed in 1889.",
    "Lyon is a city in France known for its cuisine.",
]
EXAMPLE_CRITERIA = ["What is the capital of France?", "What is the city known for?"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("prompts", help="list, show or render prompt templates",
                                   description=__doc__)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="bundled template names").set_defaults(func=run_list)
    show = actions.add_parser("show", help="a template's source")
    show.add_argument("name", help=NAME_HELP)
    show.set_defaults(func=run_show)
    render = actions.add_parser("render", help="render a template with example or given values")
    render.add_argument("name", help=NAME_HELP)
    render.add_argument("--query", default="What is the capital of France?")
    render.add_argument("--vars", help="JSON object of template variables (overrides examples)")
    render.add_argument("--json", action="store_true", help="print the messages as JSON")
    render.set_defaults(func=run_render)


def run_list(args: argparse.Namespace) -> int:
    from ..prompts import list_templates

    for name in list_templates():
        print(name)
    return 0


def load_template(name: str) -> PromptTemplate:
    """A bundled template, a ``.j2`` path, or a registered strategy's default template.

    >>> load_template("setwise").name, load_template("pairwise/prp").kind
    ('setwise/heapsort', 'pairwise')
    """
    from pathlib import Path

    from ..errors import InvalidInput
    from ..llm_reranker import LLMReranker
    from ..prompts import PromptTemplate
    from ..registry import reranker_class, reranker_names

    if name in reranker_names() and not Path(name).is_file():
        strategy = reranker_class(name)
        if not issubclass(strategy, LLMReranker):
            raise InvalidInput(f"strategy {name!r} calls no LLM: it has no prompt template")
        return PromptTemplate.load(strategy.default_template)
    return PromptTemplate.load(name)


def run_show(args: argparse.Namespace) -> int:
    from pathlib import Path

    source = load_template(args.name).source_path
    print(Path(source).read_text(encoding="utf-8") if source else "", end="")
    return 0


def example_variables(query: str) -> dict[str, Any]:
    """Values that fit every bundled template, for ``render`` without ``--vars``."""
    return {
        "query": query,
        "passages": [{"id": n, "text": t} for n, t in enumerate(EXAMPLE_DOCS, start=1)],
        "passage": EXAMPLE_DOCS[0],
        "passage_a": EXAMPLE_DOCS[0],
        "passage_b": EXAMPLE_DOCS[1],
        "labels": ["unlikely", "likely", "very likely"],
    }


def run_render(args: argparse.Namespace) -> int:
    from ..errors import InvalidInput

    template = load_template(args.name)
    variables = example_variables(args.query)
    if template.kind == "setwise":
        variables["passages"] = [{"id": chr(65 + n), "text": t} for n, t in enumerate(EXAMPLE_DOCS)]
    if template.kind in ("criteria", "decompose"):
        variables.update(criteria=EXAMPLE_CRITERIA, labels=["no", "partly", "yes"],
                         explain=False)
    if args.vars:
        try:
            extra = json.loads(args.vars)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"--vars is not valid JSON: {exc.msg}") from exc
        if not isinstance(extra, dict):
            raise InvalidInput("--vars must be a JSON object")
        variables.update(extra)
    messages = template.render(**variables)
    if args.json:
        print(json.dumps(messages, indent=2, ensure_ascii=False))
    else:
        for message in messages:
            print(f"--- {message['role']} ---\n{message['content']}")
    return 0
