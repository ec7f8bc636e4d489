"""The package's structure, read from its source with ``ast``: no import cycle, one module
that knows LiteLLM, a transport layer that imports only leaves, strategies that never import a
sibling, production code that never reaches into the testing tools, short modules, one word
tokenizer; then transports by name and the request tag that reaches the server without
entering the cache key.

The import graph counts every ``import`` statement, at module level or inside a function (a
lazy import is still an edge), relative ones resolved; imports under ``if TYPE_CHECKING:`` do
not count (they never run) unless asked for. Importing ``a.b.c`` is an edge to ``a.b.c`` only,
not to its parent packages.
"""

from __future__ import annotations

import ast
import asyncio
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from test_direct_transport import ANSWER, MESSAGES, Reply, scripted

import llm_rerank
from llm_rerank import ListwiseReranker, Usage, plugins, transports
from llm_rerank.errors import InvalidInput
from llm_rerank.llm import LLMClient
from llm_rerank.transports.base import TAG_HEADER, Completion, Messages, tag_header

PACKAGE = Path(llm_rerank.__file__).resolve().parent
MAX_LINES = 450
LITELLM_IMPORT = re.compile(
    r"^\s*(import litellm\b|from litellm\b)|sys\.modules\.get\(\s*['\"]litellm['\"]"
    r"|import_module\(\s*['\"]litellm['\"]", re.MULTILINE)
# Modules under strategies/ that hold algorithms or helpers, not a strategy: the only ones a
# strategy may import.
STRATEGY_HELPERS = {"common", "consistency", "heap", "topdown"}
# The one production module allowed to reach into llm_rerank.testing: the CLI command that
# starts the simulated judge (a testing tool by purpose).
TESTING_TOOLS = {"llm_rerank.cli.judge_server"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.Module, type_checking: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement of ``tree``, at any depth; those under ``if TYPE_CHECKING:``
    only when ``type_checking``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test) and not type_checking:
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


def _imported(module: str, path: Path, type_checking: bool) -> set[str]:
    """The package's modules that ``module`` imports."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def add(name: str) -> None:
        while name and name not in MODULES:  # "pkg.mod.Class" -> "pkg.mod"
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)

    tree = ast.parse(path.read_text(encoding="utf-8"))
    for assign in tree.body:  # a package's _LAZY table (name -> module its __getattr__
        if isinstance(assign, ast.Assign) and any(  # imports) counts as imports
                isinstance(t, ast.Name) and t.id == "_LAZY" for t in assign.targets):
            for value in getattr(assign.value, "values", []):
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    relative = value.value.startswith(".")
                    add(f"{package}{value.value}" if relative else value.value)
    for node in _import_nodes(tree, type_checking):
        if isinstance(node, ast.Import):
            sources = [alias.name for alias in node.names]
        else:
            source = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                source = ".".join([*anchor, node.module] if node.module else anchor)
            sources = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES
                       else source for alias in node.names]
        for name in sources:
            if name.split(".")[0] == PACKAGE.name:
                add(name)
    return found


def import_graph(type_checking: bool = False) -> dict[str, set[str]]:
    """``module -> the llm_rerank modules it imports``."""
    return {module: _imported(module, path, type_checking) for module, path in MODULES.items()}


GRAPH = import_graph()


def components(graph: Mapping[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: set[str] = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def cycle_in(graph: Mapping[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the component's first module."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:  # breadth first, inside the component, until an edge leads back
        node = frontier.pop(0)
        for nxt in sorted(graph[node] & component):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                frontier.append(nxt)
    raise AssertionError(f"no cycle in {component}")  # pragma: no cover


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One cycle through each component."""
    return [cycle_in(graph, component) for component in components(graph)]


