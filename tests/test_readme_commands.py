"""The README's commands run as written from a clone.

Every ```bash and ```python block of README.md is extracted. Shell commands run in one bash
script, in README order, in a scratch directory that sees the clone's ``llm_rerank/`` and
``examples/`` (so the bundled data paths hold), with the simulated judge the README starts
in the background; its fixed ports are swapped for free ones. The commands listed in
``NOT_RUN`` are only syntax-checked (``bash -n``), each for the reason given: the two set-up
commands, installs, a remote model or hosted key, data not shipped, or minutes of CPU on the
embedded model (tests elsewhere run those). Python blocks are compiled; those in
``RUN_PYTHON`` also run, after the shell commands (one reads the run they write). A block in
neither list fails the test, so a new README block has to be classified here.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FENCE = re.compile(r"^( *)```(bash|python)\n(.*?)^\1```", re.DOTALL | re.MULTILINE)
PORTS = ("8000", "8001", "8002", "8003", "8080")  # the README's fixed ports

SETUP = "the two set-up commands: a fresh venv and a 10-20 minute install (.ci/run runs the second)"
BENCHMARKS = "benchmarks: need the TREC DL data (not shipped) and run for hours"
# Shell commands that are syntax-checked only, by prefix, with the reason.
NOT_RUN = {
    "python3 -m venv .venv-demo ": SETUP,
    "python3 -m venv .venv ": SETUP,
    "pip install -e ": "installs packages from the index; this environment has them",
    "export LLM_RERANK_DATA=": BENCHMARKS,
    "for b in overhead ": BENCHMARKS,
    "python benchmarks/report.py": "rewrites BENCHMARKS.md from the benchmarks' results",
    "llm-rerank demo": "the embedded model: minutes of CPU (tests/test_demo.py runs it)",
    "python examples/multipart_agent.py": "tests/test_multipart.py runs the example",
    "llm-rerank serve --config rerankers.json": "needs OPENAI_API_KEY and a Hugging Face download",
    "llm-rerank compare --a listwise:openai/gpt-4o-mini": "needs OPENAI_API_KEY and a Hugging "
                                                         "Face download",
}
# Whole blocks that are syntax-checked only, by their first command, with the reason.
NOT_RUN_BLOCKS = {
    "redis-server --port 6379": "the scale-out recipe: a Redis server on the default port, two "
                                "replicas and a Ray cluster (tests/test_redis_*.py, "
                                "tests/test_ray.py and benchmarks/bench_scale.py run these paths)",
    "python -m llama_cpp.server ": "a llama.cpp server in the foreground for a real model "
                                   "(tests/test_real_server.py starts the same server)",
    "vllm serve ": "vLLM and Ollama: other projects' servers, not installed here",
    "export LLM_RERANK_DATA=": BENCHMARKS,
}
REMOTE = "a hosted model (API key) and placeholder inputs (candidates, docs, query)"
# Python blocks by their first line: those that run, and those only compiled, with why.
RUN_PYTHON = {"from llm_rerank.eval import evaluate, read_qrels, read_run   # run.trec: from the "
              "commands above"}
COMPILE_ONLY = {
    "from llm_rerank import ListwiseReranker": REMOTE,
    "from llm_rerank import Document, get_reranker": REMOTE,
    "from llm_rerank import BudgetExceeded, PointwiseReranker": REMOTE,
    'rr = ListwiseReranker("openai/gpt-4o-mini", instructions="Prefer passages with numbers.")':
        REMOTE,
    "from llm_rerank import PointwiseReranker": REMOTE,
    'PointwiseReranker("openai/Qwen/Qwen2.5-1.5B-Instruct", api_base="http://127.0.0.1:8000/v1",':
        REMOTE,
    "from llm_rerank import PairwiseReranker": REMOTE,
    "from llm_rerank import SetwiseReranker": REMOTE,
    "from llm_rerank import CrossEncoderReranker": "a Hugging Face download",
    "from llm_rerank import ListwiseReranker, SetwiseReranker": REMOTE,
    "from llm_rerank import get_reranker": REMOTE,
    'ListwiseReranker("openai/gpt-4o-mini")                                       '
    "# OPENAI_API_KEY": "hosted models and local servers",
    'rr = PointwiseReranker("openai/Qwen/Qwen2.5-7B-Instruct", '
    'api_base="http://127.0.0.1:8000/v1",': "a vLLM server",
    "results = rr.rank_batch([(q, docs) for q, docs in queries], workers=2)": REMOTE,
    'ListwiseReranker("openai/gpt-4o-mini", template="my_prompts/listwise.j2")':
        "a hosted model and your own template",
    "from llm_rerank.testing import JudgeServer, fake_llm": "placeholder inputs (requests, "
                                                            "qrels, query, docs)",
    "import cohere": "a running llm-rerank serve and placeholder texts",
    "from langchain_classic.retrievers import ContextualCompressionRetriever":
        REMOTE + " and a vector store",
    "from llama_index.core.postprocessor import SimilarityPostprocessor":
        REMOTE + " and an index",
}


@dataclass
class Block:
    language: str
    line: int
    text: str

    @property
    def first_line(self) -> str:
        return self.text.splitlines()[0].strip()


def readme_blocks(language: str) -> list[Block]:
    text = README.read_text(encoding="utf-8")
    return [Block(m.group(2), text[:m.start()].count("\n") + 1, textwrap.dedent(m.group(3)))
            for m in FENCE.finditer(text) if m.group(2) == language]


def shell_commands(block: Block) -> list[str]:
    """The block's commands: continuation lines joined, comment-only lines dropped."""
    joined = block.text.replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def not_run_reason(command: str) -> str | None:
    return next((why for prefix, why in NOT_RUN.items() if command.startswith(prefix)), None)


