"""Doctests of modules whose optional extra is not installed are not collected."""

from __future__ import annotations

import importlib.util

_NEEDS = {
    "llm_rerank/integrations/langchain.py": "langchain_core",
    "llm_rerank/integrations/llamaindex.py": "llama_index",
    "llm_rerank/server": "starlette",
}

collect_ignore = [path for path, module in _NEEDS.items()
                  if importlib.util.find_spec(module) is None]
