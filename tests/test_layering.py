"""The package's layering: no import cycle, short modules, strategies that never import a
sibling strategy.

The import graph is read from the source with ``ast``: every ``import`` statement counts,
at module level or inside a function (a lazy import is still an edge), relative ones
resolved; imports under ``if TYPE_CHECKING:`` do not count (they never run). Importing
``a.b.c`` is an edge to ``a.b.c`` only, not to its parent packages. A package's ``_LAZY``
table (public name -> relative module, imported by its ``__getattr__``) counts as imports.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = "llm_rerank"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE
MAX_LINES = 450
# Rewritten by the transport-layer change (issue 16, part 1): llm.py <-> direct.py and
# llm.py <-> providers.py import each other today.
TRANSPORT = {"llm_rerank.llm", "llm_rerank.direct", "llm_rerank.providers", "llm_rerank.local"}
# Over MAX_LINES today, each split by another part of issue 16.
LONG_ELSEWHERE = {"llm_rerank/llm.py", "llm_rerank/testing/judge.py"}
# Modules under strategies/ that hold algorithms or helpers, not a strategy: the only ones a
# strategy may import.
STRATEGY_HELPERS = {"common", "consistency", "heap", "topdown"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def runtime_nodes(nodes: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every node of ``nodes``, except what sits under ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = list(nodes)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imported(module: str, path: Path) -> set[str]:
    """The package's modules that ``module`` imports at run time."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def add(name: str) -> None:
        while name and name not in MODULES:  # "pkg.mod.Class" -> "pkg.mod"
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)

    for node in runtime_nodes(ast.parse(path.read_text()).body):
        if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "_LAZY" for target in node.targets):
            for value in getattr(node.value, "values", []):
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    add(package + value.value if value.value.startswith(".") else value.value)
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            if source.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                if f"{source}.{alias.name}" in MODULES:
                    add(f"{source}.{alias.name}")
                else:
                    add(source)
    return found


GRAPH = {module: imported(module, path) for module, path in MODULES.items()}


def components(graph: dict[str, set[str]]) -> list[set[str]]:
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


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each component: a shortest path back to its first module."""
    return [cycle_in(graph, component) for component in components(graph)]


def cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
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


def show(graph: dict[str, set[str]]) -> str:
    """Each component's modules, and one cycle through them."""
    return "\n".join(f"{' -> '.join(cycle_in(graph, component))} "
                     f"(in a cycle together: {', '.join(sorted(component))})"
                     for component in components(graph))


def test_the_graph_sees_lazy_imports_and_skips_type_checking_ones() -> None:
    assert "llm_rerank.strategies.listwise" in GRAPH["llm_rerank"]
    assert "llm_rerank.integrations.langchain" in GRAPH["llm_rerank.reranker"]  # lazy
    assert "llm_rerank.reranker" not in GRAPH["llm_rerank.batch"]  # TYPE_CHECKING only
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]


def test_no_import_cycles_outside_the_transport_modules() -> None:
    outside = {module: imports - TRANSPORT for module, imports in GRAPH.items()
               if module not in TRANSPORT}
    assert not cycles(outside), "import cycles:\n" + show(outside)


@pytest.mark.xfail(strict=False, reason="llm.py <-> direct.py and llm.py <-> providers.py: "
                   "removed by the transport layer (issue 16, part 1)")
def test_no_import_cycles() -> None:
    assert not cycles(GRAPH), "import cycles:\n" + show(GRAPH)


def line_counts() -> dict[str, int]:
    return {str(path.relative_to(ROOT.parent)): len(path.read_text().splitlines())
            for path in MODULES.values()}


def test_no_module_over_the_limit_but_those_split_elsewhere() -> None:
    long = {path: lines for path, lines in line_counts().items()
            if lines > MAX_LINES and path not in LONG_ELSEWHERE}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


@pytest.mark.xfail(strict=False, reason=f"{', '.join(sorted(LONG_ELSEWHERE))}: split by "
                   "other parts of issue 16")
def test_no_module_over_the_limit() -> None:
    long = {path: lines for path, lines in line_counts().items() if lines > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_strategies_never_import_a_sibling_strategy() -> None:
    prefix = f"{PACKAGE}.strategies."
    strategies = [module for module in MODULES if module.startswith(prefix)]
    wrong = {module: sorted(target for target in GRAPH[module]
                            if target.startswith(prefix)
                            and target.removeprefix(prefix) not in STRATEGY_HELPERS)
             for module in strategies}
    wrong = {module: targets for module, targets in wrong.items() if targets}
    assert not wrong, f"strategies importing a sibling strategy: {wrong}"
