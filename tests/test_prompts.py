from __future__ import annotations

from pathlib import Path

import pytest

from llm_rerank import TemplateError
from llm_rerank.prompts import PromptTemplate, list_templates, truncate_words


def test_bundled_templates_are_listed() -> None:
    assert {"listwise/rankgpt", "pointwise/labels", "pairwise/prp", "setwise/heapsort"} <= set(
        list_templates())


def test_rankgpt_renders_system_and_user_messages() -> None:
    messages = PromptTemplate.load("listwise/rankgpt").render(
        query="capital of France", passages=[{"id": 1, "text": "Paris"}, {"id": 2, "text": "Rome"}])
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "[1] Paris" in messages[1]["content"] and "[2] Rome" in messages[1]["content"]
    assert "capital of France" in messages[1]["content"]


def test_missing_variable_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="passages"):
        PromptTemplate.load("listwise/rankgpt").render(query="q")


def test_unknown_template_names_the_known_ones() -> None:
    with pytest.raises(TemplateError, match="listwise/rankgpt"):
        PromptTemplate.load("listwise/nope")


def test_document_text_is_data_not_template_code() -> None:
    evil = "{{ 7 * 7 }} {% for x in range(3) %}x{% endfor %} {{ ''.__class__ }}"
    messages = PromptTemplate.load("pairwise/prp").render(query="q", passage_a=evil, passage_b="b")
    assert evil in messages[-1]["content"]


def test_user_template_by_path_is_sandboxed(tmp_path: Path) -> None:
    good = tmp_path / "mine.j2"
    good.write_text("{% block user %}Q={{ query }} N={{ passages|length }}{% endblock %}")
    assert PromptTemplate.load(good).render(query="x", passages=[1, 2]) == [
        {"role": "user", "content": "Q=x N=2"}]
    plain = tmp_path / "plain.j2"
    plain.write_text("just {{ query }}")
    assert PromptTemplate.load(plain).render(query="y") == [{"role": "user", "content": "just y"}]
    unsafe = tmp_path / "unsafe.j2"
    unsafe.write_text("{{ query.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(TemplateError):
        PromptTemplate.load(unsafe).render(query="x")


def test_broken_or_missing_user_template(tmp_path: Path) -> None:
    broken = tmp_path / "broken.j2"
    broken.write_text("{% for %}")
    with pytest.raises(TemplateError, match="line 1"):
        PromptTemplate.load(broken)
    with pytest.raises(TemplateError, match="not found"):
        PromptTemplate.load(tmp_path / "absent.j2")


def test_truncate_words() -> None:
    assert truncate_words(" a\tb\n\nc  d ", 2) == "a b"
    assert truncate_words("a b", None) == "a b"


BUNDLED_KINDS = {
    "criteria/decompose": ("decompose", "decomposition"),
    "criteria/judge": ("criteria", "verdicts"),
    "listwise/rankgpt": ("listwise", "permutation"),
    "pairwise/prp": ("pairwise", "passage_choice"),
    "pointwise/labels": ("pointwise", "label"),
    "setwise/heapsort": ("setwise", "passage_choice"),
}


def test_every_bundled_template_declares_its_kind_and_answer() -> None:
    assert set(list_templates()) == set(BUNDLED_KINDS)
    for name, declared in BUNDLED_KINDS.items():
        template = PromptTemplate.load(name)
        assert (template.kind, template.answer) == declared, name
        source = Path(template.source_path or "").read_text(encoding="utf-8")
        assert "Variables:" in source and "Answer:" in source  # the prose stays


def test_a_user_template_without_a_header_has_no_kind(tmp_path: Path) -> None:
    plain = tmp_path / "plain.j2"
    plain.write_text("Rank {{ query }}", encoding="utf-8")
    prose = tmp_path / "prose.j2"
    prose.write_text("{# Answer: a label. Kind of informal. #}Rank {{ query }}", encoding="utf-8")
    for path in (plain, prose):
        template = PromptTemplate.load(path)
        assert (template.kind, template.answer) == (None, None)
        assert template.render(query="q") == [{"role": "user", "content": "Rank q"}]


def test_a_user_template_header_is_read(tmp_path: Path) -> None:
    path = tmp_path / "mine.j2"
    path.write_text("\n{#- kind: pointwise\n    Some prose.\n    answer: label -#}\n"
                    "{{ query }}", encoding="utf-8")
    template = PromptTemplate.load(path)
    assert (template.kind, template.answer) == ("pointwise", "label")


@pytest.mark.parametrize(("header", "message"), [
    ("{#- Pick one.\n    kind: sideways\n-#}", r"line 2: unknown kind 'sideways'; known: listwise"),
    ("{#- Pick one.\n\n    answer: essay -#}", r"line 3: unknown answer 'essay'"),
    ("{#- kind:\n-#}", r"line 1: expected 'kind: NAME'"),
    ("{#- kind: set wise -#}", r"line 1: expected 'kind: NAME'"),
    ("{#- kind: Setwise -#}", r"line 1: expected 'kind: NAME'"),
    ("{#- kind: setwise\n    kind: pairwise -#}", r"line 2: kind is declared twice"),
])
def test_a_bad_header_line_is_a_template_error_naming_the_line(
    tmp_path: Path, header: str, message: str
) -> None:
    path = tmp_path / "bad.j2"
    path.write_text(header + "\n{{ query }}", encoding="utf-8")
    with pytest.raises(TemplateError, match=message) as caught:
        PromptTemplate.load(path)
    assert str(path) in str(caught.value)
