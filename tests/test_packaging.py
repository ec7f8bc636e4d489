from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(not (ROOT / "pyproject.toml").is_file(), reason="needs the source tree")
def test_wheel_ships_the_prompt_templates(tmp_path: Path) -> None:
    pytest.importorskip("build", reason="the 'build' package (dev extra) builds the wheel")
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".venv-*", "venv", "*.egg-info", "__pycache__", ".*_cache", "dist",
        "runs"))
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                    str(tmp_path / "dist"), str(source)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in ("listwise/rankgpt.j2", "pointwise/labels.j2", "pairwise/prp.j2",
                     "setwise/heapsort.j2", "criteria/judge.j2", "criteria/decompose.j2"):
        assert f"llm_rerank/prompts/{template}" in names
    for data in ("queries.jsonl", "qrels", "aspects.qrels"):
        assert f"llm_rerank/data/multipart/{data}" in names
