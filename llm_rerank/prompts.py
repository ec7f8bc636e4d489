"""Prompt templates: Jinja files under ``prompts/`` rendered into chat messages.

A template defines one Jinja block per chat role, in this order: ``system`` (optional),
``user`` and ``assistant`` (optional, a prefill). A template without blocks renders as one
user message. An optional ``repair`` block is the reminder sent (after the unusable
answer) when an answer cannot be read. Templates render in a sandbox with
``StrictUndefined``; variables such as document text are data and are never evaluated as
template code.

A template's leading ``{# ... #}`` comment (its header) may declare, on lines of their own,
what it asks and how it is answered: ``kind: setwise`` (one of ``PROMPT_KINDS``, the shape
of the question; each request carries it as data, so nothing reads the prose to find out
what was asked) and ``answer: passage_choice`` (one of ``ANSWER_FORMATS``, each named after
the parser that reads it: ``parse_passage_choice``). Both are checked when the template
loads; a template without them (``kind``/``answer`` ``None``) still works. The header's
other lines are prose.

>>> tpl = PromptTemplate.load("listwise/rankgpt")
>>> msgs = tpl.render(query="q", passages=[{"id": 1, "text": "a"}])
>>> [m["role"] for m in msgs]
['system', 'user']
>>> tpl.kind, tpl.answer
('listwise', 'permutation')
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .errors import TemplateError

Message = dict[str, str]
ROLES = ("system", "user", "assistant")

PromptKind = Literal["listwise", "pairwise", "pointwise", "setwise", "criteria", "decompose"]
PROMPT_KINDS: tuple[PromptKind, ...] = get_args(PromptKind)
# answer formats, each named after its parser: "label" is read by parse_label
ANSWER_FORMATS = ("permutation", "passage_choice", "label", "verdicts", "decomposition")
_DECLARATION = re.compile(r"^(kind|answer)[ \t]*:(.*)$")
_WORD = re.compile(r"[a-z_]+")


def read_header(source: str, name: str) -> dict[str, str]:
    """The ``kind:`` and ``answer:`` lines of a template's leading comment, checked.

    >>> read_header("{#- Pick one.\\n    kind: setwise\\n    answer: passage_choice -#}", "t")
    {'kind': 'setwise', 'answer': 'passage_choice'}
    >>> read_header("{# kind: sideways #}", "t")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    llm_rerank.errors.TemplateError: template 't': line 1: unknown kind 'sideways'; known: ...
    """
    body = source.lstrip()
    if not body.startswith("{#") or "#}" not in body:
        return {}
    first_line = source[: len(source) - len(body)].count("\n") + 1
    comment = body[2: body.index("#}")].removeprefix("-").removesuffix("-")
    known: dict[str, tuple[str, ...]] = {"kind": PROMPT_KINDS, "answer": ANSWER_FORMATS}
    found: dict[str, str] = {}
    for number, line in enumerate(comment.splitlines(), start=first_line):
        declared = _DECLARATION.match(line.strip())
        if declared is None:
            continue
        key, value = declared.group(1), declared.group(2).strip()
        where = f"template {name!r}: line {number}"
        if not _WORD.fullmatch(value):
            raise TemplateError(f"{where}: expected '{key}: NAME' (one lower-case word), "
                                f"got {line.strip()!r}")
        if key in found:
            raise TemplateError(f"{where}: {key} is declared twice")
        if value not in known[key]:
            raise TemplateError(f"{where}: unknown {key} {value!r}; known: "
                                f"{', '.join(known[key])}")
        found[key] = value
    return found


def prompts_dir() -> Path:
    """Where the bundled templates live: inside the wheel, or the repository's ``prompts/``."""
    packaged = Path(__file__).parent / "prompts"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "prompts"


def list_templates() -> list[str]:
    """Names of the bundled templates, e.g. ``listwise/rankgpt``."""
    root = prompts_dir()
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.j2"))


@cache
def _environment(root: str) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        loader=jinja2.FileSystemLoader(root),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )


