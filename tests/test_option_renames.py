"""The per-query token budget is ``max_budget_tokens``; ``max_tokens``, its old name (which
read like the answer cap), still works everywhere with a deprecation warning."""

from __future__ import annotations

import contextlib
import json
import warnings
from pathlib import Path

import pytest

from llm_rerank import ListwiseReranker, PointwiseReranker, get_reranker
from llm_rerank.cli import main
from llm_rerank.errors import InvalidInput
from llm_rerank.server.config import ServeConfig, build_rerankers
from llm_rerank.testing import fake_llm


def test_old_option_name_warns_at_the_callers_line_and_sets_the_budget() -> None:
    with pytest.warns(DeprecationWarning, match="'max_tokens' is deprecated, use "
                                                "'max_budget_tokens'") as caught:
        rr = ListwiseReranker("openai/x", max_tokens=500, cache=False)
    assert rr.options.max_budget_tokens == 500
    assert caught[0].filename == __file__  # reported where the user wrote it


def test_new_option_name_works_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rr = get_reranker("listwise", model="openai/x", max_budget_tokens=500, cache=False)
    assert rr.options.max_budget_tokens == 500
    assert "max_tokens" not in type(rr.options).model_fields


def test_both_names_are_refused() -> None:
    with pytest.raises(InvalidInput, match="'max_tokens' and 'max_budget_tokens' are one "
                                           "option"):
        ListwiseReranker("openai/x", max_tokens=5, max_budget_tokens=6, cache=False)


def test_old_name_is_still_validated_like_the_new_one() -> None:
    with pytest.raises(InvalidInput, match="max_budget_tokens"), \
            pytest.warns(DeprecationWarning):
        ListwiseReranker("openai/x", max_tokens=0, cache=False)


@pytest.mark.parametrize("name", ["max_tokens", "max_budget_tokens"])
def test_either_name_stops_the_query_at_the_token_budget(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with fake_llm(lambda messages: "likely") as fake:
            rr = PointwiseReranker(fake.model, cache=False, on_budget="keep_order",
                                   **{name: 150})
            results = rr.rank("what is a heat pump", ["a heat pump moves heat"] * 6)
    assert results.stopped == "budget" and 0 < fake.calls < 6


def test_answer_cap_keeps_the_name_max_tokens() -> None:
    with fake_llm(lambda messages: "likely") as fake:
        PointwiseReranker(fake.model, cache=False, max_budget_tokens=10_000,
                          completion_kwargs={"max_tokens": 3}).rank("q", ["a", "b"])
    assert fake.requests[0]["params"]["max_tokens"] == 3


def test_serve_config_accepts_the_old_key() -> None:
    config = ServeConfig.model_validate({"rerankers": {
        "old": {"strategy": "listwise", "model": "openai/x", "max_tokens": 7, "cache": False},
        "new": {"strategy": "listwise", "model": "openai/x", "max_budget_tokens": 8,
                "cache": False}}})
    with pytest.warns(DeprecationWarning):
        rerankers = build_rerankers(config)
    assert [r.options.max_budget_tokens for r in rerankers.values()] == [7, 8]  # type: ignore[attr-defined]


def write_input(path: Path) -> Path:
    row = {"query_id": "q1", "query": "heat pump",
           "candidates": [{"id": f"d{i}", "text": f"passage {i}"} for i in range(4)]}
    path.write_text(json.dumps(row) + "\n")
    return path


@pytest.mark.parametrize("flag", ["--max-budget-tokens", "--max-tokens"])
def test_cli_budget_flag_and_its_old_name(tmp_path: Path, flag: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    source = write_input(tmp_path / "in.jsonl")
    with fake_llm(lambda messages: "likely") as fake:
        status = main(["rerank", "-s", "pointwise", "-m", fake.model, "-i", str(source),
                       "-o", str(tmp_path / "out.jsonl"), "--no-cache", flag, "150",
                       "--on-budget", "keep_order"])
    err = capsys.readouterr().err
    assert status == 0 and 0 < fake.calls < 4 and "stopped early" in err
    deprecated = "--max-tokens is deprecated; use --max-budget-tokens"
    assert (deprecated in err) == (flag == "--max-tokens")


@pytest.mark.parametrize("flags, message", [
    (["--max-tokens", "5", "--max-budget-tokens", "6"], "are one option"),
    (["--max-budget-tokens", "6", "--max-tokens", "5"], "are one option"),
    (["-O", "max_tokens=5"], "set max_tokens with --max-budget-tokens, not -O"),
    (["-O", "max_budget_tokens=5"], "set max_budget_tokens with --max-budget-tokens"),
])
def test_cli_refuses_two_values_for_the_budget(tmp_path: Path, flags: list[str], message: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    source = write_input(tmp_path / "in.jsonl")
    with pytest.raises(SystemExit) if "one option" in message else contextlib.nullcontext():
        status = main(["rerank", "-m", "openai/x", "-i", str(source), "--no-cache", *flags])
        assert status == 2
    assert message in capsys.readouterr().err

