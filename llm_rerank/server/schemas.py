"""Request bodies of the HTTP API (pydantic, strict types).

Cohere's ``/v1/rerank`` and ``/v2/rerank`` (also Jina's ``/v1/rerank``) take
``{model?, query, documents: [str | {text}], top_n?, return_documents?, max_tokens_per_doc?}``;
TEI's ``/rerank`` takes ``{query, texts, raw_scores?, return_text?, truncate?,
truncation_direction?}``. Fields other clients send (``rank_fields``, ``max_chunks_per_doc``)
are accepted and ignored.

>>> CohereRequest.model_validate({"query": "q", "documents": ["a", {"text": "b"}]}).documents
['a', 'b']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field


def _unicode(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"contains an unpaired surrogate ({text[exc.start]!r} at character "
                         f"{exc.start})") from None
    return text


def _document_text(value: object) -> object:
    if isinstance(value, Mapping):
        if "text" not in value:
            raise ValueError("a document object needs a 'text' field")
        value = value["text"]
    if not isinstance(value, str):
        raise ValueError(f"must be a string or an object with a string 'text', "
                         f"got {json_type(value)}")
    return value


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type.

    >>> json_type(None), json_type([1]), json_type(2.5)
    ('null', 'array', 'number')
    """
    names = {str: "string", bool: "boolean", int: "number", float: "number", list: "array",
             dict: "object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _non_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text


Text = Annotated[str, AfterValidator(_unicode)]
Query = Annotated[str, AfterValidator(_unicode), AfterValidator(_non_blank)]
DocumentText = Annotated[str, BeforeValidator(_document_text), AfterValidator(_unicode)]


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class CohereRequest(_Request):
    """A Cohere (v1, v2) or Jina rerank request."""

    model: Text | None = None
    query: Query
    documents: list[DocumentText]
    top_n: int | None = Field(None, ge=1)
    return_documents: bool = False
    max_tokens_per_doc: int | None = Field(None, ge=1)


class TEIRequest(_Request):
    """A Text Embeddings Inference rerank request (``model`` is an llm_rerank extension)."""

    model: Text | None = None
    query: Query
    texts: list[Text]
    raw_scores: bool = False
    return_text: bool = False
    truncate: bool = False
    truncation_direction: Literal["Right", "Left", "right", "left"] = "Right"
