"""Layering of the package: production code never imports the testing tools."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import llm_rerank

PACKAGE = Path(llm_rerank.__file__).resolve().parent
# The one production module allowed to reach into llm_rerank.testing: the CLI command that
# starts the simulated judge (a testing tool by purpose).
TESTING_TOOLS = {"llm_rerank.cli.judge_server"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (lazy and ``TYPE_CHECKING`` imports
    included), as absolute dotted names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = node.module or ""
            if node.level:
                target = f"{base}.{target}" if target else base
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def test_imported_modules_resolves_relative_imports(tmp_path: Path) -> None:
    source = PACKAGE / "data" / "__init__.py"
    assert "llm_rerank.eval.io" in imported_modules(source)
    assert "llm_rerank.cli.options" in imported_modules(PACKAGE / "cli" / "serve.py")


def test_no_production_module_imports_the_testing_package() -> None:
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        if name.startswith("llm_rerank.testing") or name in TESTING_TOOLS:
            continue
        reached = sorted(m for m in imported_modules(path)
                         if m == "llm_rerank.testing" or m.startswith("llm_rerank.testing."))
        if reached:
            offenders[name] = reached
    assert offenders == {}


def test_server_and_judge_count_tokens_with_one_tokenizer() -> None:
    pytest.importorskip("starlette", reason="the server needs the 'server' extra")
    from llm_rerank import tokens
    from llm_rerank.server import app
    from llm_rerank.testing import judge, server

    assert app.count_word_tokens is server.count_word_tokens is tokens.count_word_tokens
    assert judge.word_tokens is tokens.word_tokens
    definitions = [path.name for path in PACKAGE.rglob("*.py")
                   if "def count_tokens" in path.read_text(encoding="utf-8")]
    assert definitions == ["llm.py"]  # the model's tokenizer, through LiteLLM
