from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_models import tiny_cross_encoder

from llm_rerank.cli import main
from llm_rerank.cli.compare import split_spec
from llm_rerank.testing import fake_llm

QRELS = "q1 0 a 3\nq1 0 b 0\nq1 0 c 1\nq2 0 e 2\nq2 0 f 0\n"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {name: tmp_path / name for name in ("a.trec", "b.trec", "qrels.txt", "in.jsonl")}
    paths["a.trec"].write_text(
        "q1 Q0 b 1 3 bm25\nq1 Q0 c 2 2 bm25\nq1 Q0 a 3 1 bm25\n"
        "q2 Q0 e 1 2 bm25\nq2 Q0 f 2 1 bm25\n", encoding="utf-8")
    paths["b.trec"].write_text(
        "q1 Q0 a 1 3 llm\nq1 Q0 c 2 2 llm\nq1 Q0 b 3 1 llm\n"
        "q2 Q0 e 1 2 llm\nq2 Q0 f 2 1 llm\n", encoding="utf-8")
    paths["qrels.txt"].write_text(QRELS, encoding="utf-8")
    rows = [
        {"query_id": "q1", "query": "flea life cycle",
         "candidates": [{"id": "b", "text": "the cat"}, {"id": "c", "text": "a flea <b>"},
                        {"id": "a", "text": "the flea life cycle is a year"}]},
        {"query_id": "q2", "query": "capital of france",
         "candidates": [{"id": "e", "text": "paris is the capital"}, {"id": "f", "text": "rain"}]},
    ]
    paths["in.jsonl"].write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return paths


def test_two_runs_text_summary_and_html(files: dict[str, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    html = tmp_path / "report.html"
    status = main(["compare", str(files["a.trec"]), str(files["b.trec"]), "--qrels",
                   str(files["qrels.txt"]), "--html", str(html), "-i", str(files["in.jsonl"])])
    out = capsys.readouterr().out
    assert status == 0
    assert out.startswith("A = a, B = b\n2 queries: Kendall tau 0.000")  # q1 -1, q2 1
    assert "ndcg@10: A " in out and "B better on 1, tied 1, worse on 0 of 2" in out
    page = html.read_text(encoding="utf-8")
    assert "<svg" in page and "flea life cycle" in page and "a flea &lt;b&gt;" in page


def test_json_output_parses(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["compare", str(files["a.trec"]), str(files["b.trec"]), "--qrels",
                   str(files["qrels.txt"]), "--json", "--k", "2", "--metrics", "ndcg@3", "map"])
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert report["k"] == 2 and report["metrics"] == ["ndcg@3", "map"]
    assert report["num_queries"] == 2 and report["mean_kendall_tau"] == pytest.approx(0.0)
    q1 = report["per_query"][0]
    assert q1["query_id"] == "q1" and q1["kendall_tau"] == pytest.approx(-1.0)
    assert q1["metrics_b"]["ndcg@3"] == pytest.approx(1.0) and q1["delta"]["ndcg@3"] > 0
    assert report["usage_a"] is None


def test_bad_arguments_exit_2(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(files["a.trec"])]) == 2
    assert "give two sides" in capsys.readouterr().err
    assert main(["compare", str(files["a.trec"]), "--b", "listwise:fake/x"]) == 2
    assert "needs -i/--input" in capsys.readouterr().err
    assert main(["compare", "--a", "nosuch:m", "--b", "listwise:x/y", "-i",
                 str(files["in.jsonl"])]) == 2
    assert "unknown strategy 'nosuch'" in capsys.readouterr().err


def test_split_spec() -> None:
    assert split_spec("listwise:openai/gpt-4o-mini") == ("listwise", "openai/gpt-4o-mini")
    assert split_spec("cross-encoder:C:/models/m") == ("cross-encoder", "C:/models/m")
    assert split_spec("cross-encoder") == ("cross-encoder", None)


def test_reranker_form_cross_encoder_vs_listwise(
    files: dict[str, Path], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model_dir = tiny_cross_encoder(tmp_path_factory)
    saved = tmp_path / "listwise.trec"
    with fake_llm(lambda messages: "[3] > [1] > [2]") as fake:
        status = main([
            "compare", "--a", f"cross-encoder:{model_dir}", "--a-option", "batch_size=2",
            "--b", f"listwise:{fake.model}", "--b-option", "window_size=5", "--b-option",
            "step=2", "--b-save", str(saved), "-i", str(files["in.jsonl"]),
            "--qrels", str(files["qrels.txt"]), "--no-cache", "--json",
            "--html", str(tmp_path / "r.html"),
        ])
        calls = fake.calls
    assert status == 0 and calls == 2
    report = json.loads(capsys.readouterr().out)
    assert report["label_a"] == f"cross-encoder:{model_dir}"
    assert report["usage_a"]["llm_calls"] == 0 and report["usage_a"]["latency_s"] > 0
    assert report["usage_b"]["llm_calls"] == 2 and report["wall_time_b"] > 0
    # q1's candidates are b, c, a; the fake LLM answers [3] > [1] > [2]
    assert [line.split()[2] for line in saved.read_text(encoding="utf-8").splitlines()][:3] == [
        "a", "b", "c"]
    assert {len(q["top_a"]) for q in report["per_query"]} == {2, 3}


def test_help_does_not_import_heavy_modules() -> None:
    code = ("import sys\nfrom llm_rerank.cli import main\ntry:\n    main(['compare', '--help'])\n"
            "except SystemExit:\n    pass\n"
            "print(sorted(m for m in ('litellm', 'torch', 'sentence_transformers') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert "STRATEGY:MODEL" in result.stdout
    assert result.stdout.strip().endswith("[]")
