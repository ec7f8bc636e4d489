"""Join the fragments in ``benchmarks/results/`` into ``BENCHMARKS.md``.

Usage: ``python benchmarks/report.py`` (after running the benchmark scripts).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["overhead", "cli", "quality", "cost", "embedded", "speed", "pairwise_bias",
         "cross_encoder", "call_path", "hostile", "cli_hostile", "serve", "adapters", "topdown",
         "throughput", "multipart"]

INTRO = """# Benchmarks

Every figure below names the command that produced it. The LLM figures come from the
project's simulated judge (`llm_rerank.testing`, an OpenAI-compatible server on 127.0.0.1
answering from the TREC qrels), reached through the real LiteLLM HTTP path, except two
sections that run real small models on the CPU: "Embedded models on TREC DL19" (SmolLM2
135M and Gemma 3 270M in-process) and "Pointwise through a real server" (llama-cpp-python's
OpenAI-compatible server). Timings are
ratios measured side by side in one run; the machine is shared and noisy.
The pass/fail figures (hostile answers, the CLI under hostile input, the call path) come
from slow tests that assert them and write their sections
(`python -m pytest -m slow --write-results`).
Data: TREC DL19 (BM25 top-100 with passage text, graded qrels) from `--data` or
`$LLM_RERANK_DATA`.
"""


def main() -> None:
    fragments = sorted((ROOT / "benchmarks" / "results").glob("*.md"),
                       key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else 99, p.stem))
    text = INTRO + "".join("\n" + p.read_text(encoding="utf-8") for p in fragments)
    (ROOT / "BENCHMARKS.md").write_text(text, encoding="utf-8")
    print(f"wrote BENCHMARKS.md from {len(fragments)} fragments")


if __name__ == "__main__":
    main()
