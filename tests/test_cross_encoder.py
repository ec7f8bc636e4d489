from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
from tiny_models import tiny_cross_encoder

from llm_rerank import (
    CrossEncoderReranker,
    InvalidInput,
    ListwiseReranker,
    RankedResults,
    Reranker,
    RerankError,
    get_reranker,
)
from llm_rerank.testing import fake_llm

QUERY = "how long is the life cycle of a flea"
DOCS = [
    "the flea life cycle can last a year",
    "paris is the capital of france",
    "a cat and a dog in the house",
    "water in the river near the city",
    "the sun and the moon and a star",
    "money in the bank",
    "rain on the road",
]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_cross_encoder(tmp_path_factory)


@pytest.fixture(scope="session")
def reranker(model_dir: Path) -> CrossEncoderReranker:
    return CrossEncoderReranker(str(model_dir), device="cpu")


def direct_scores(model_dir: Path, docs: list[str], max_length: int = 512) -> list[float]:
    import torch
    from sentence_transformers import CrossEncoder

    encoder = CrossEncoder(str(model_dir), device="cpu", max_length=max_length)
    scores = encoder.predict([(QUERY, d) for d in docs], activation_fn=torch.nn.Identity())
    return [float(s) for s in scores]


def test_scores_and_order_equal_cross_encoder_predict(
    reranker: CrossEncoderReranker, model_dir: Path
) -> None:
    expected = direct_scores(model_dir, DOCS)
    assert len({round(s, 5) for s in expected}) == len(DOCS), "the tiny model scores must differ"
    results = reranker.rank(QUERY, DOCS)
    assert [r.index for r in results] == sorted(range(len(DOCS)), key=lambda i: -expected[i])
    assert [r.score for r in results] == pytest.approx(
        [expected[r.index] for r in results], rel=1e-5, abs=1e-6)
    assert [r.rank for r in results] == list(range(1, len(DOCS) + 1))
    assert results.strategy == "cross-encoder" and results.model == str(model_dir)
    assert results.usage.llm_calls == 0 and results.usage.latency_s > 0


async def test_async_and_top_n(reranker: CrossEncoderReranker) -> None:
    full = await reranker.arank(QUERY, DOCS)
    top = await reranker.arank(QUERY, DOCS, top_n=3)
    assert [r.index for r in top] == [r.index for r in full][:3]


def test_batch_size_does_not_change_scores(model_dir: Path) -> None:
    docs = [f"{DOCS[i % len(DOCS)]} {'tree ' * (i % 5)}" for i in range(20)]
    small = CrossEncoderReranker(str(model_dir), batch_size=2, device="cpu").rank(QUERY, docs)
    large = CrossEncoderReranker(str(model_dir), batch_size=64, device="cpu").rank(QUERY, docs)
    assert [r.index for r in small] == [r.index for r in large]
    assert [r.score for r in small] == pytest.approx([r.score for r in large], abs=1e-5)


def test_long_documents_are_truncated_to_max_length(model_dir: Path) -> None:
    long_docs = [d + " the" * 3000 for d in DOCS]
    results = CrossEncoderReranker(str(model_dir), max_length=16, device="cpu").rank(
        QUERY, long_docs)
    assert sorted(r.index for r in results) == list(range(len(DOCS)))
    expected = direct_scores(model_dir, long_docs, max_length=16)
    assert [r.score for r in results] == pytest.approx(
        [expected[r.index] for r in results], rel=1e-5, abs=1e-6)


def test_sigmoid_activation(model_dir: Path, reranker: CrossEncoderReranker) -> None:
    sigmoid = CrossEncoderReranker(str(model_dir), activation="sigmoid", device="cpu")
    assert sigmoid.device == "cpu"
    probabilities = {r.index: r.score for r in sigmoid.rank(QUERY, DOCS)}
    logits = {r.index: r.score for r in reranker.rank(QUERY, DOCS)}
    for index, logit in logits.items():
        assert logit is not None and 0 < probabilities[index] < 1  # type: ignore[operator]
        assert probabilities[index] == pytest.approx(1 / (1 + math.exp(-logit)), abs=1e-5)


def test_ties_keep_input_order(reranker: CrossEncoderReranker) -> None:
    results = reranker.rank(QUERY, ["same text", "other words", "same text"])
    same = [r.index for r in results if r.document.text == "same text"]
    assert same == [0, 2]


def test_registry_and_bad_options(model_dir: Path) -> None:
    built = get_reranker("cross-encoder", model=str(model_dir), device="cpu")
    assert isinstance(built, CrossEncoderReranker)
    with pytest.raises(TypeError):
        get_reranker("cross-encoder", model=str(model_dir), window_size=3)
    with pytest.raises(InvalidInput, match="batch_size"):
        CrossEncoderReranker(str(model_dir), batch_size=0)
    with pytest.raises(InvalidInput, match="activation"):
        CrossEncoderReranker(str(model_dir), activation="softmax")  # type: ignore[arg-type]


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(InvalidInput,
                       match=r"pip install -e '\.\[cross-encoder\]' \(from the llm_rerank clone"):
        CrossEncoderReranker("cross-encoder/ms-marco-MiniLM-L-6-v2")


def test_unloadable_models_raise_rerank_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("sentence_transformers", reason="needs the cross-encoder extra")
    with pytest.raises(RerankError, match="not found"):
        CrossEncoderReranker(str(tmp_path / "missing-model"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(RerankError, match="cannot load the cross-encoder model"):
        CrossEncoderReranker(str(broken))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RerankError, match="HF_HUB_OFFLINE"):
        CrossEncoderReranker("no-such-org/no-such-cross-encoder")


def test_importing_the_package_does_not_import_torch() -> None:
    import subprocess

    code = ("import sys, llm_rerank, llm_rerank.cross_encoder; "
            "print('torch' in sys.modules, 'sentence_transformers' in sys.modules)")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout
    assert output.split() == ["False", "False"]


async def rank_with(reranker: Reranker, query: str, docs: list[str]) -> RankedResults:
    """Code that only knows the ``Reranker`` interface."""
    return await reranker.arank(query, docs)


async def test_cross_encoder_and_listwise_are_interchangeable(
    reranker: CrossEncoderReranker,
) -> None:
    answer = " > ".join(f"[{n}]" for n in (3, 1, 2, *range(4, len(DOCS) + 1)))
    with fake_llm(lambda messages: answer) as fake:
        listwise = ListwiseReranker(fake.model, cache=False)
        for each in (reranker, listwise):
            results = await rank_with(each, QUERY, DOCS)
            assert isinstance(results, RankedResults)
            assert sorted(r.index for r in results) == list(range(len(DOCS)))
            assert [r.document.text for r in results] == [DOCS[r.index] for r in results]
        assert fake.calls == 1