def test_the_graph_sees_lazy_imports_resolves_relative_ones_and_skips_type_checking() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert "llm_rerank.strategies.listwise" in GRAPH["llm_rerank"]
    assert "llm_rerank.integrations.langchain" in GRAPH["llm_rerank.reranker"]  # lazy
    assert "llm_rerank.transports.litellm" in GRAPH["llm_rerank.transports.direct"]  # lazy
    assert "llm_rerank.transports.base" in GRAPH["llm_rerank.transports.direct"]  # relative
    assert "llm_rerank.eval.io" in GRAPH["llm_rerank.data"]  # from a package's __init__
    assert "llm_rerank.cli.options" in GRAPH["llm_rerank.cli.serve"]
    assert "llm_rerank.reranker" not in GRAPH["llm_rerank.batch"]  # TYPE_CHECKING only
    assert "llm_rerank.reranker" in import_graph(type_checking=True)["llm_rerank.batch"]


def test_no_import_cycle_in_the_package() -> None:
    found = cycles(GRAPH)
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_transport_layer_has_no_cycle_and_its_base_imports_only_leaves() -> None:
    layer = {"llm_rerank.llm", "llm_rerank.failures", "llm_rerank.providers",
             "llm_rerank.local", "llm_rerank.testing.fake",
             *(m for m in GRAPH if m.startswith("llm_rerank.transports"))}
    assert cycles({m: GRAPH[m] & layer for m in layer}) == []
    base = GRAPH["llm_rerank.transports.base"]
    assert base == {"llm_rerank.errors", "llm_rerank.tags"}
    assert {m: GRAPH[m] for m in base if GRAPH[m]} == {}  # leaves: they import nothing of ours
    assert "llm_rerank.llm" not in GRAPH["llm_rerank.providers"]


def test_exactly_one_module_imports_litellm() -> None:
    importers = [name for name, path in MODULES.items()
                 if LITELLM_IMPORT.search(path.read_text(encoding="utf-8"))]
    assert importers == ["llm_rerank.transports.litellm"]


def test_strategies_never_import_a_sibling_strategy() -> None:
    prefix = f"{PACKAGE.name}.strategies."
    wrong = {module: sorted(target for target in GRAPH[module]
                            if target.startswith(prefix)
                            and target.removeprefix(prefix) not in STRATEGY_HELPERS)
             for module in MODULES if module.startswith(prefix)}
    assert {module: targets for module, targets in wrong.items() if targets} == {}


def test_no_production_module_imports_the_testing_package() -> None:
    graph = import_graph(type_checking=True)  # not even for type hints
    offenders = {module: sorted(t for t in graph[module] if t.startswith("llm_rerank.testing"))
                 for module in MODULES
                 if not module.startswith("llm_rerank.testing") and module not in TESTING_TOOLS}
    assert {module: targets for module, targets in offenders.items() if targets} == {}


