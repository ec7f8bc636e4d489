"""``rank_batch(progress=...)``: a tqdm bar over finished queries, on stderr."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from llm_rerank.errors import InvalidInput
from llm_rerank.reranker import RankingContext, Reranker, Scored

BATCH = [(f"q{i}", ["a", "b", "c"]) for i in range(3)]


class Reverse(Reranker):
    name = "reverse"

    async def _order(self, ctx: RankingContext) -> list[Scored]:
        if ctx.query == "fail":
            raise InvalidInput("this query fails")
        return [Scored(i) for i in reversed(range(len(ctx.documents)))]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class TerminalFile(io.TextIOWrapper):
    def isatty(self) -> bool:
        return True


def test_progress_true_draws_a_bar_over_finished_queries(capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    out = Reverse().rank_batch(BATCH, progress=True)
    assert len(out) == 3
    err = capsys.readouterr().err
    assert "reverse" in err and "3/3" in err


def test_progress_false_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    Reverse().rank_batch(BATCH, progress=False)
    assert capsys.readouterr().err == ""


def test_progress_by_default_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    Reverse().rank_batch(BATCH)  # pytest's captured stderr is no terminal
    assert capsys.readouterr().err == ""
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    Reverse().rank_batch(BATCH)
    assert "3/3" in terminal.getvalue()


def test_failed_queries_count_as_finished(capsys: pytest.CaptureFixture[str]) -> None:
    out = Reverse().rank_batch([*BATCH, ("fail", ["x"])], progress=True, return_exceptions=True)
    assert isinstance(out[3], InvalidInput)
    assert "4/4" in capsys.readouterr().err


def test_progress_counts_results_coming_back_from_workers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = TerminalFile(open(tmp_path / "stderr", "wb"))  # noqa: SIM115
    monkeypatch.setattr("sys.stderr", stderr)  # the workers inherit it: they must stay quiet
    batch = [*BATCH, ("fail", ["x"]), ("q3", ["d", "e"])]
    out = Reverse().rank_batch(batch, workers=2, return_exceptions=True)
    stderr.close()
    assert [type(o).__name__ for o in out] == ["RankedResults"] * 3 + [
        "InvalidInput", "RankedResults"]
    err = (tmp_path / "stderr").read_text()
    assert "5/5" in err
    assert "/3" not in err and "/2" not in err  # the workers' shares: 3 and 2 queries


async def test_arank_batch_takes_progress(capsys: pytest.CaptureFixture[str]) -> None:
    await Reverse().arank_batch(BATCH, progress=True)
    assert "3/3" in capsys.readouterr().err
