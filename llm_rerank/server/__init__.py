"""``llm-rerank serve``: the rerank HTTP API (extra ``server``).

``create_app(rerankers)`` builds the Starlette app from rerankers by name; ``app_from_setup``
builds it from a ``ServeSetup`` (a ``ServeConfig`` naming rerankers and ``ServerSettings``).
"""

from __future__ import annotations

from .app import app_from_setup, create_app
from .config import RerankerSpec, ServeConfig, ServerSettings, ServeSetup, load_config

__all__ = ["RerankerSpec", "ServeConfig", "ServeSetup", "ServerSettings", "app_from_setup",
           "create_app", "load_config"]