def test_no_module_over_the_limit() -> None:
    long = {str(path.relative_to(PACKAGE.parent)): lines for path in MODULES.values()
            if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"modules over {MAX_LINES} lines"


def test_one_module_freezes_the_heap() -> None:
    """``gc.freeze`` is process-wide: only LiteLLM's import does it (documented there)."""
    callers = [name for name, path in MODULES.items()
               if re.search(r"\bgc\.(un)?freeze\(", path.read_text(encoding="utf-8"))]
    assert callers == ["llm_rerank.transports.litellm"]


def _module_level_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_server_and_judge_count_tokens_with_one_tokenizer() -> None:
    pytest.importorskip("starlette", reason="the server needs the 'server' extra")
    from llm_rerank import tokens
    from llm_rerank.server import app
    from llm_rerank.testing import judge, server

    assert app.count_word_tokens is server.count_word_tokens is tokens.count_word_tokens
    assert judge.word_tokens is tokens.word_tokens
    # The word tokenizer lives in tokens.py only; ``count_tokens`` (the model's tokenizer)
    # only in the transports, whose Transport protocol method it is.
    defined = {module: functions for module, path in MODULES.items()
               if (functions := {name for name in _module_level_functions(path)
                                 if name == "count_tokens" or name.endswith("word_tokens")})}
    assert {module for module, functions in defined.items() if "count_tokens" in functions
            and not module.startswith("llm_rerank.transports")} == set()
    assert {module for module, functions in defined.items()
            if functions - {"count_tokens"}} == {"llm_rerank.tokens"}


# --- transports by name ---------------------------------------------------------------------

class EchoTransport:
    """A third transport in one class: always ranks the second passage first."""

    sent: ClassVar[list[tuple[Messages, dict[str, Any], Mapping[str, str] | None]]] = []

    def __init__(self, model: str, api_base: str | None, api_key: str | None,
                 completion_kwargs: Mapping[str, Any]) -> None:
        self.model = model

    async def complete(self, messages: Messages, params: Mapping[str, Any], *,
                       tag: Mapping[str, str] | None = None) -> Completion:
        self.sent.append((messages, dict(params), tag))
        return Completion("[2] > [1]", prompt_tokens=3, completion_tokens=2)

    def window_key(self) -> str:
        return f"context-window:{self.model}:echo"

    def context_window(self) -> int | None:
        return None

    def count_tokens(self, messages: Messages) -> int:
        return sum(len(m["content"].split()) for m in messages)

    def estimate_cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return 0.0

    def is_transient(self, exc: BaseException) -> bool:
        return False


def test_a_third_transport_is_one_class_and_one_registration(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transports.TRANSPORTS, "targets", dict(transports.TRANSPORTS.targets))
    transports.register_transport("echo", EchoTransport)
    assert "echo" in transports.transport_names()
    results = ListwiseReranker("echo/any-model", transport="echo", cache=False).rank(
        "q", ["a", "b"])
    assert [r.index for r in results] == [1, 0] and results.usage.llm_calls == 1
    assert EchoTransport.sent and EchoTransport.sent[-1][1]["temperature"] == 0.0


def test_an_unknown_transport_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match=r"unknown transport 'pigeon'; known: .*direct"):
        LLMClient("openai/x", transport="pigeon", cache=False)
    with pytest.raises(InvalidInput, match=r"transport.*pigeon.*litellm"):
        ListwiseReranker("openai/x", transport="pigeon", cache=False)


def test_transports_load_from_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import EntryPoint

    point = EntryPoint(name="plugged", value="test_structure:EchoTransport",
                       group=transports.ENTRY_POINT_GROUP)
    monkeypatch.setattr(transports.TRANSPORTS, "targets", dict(transports.TRANSPORTS.targets))
    monkeypatch.setattr(plugins, "entry_points", lambda group: [point])
    assert "plugged" in transports.transport_names()
    assert LLMClient("m/x", transport="plugged", cache=False).transport == "plugged"


# --- the request tag ------------------------------------------------------------------------

def test_the_tag_header_is_a_fixed_contract() -> None:
    assert tag_header({"strategy": "setwise", "kind": "setwise"}) == {
        "X-LLM-Rerank-Tag": "strategy=setwise; kind=setwise"}
    assert tag_header({"b": "1", "a": "x/y.z-w_v"}) == {TAG_HEADER: "b=1; a=x/y.z-w_v"}
    for bad in ({"k": "a;b"}, {"k=": "v"}, {"k": ""}, {"k": "é"}):
        with pytest.raises(ValueError):
            tag_header(bad)


@pytest.mark.parametrize("transport", ["litellm", "direct"])
def test_the_tag_reaches_the_server_and_not_the_cache_key(transport: str,
                                                          tmp_path: Path) -> None:
    def reply(body: dict[str, Any], headers: dict[str, str]) -> Reply:
        return 200, {}, json.dumps(ANSWER).encode()

    tag = {"strategy": "setwise", "kind": "setwise"}
    with scripted(reply) as (url, seen):
        client = LLMClient("openai/served", api_base=url, api_key="sk-test", cache=tmp_path,
                           transport=transport)

        async def ask() -> list[Completion]:
            return [await client.complete(MESSAGES, Usage(), tag=tag),
                    await client.complete(MESSAGES, Usage())]

        tagged, untagged = asyncio.run(ask())
        bare = LLMClient("openai/served", api_base=url, api_key="sk-test", cache=False,
                         transport=transport)
        asyncio.run(bare.complete(MESSAGES, Usage()))
    assert seen[0][1][TAG_HEADER.lower()] == "strategy=setwise; kind=setwise"
    assert TAG_HEADER.lower() not in seen[1][1]  # an untagged call sends no tag
    assert len(seen) == 2 and not tagged.cached and untagged.cached  # one key for both
