"""The multi-part sample, the simulated judge's decomposition and per-criterion answers,
the diversity metrics, the CLI flags and JSONL fields, the demo and the agent example."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from llm_rerank import get_reranker
from llm_rerank.cli import main
from llm_rerank.criteria import VERDICT_VALUES
from llm_rerank.data import load_multipart
from llm_rerank.eval import alpha_ndcg, aspect_recall, ndcg
from llm_rerank.eval.io import Aspect, read_aspect_qrels, read_requests
from llm_rerank.parsing_criteria import parse_decomposition, parse_verdicts
from llm_rerank.prompts import PromptTemplate
from llm_rerank.testing import FakeAnswer, Judge, fake_llm

SAMPLE = load_multipart()
SAMPLE_IDS = [request.query_id for request in SAMPLE.requests]
ROOT = Path(__file__).resolve().parent.parent


def judge_messages(query: str, criteria: list[str], passage: str) -> list[dict[str, str]]:
    return PromptTemplate.load("criteria/judge").render(
        query=query, criteria=criteria, passage=passage, labels=list(VERDICT_VALUES),
        explain=False)


# --- the sample --------------------------------------------------------------------------

def test_sample_shape_and_grades() -> None:
    assert len(SAMPLE.requests) >= 20
    for request in SAMPLE.requests:
        parts = SAMPLE.parts[request.query_id]
        assert 2 <= len(parts) <= 4
        ids = [doc.id or "" for doc in request.documents]
        assert len(ids) == len(set(ids)) >= 20
        grades = SAMPLE.aspect_qrels[request.query_id]
        covered = [sum(grades[part_id][doc_id] > 0 for part_id, _ in parts) for doc_id in ids]
        assert 0 in covered and 1 in covered and len(parts) in covered  # distractors, one, all
        assert any(1 < n < len(parts) for n in covered) or len(parts) == 2
        for doc_id in ids:  # the documented overall grade
            part_grades = [grades[part_id][doc_id] for part_id, _ in parts]
            expected = math.ceil(3 * sum(part_grades) / (2 * len(parts)))
            assert SAMPLE.qrels[request.query_id][doc_id] == expected
        texts = [doc.text for doc in request.documents]
        assert all(len(text.split()) >= 5 for text in texts)  # prose, not placeholders


def test_aspect_qrels_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "a.qrels"
    bad.write_text("# comment\nq1 c1 d1 2\nq1 c1 d2\n")
    with pytest.raises(Exception, match=r"a.qrels:3: expected 'qid criterion docid grade'"):
        read_aspect_qrels(bad)


# --- the simulated judge -----------------------------------------------------------------

def test_judge_decomposes_known_queries_and_falls_back() -> None:
    judge = Judge(SAMPLE.requests, SAMPLE.qrels, aspects=SAMPLE.aspects())
    request = SAMPLE.requests[0]
    messages = PromptTemplate.load("criteria/decompose").render(query=request.query)
    answer = judge.answer(messages)
    assert answer.kind == "decompose"
    assert parse_decomposition(answer.text) == [t for _, t in SAMPLE.parts[request.query_id]]
    unknown = PromptTemplate.load("criteria/decompose").render(query="an unknown question")
    assert parse_decomposition(judge.answer(unknown).text) is None  # the query alone


def test_judge_answers_each_criterion_from_its_grades() -> None:
    judge = Judge(SAMPLE.requests, SAMPLE.qrels, aspects=SAMPLE.aspects())
    request = SAMPLE.requests[0]
    parts = SAMPLE.parts[request.query_id]
    grades = SAMPLE.aspect_qrels[request.query_id]
    criteria = [text for _, text in parts] + [request.query, "something unknown"]
    for doc in request.documents:
        answer = judge.answer(judge_messages(request.query, criteria, doc.text), logprobs=True)
        assert answer.kind == "criteria"
        verdicts = parse_verdicts(answer.text, len(criteria), VERDICT_VALUES,
                                  [{p["top_logprobs"][0]["token"]: 0.0} | {
                                      t["token"]: t["logprob"] for t in p["top_logprobs"]}
                                   for p in answer.logprobs or []])
        expected = [list(VERDICT_VALUES)[grades[part_id][doc.id or ""]] for part_id, _ in parts]
        overall = SAMPLE.qrels[request.query_id][doc.id or ""]
        expected += [list(VERDICT_VALUES)[round(overall / 3 * 2)], "no"]
        assert [v.label for v in verdicts] == expected
        assert all(v.probabilities is not None for v in verdicts)


def test_judge_noise_changes_criteria_answers_deterministically() -> None:
    request = SAMPLE.requests[1]
    criteria = [text for _, text in SAMPLE.parts[request.query_id]]
    noisy = Judge(SAMPLE.requests, SAMPLE.qrels, aspects=SAMPLE.aspects(), noise=1.0, seed=3)
    perfect = Judge(SAMPLE.requests, SAMPLE.qrels, aspects=SAMPLE.aspects())
    answers = [(noisy.answer(judge_messages(request.query, criteria, d.text)).text,
                perfect.answer(judge_messages(request.query, criteria, d.text)).text)
               for d in request.documents]
    assert any(a != b for a, b in answers)
    assert answers[0][0] == noisy.answer(
        judge_messages(request.query, criteria, request.documents[0].text)).text


def test_judge_tells_apart_passages_that_prefix_each_other() -> None:
    requests = SAMPLE.requests[:1]
    request = requests[0]
    short = min(request.documents, key=lambda d: len(d.text))
    longer = [d for d in request.documents if d.text.startswith(short.text + " ")]
    assert longer  # the sample has passages that extend others
    judge = Judge(requests, SAMPLE.qrels, aspects={request.query_id: [
        Aspect("part", {short.id or "": 2})]})
    assert judge.answer(judge_messages(request.query, ["part"], short.text)).text == "C1: yes"
    assert judge.answer(judge_messages(request.query, ["part"], longer[0].text)).text == (
        "C1: no")


def test_criteria_with_coverage_end_to_end_on_the_judge_server(judge_server) -> None:  # type: ignore[no-untyped-def]
    server = judge_server(SAMPLE.requests, SAMPLE.qrels, aspects=SAMPLE.aspects())
    requests = SAMPLE.requests[:4]
    rr = get_reranker("criteria", model="openai/judge", api_base=server.url, api_key="x",
                      cache=False, coverage=True)
    batch = rr.rank_batch([(r.query, r.documents) for r in requests])
    for request, results in zip(requests, batch, strict=True):
        ranked = [r.document.id or "" for r in results]
        assert sorted(ranked) == sorted(d.id or "" for d in request.documents)
        assert aspect_recall(ranked, SAMPLE.aspect_qrels[request.query_id], 3) == 1.0
        assert ndcg(ranked, SAMPLE.qrels[request.query_id], 10) > 0.8
        assert results.usage.llm_calls == len(request.documents) + 1  # + the decomposition
    stats = server.stats()
    assert stats.by_kind["decompose"] == 4 and stats.by_kind["criteria"] == sum(
        len(r.documents) for r in requests)


# --- metrics, on hand-computed cases -----------------------------------------------------

ASPECTS = {"a": {"d1": 1, "d2": 2, "d4": 0}, "b": {"d2": 1, "d3": 1}, "c": {"d5": 0}}


def test_aspect_recall_by_hand() -> None:
    # coverable aspects: a (d1, d2) and b (d2, d3); c has no relevant document
    assert aspect_recall(["d1", "d4", "d3"], ASPECTS, k=1) == 0.5
    assert aspect_recall(["d1", "d4", "d3"], ASPECTS, k=3) == 1.0
    assert aspect_recall(["d2"], ASPECTS, k=10) == 1.0
    assert aspect_recall(["d4", "d5", "x"], ASPECTS, k=3) == 0.0
    assert aspect_recall(["d1"], {"a": {"d1": 0}}, k=3) == 0.0
    assert aspect_recall(["d1", "d2"], ASPECTS, k=2, relevance_level=2) == 1.0


def test_alpha_ndcg_by_hand() -> None:
    # ranking d1, d3, d2 (alpha = 0.5):
    #   d1 covers a: gain 1 / log2(2) = 1
    #   d3 covers b: gain 1 / log2(3) = 0.63093
    #   d2 covers a and b, both seen once: gain (0.5 + 0.5) / log2(4) = 0.5
    # ideal (greedy): d2 (gain 2), then d1 (0.5) or d3 (0.5) -> d1 by id, then d3 (0.5):
    #   2 + 0.5 / log2(3) + 0.5 / 2 = 2.56546
    actual = 1 + 1 / math.log2(3) + 0.5
    ideal = 2 + 0.5 / math.log2(3) + 0.25
    assert alpha_ndcg(["d1", "d3", "d2"], ASPECTS, k=3) == pytest.approx(actual / ideal)
    assert alpha_ndcg(["d2", "d1", "d3"], ASPECTS, k=3) == pytest.approx(1.0)
    # k = 1: d1 gains 1, the ideal d2 gains 2
    assert alpha_ndcg(["d1", "d3", "d2"], ASPECTS, k=1) == pytest.approx(0.5)
    # alpha = 0: redundancy is not penalised, gains are aspect counts
    assert alpha_ndcg(["d1", "d3", "d2"], ASPECTS, k=3, alpha=0.0) == pytest.approx(
        (1 + 1 / math.log2(3) + 2 / 2) / (2 + 1 / math.log2(3) + 1 / 2))
    assert alpha_ndcg(["x"], {"a": {"d1": 0}}) == 0.0
    with pytest.raises(ValueError, match="alpha"):
        alpha_ndcg(["d1"], ASPECTS, alpha=1.5)


# --- CLI ---------------------------------------------------------------------------------

def verdict_judge(messages: list[dict[str, str]]) -> str | FakeAnswer:
    text = messages[-1]["content"]
    if "Query to split:" in text:
        return "1. fast\n2. cheap"
    if "[1]" in text:
        return "[2] > [1]"
    count = sum(line.startswith("C") and ". " in line[:4] for line in text.splitlines())
    yes = "fast" in text.split("Passage:")[1]
    return "\n".join(f"C{n}: {'yes' if yes and n == 1 else 'no'}" for n in range(1, count + 1))


def write_rows(path: Path) -> Path:
    rows = [
        {"query_id": "q1", "query": "fast and cheap", "candidates": [
            {"id": "a", "text": "slow"}, {"id": "b", "text": "fast"}]},
        {"query_id": "q2", "query": "other", "instructions": "prefer fast ones",
         "criteria": ["fast", {"text": "green", "required": True}],
         "candidates": [{"id": "c", "text": "slow"}, {"id": "d", "text": "fast"}]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_cli_criteria_flag_and_jsonl_fields(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.jsonl")
    out = tmp_path / "out.jsonl"
    with fake_llm(verdict_judge) as fake:
        status = main(["rerank", "-s", "criteria", "-m", fake.model, "-i", str(source),
                       "-o", str(out), "--no-cache", "--criteria", "auto",
                       "--instructions", "be brief"])
    assert status == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [c["id"] for c in rows[0]["candidates"]] == ["b", "a"]
    assert [c["criterion"] for c in rows[0]["candidates"][0]["criteria"]] == ["fast", "cheap"]
    assert [c["criterion"] for c in rows[1]["candidates"][0]["criteria"]] == ["fast", "green"]
    prompts = [r["messages"][-1]["content"] for r in fake.requests]
    assert fake.calls == 1 + 2 + 2  # one decomposition (q1), 2 + 2 judgments
    assert sum("prefer fast ones" in p for p in prompts) == 2
    assert sum("be brief" in p for p in prompts) == 3


def test_cli_criteria_json_flag_and_errors(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    source = write_rows(tmp_path / "in.jsonl")
    with fake_llm(verdict_judge) as fake:
        status = main(["rerank", "-s", "listwise", "-m", fake.model, "-i", str(source),
                       "-o", str(tmp_path / "o"), "--no-cache",
                       "--criteria", '["fast", {"text": "cheap", "weight": 2}]'])
    assert status == 0
    first = next(r for r in fake.requests if "fast and cheap" in r["messages"][-1]["content"])
    assert "- cheap" in first["messages"][-1]["content"]  # queries run concurrently
    with pytest.raises(SystemExit):
        main(["rerank", "-m", "x", "-i", str(source), "--criteria", "[1, 2"])
    assert "expected 'auto' or a JSON list" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["rerank", "-m", "x", "-i", str(source), "--criteria", '[{"txt": "a"}]'])
    assert "unknown keys ['txt']" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query_id": "q", "query": "x", "criteria": "oops", '
                   '"candidates": [{"id": "a", "text": "t"}]}\n')
    with pytest.raises(Exception, match=r"bad.jsonl:1: criteria must be a list"):
        read_requests(bad)


def test_demo_shows_per_criterion_verdicts(capsys: pytest.CaptureFixture[str]) -> None:
    def judge(messages: list[dict[str, str]]) -> str:
        return "C1: yes\nC2: partly"

    with fake_llm(judge) as fake:
        assert main(["demo", "-s", "criteria", "-m", fake.model, "--no-cache"]) == 0
        assert fake.calls == 6
    out = capsys.readouterr().out
    request = SAMPLE.requests[0]
    assert f"[{request.query_id}] {request.query}" in out
    assert f"C1: {SAMPLE.parts[request.query_id][0][1]}" in out
    assert out.count("yes   part") == 6
    assert "Usage: 6 LLM calls" in out


def test_agent_example_runs_offline() -> None:
    if importlib.util.find_spec("litellm") is None:
        pytest.skip("the example needs litellm")
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "multipart_agent.py"),
                             "--query-id", "ev"], capture_output=True, text=True, check=True,
                            timeout=120)
    out = result.stdout
    for _, part in SAMPLE.parts["ev"]:
        assert f"- {part}\n    answered by ev-" in out
    assert "NOT ANSWERED" not in out
    grades = SAMPLE.aspect_qrels["ev"]
    complete = [doc.id for doc in SAMPLE.requests[SAMPLE_IDS.index("ev")].documents
                if all(grades[part_id][doc.id or ""] == 2 for part_id, _ in SAMPLE.parts["ev"])]
    assert f"1. {complete[0]}  [yes, yes, yes]" in out


# --- judge-server --aspects ----------------------------------------------------------------

def judge_server_process(*flags: str) -> tuple[subprocess.Popen[str], str]:
    from llm_rerank.data import MULTIPART_DIR

    process = subprocess.Popen(
        [sys.executable, "-c", "from llm_rerank.cli import main; main()", "judge-server",
         "--port", "0", "--data", str(MULTIPART_DIR / "queries.jsonl"),
         "--qrels", str(MULTIPART_DIR / "qrels"), *flags],
        stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    line = process.stderr.readline()
    return process, line


def test_judge_server_aspects_flag_answers_each_part() -> None:
    """Defect: per-part grades were Python-only; the CLI judge decomposed nothing."""
    from llm_rerank import Usage
    from llm_rerank.data import MULTIPART_DIR
    from llm_rerank.llm import LLMClient

    request = SAMPLE.requests[0]
    messages = PromptTemplate.load("criteria/decompose").render(query=request.query)
    found = []
    for flags in ([], ["--aspects", str(MULTIPART_DIR / "aspects.qrels")]):
        process, line = judge_server_process(*flags)
        try:
            url = line.split("api_base ")[1].split()[0]
            client = LLMClient("openai/judge", api_base=url, api_key="x", cache=False)
            answer = asyncio.run(client.complete(messages, Usage()))
            found.append((line, parse_decomposition(answer.text)))
        finally:
            process.terminate()
            process.wait(timeout=30)
    (plain_line, plain), (line, parts) = found
    assert plain is None and "query parts" not in plain_line  # the query alone
    assert parts == [text for _, text in SAMPLE.parts[request.query_id]]
    assert f"{sum(len(p) for p in SAMPLE.parts.values())} query parts" in line


def test_judge_server_aspects_need_the_parts_text(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from llm_rerank.data import MULTIPART_DIR

    extra = tmp_path / "aspects.qrels"
    extra.write_text((MULTIPART_DIR / "aspects.qrels").read_text() + "heatpump noise x 1\n")
    assert main(["judge-server", "--port", "0", "--data", str(MULTIPART_DIR / "queries.jsonl"),
                 "--qrels", str(MULTIPART_DIR / "qrels"), "--aspects", str(extra)]) == 2
    error = capsys.readouterr().err
    assert "criterion 'noise' of query 'heatpump' has no text" in error
    assert "Traceback" not in error


def test_eval_reports_aspect_metrics_from_per_part_qrels(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Defect: alpha_ndcg and aspect_recall were Python-only; `llm-rerank eval` refused them."""
    from llm_rerank.data import MULTIPART_DIR

    run = tmp_path / "run.trec"
    run.write_text("".join(f"{r.query_id} Q0 {d.id} {rank} {100 - rank} first-stage\n"
                           for r in SAMPLE.requests
                           for rank, d in enumerate(r.documents, start=1)))
    command = ["eval", "--run", str(run), "--qrels", str(MULTIPART_DIR / "qrels"),
               "--metrics", "ndcg@10", "alpha_ndcg@10", "aspect_recall@3", "--json"]
    assert main([*command, "--aspects", str(MULTIPART_DIR / "aspects.qrels")]) == 0
    report = json.loads(capsys.readouterr().out)
    expected = {
        "alpha_ndcg@10": [alpha_ndcg([d.id or "" for d in r.documents],
                                     SAMPLE.aspect_qrels[r.query_id], 10)
                          for r in SAMPLE.requests],
        "aspect_recall@3": [aspect_recall([d.id or "" for d in r.documents],
                                          SAMPLE.aspect_qrels[r.query_id], 3)
                            for r in SAMPLE.requests],
    }
    for name, values in expected.items():
        assert report["mean"][name] == pytest.approx(sum(values) / len(values))
    assert 0 < report["mean"]["alpha_ndcg@10"] < 1
    assert main(command) == 2
    assert "alpha_ndcg@10, aspect_recall@3 need per-part judgments" in capsys.readouterr().err


def test_regenerating_the_sample_gives_the_bundled_files(tmp_path: Path) -> None:
    from llm_rerank.data.make_multipart import MULTIPART_DIR, generate

    assert generate(tmp_path) == 436
    for name in ("queries.jsonl", "qrels", "aspects.qrels"):
        assert (tmp_path / name).read_bytes() == (MULTIPART_DIR / name).read_bytes(), name