def free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def test_every_python_block_is_classified_and_compiles() -> None:
    import ast

    blocks = readme_blocks("python")
    assert len(blocks) >= 15
    unknown = [f"README.md:{b.line}: {b.first_line}" for b in blocks
               if b.first_line not in RUN_PYTHON and b.first_line not in COMPILE_ONLY]
    assert not unknown, "classify these blocks in RUN_PYTHON or COMPILE_ONLY:\n" + "\n".join(
        unknown)
    for block in blocks:
        compile(block.text, f"README.md:{block.line}", "exec",
                flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def test_every_shell_block_parses() -> None:
    for block in readme_blocks("bash"):
        done = subprocess.run(["bash", "-n"], input=block.text, text=True, capture_output=True)
        assert done.returncode == 0, f"README.md:{block.line}: {done.stderr}"


def test_the_readme_test_command_is_what_ci_runs() -> None:
    test_command = next(c for b in readme_blocks("bash") for c in shell_commands(b)
                        if c.startswith("python3 -m venv .venv ") and "pytest" in c)
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()
    demo_command = next(c for b in readme_blocks("bash") for c in shell_commands(b)
                        if c.startswith("python3 -m venv ") and c.endswith("llm-rerank demo"))
    assert ". .venv/bin/activate" not in demo_command  # its own venv, not the tests'


@pytest.mark.skipif(sys.platform == "win32", reason="bash")
def test_offline_readme_commands_run(tmp_path: Path) -> None:
    for folder in ("llm_rerank", "examples"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    script = ["set -eo pipefail", "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"]
    ran: list[str] = []
    for block in readme_blocks("bash"):
        commands = shell_commands(block)
        if commands and any(commands[0].startswith(p) for p in NOT_RUN_BLOCKS):
            continue
        for command in commands:
            if not_run_reason(command) is None:
                script.append(command)
                if command.startswith("kill "):
                    script.append("wait")  # the next block's %1 is its own job
                ran.append(command)
    text = "\n".join(script) + "\n"
    for port in PORTS:
        text = re.sub(rf"\b{port}\b", free_port(), text)
    assert any(c.startswith("llm-rerank judge-server") for c in ran)
    assert any(c.startswith("curl ") for c in ran)
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path),
           "PYTHONPATH": str(ROOT), "LLM_RERANK_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(["bash", "-c", text], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    assert '"index"' in done.stdout  # the curl request to llm-rerank serve
    for output in ("run.trec", "pairwise.jsonl", "report.html", "criteria.jsonl",
                   "multipart.trec", "noisy.jsonl"):
        assert (tmp_path / output).stat().st_size > 0, output
    for block in readme_blocks("python"):
        if block.first_line in RUN_PYTHON:
            subprocess.run([sys.executable, "-c", block.text], cwd=tmp_path, env=env,
                           check=True, capture_output=True, timeout=120)