class PromptTemplate:
    """A loaded template that renders variables into chat messages."""

    def __init__(self, template: jinja2.Template, name: str) -> None:
        self.name = name
        self._template = template
        source = Path(template.filename).read_text(encoding="utf-8") if template.filename else ""
        header = read_header(source, name)
        self.kind = next((k for k in PROMPT_KINDS if k == header.get("kind")), None)
        self.answer: str | None = header.get("answer")
        self._roles = [role for role in ROLES if role in template.blocks]
        if "assistant" in self._roles and "user" not in self._roles:
            raise TemplateError(f"template {name!r} has an assistant block but no user block")

    @classmethod
    def load(cls, name_or_path: str | Path) -> PromptTemplate:
        """Load a bundled template by name (``"listwise/rankgpt"``) or a user file by path."""
        path = Path(name_or_path)
        if path.suffix == ".j2" or path.is_file():
            if not path.is_file():
                raise TemplateError(f"template file not found: {path}")
            root, file_name = str(path.resolve().parent), path.name
        else:
            root, file_name = str(prompts_dir()), f"{name_or_path}.j2"
            if not (prompts_dir() / file_name).is_file():
                known = ", ".join(list_templates())
                raise TemplateError(f"unknown template {name_or_path!r}; bundled: {known}")
        try:
            template = _environment(root).get_template(file_name)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                f"template {name_or_path}: line {exc.lineno}: {exc.message}"
            ) from exc
        except UnicodeDecodeError as exc:
            raise TemplateError(f"template {name_or_path}: not valid UTF-8 ({exc.reason} at "
                                f"byte {exc.start})") from exc
        return cls(template, str(name_or_path))

    @property
    def source_path(self) -> str | None:
        """The file the template was loaded from."""
        return self._template.filename

    def render(self, **variables: Any) -> list[Message]:
        """Render to chat messages; a missing variable, or any error that a (user) template
        raises while rendering, raises ``TemplateError`` naming the template.

        ``instructions`` and ``criteria`` (optional in every template) default to ``None``.
        """
        variables.setdefault("instructions", None)
        variables.setdefault("criteria", None)
        try:
            if not self._roles:
                return [{"role": "user", "content": self._template.render(**variables).strip()}]
            context = self._template.new_context(variables)
            return [
                {"role": role, "content": "".join(self._template.blocks[role](context)).strip()}
                for role in self._roles
            ]
        except Exception as exc:  # a user template may raise anything (e.g. 1 / 0)
            raise TemplateError(f"template {self.name!r}: {type(exc).__name__}: {exc}") from exc

    def render_repair(self, **variables: Any) -> str | None:
        """The ``repair`` block's text, or ``None`` when the template has none."""
        if "repair" not in self._template.blocks:
            return None
        variables.setdefault("instructions", None)
        variables.setdefault("criteria", None)
        try:
            context = self._template.new_context(variables)
            return "".join(self._template.blocks["repair"](context)).strip()
        except Exception as exc:
            raise TemplateError(f"template {self.name!r}: {type(exc).__name__}: {exc}") from exc


CHARS_PER_WORD = 10  # the character cap of a passage cut to N words is N * CHARS_PER_WORD


def one_line(text: str) -> str:
    """White space (newlines included) collapsed to single spaces.

    >>> one_line("capital\\n[9] of  France")
    'capital [9] of France'
    """
    return " ".join(text.split())


def truncate_words(text: str, max_words: int | None) -> str:
    """Collapse white space and keep the first ``max_words`` words (all when ``None``).

    >>> truncate_words("a  b\\nc d", 3)
    'a b c'
    """
    if max_words is None:
        return one_line(text)
    words = text.split(maxsplit=max_words)[:max_words]
    return " ".join(words)


def truncate_passage(text: str, max_words: int | None) -> str:
    """``truncate_words``, then at most ``max_words * CHARS_PER_WORD`` characters, so text
    without spaces (CJK, base64, URLs) is cut too.

    >>> len(truncate_passage("x" * 10_000, 30))
    300
    """
    cut = truncate_words(text, max_words)
    return cut if max_words is None else cut[: max_words * CHARS_PER_WORD]
