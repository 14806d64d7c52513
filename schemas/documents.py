"""Documents as the ingestion job and the HTTP API accept them, and the ingest summary."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.collection import MAX_ID_BYTES, MAX_TITLE_BYTES

MAX_METADATA_DEPTH = 8
MAX_METADATA_BYTES = 64 * 1024
#: text of one document: 4 MiB is about a million tokens, a long book. Beyond it one document
#: would hold an encoder (and an HTTP worker) for many minutes; split such input into parts
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
#: Milvus stores JSON integers as signed 64-bit; a larger one fails the whole write batch
_INT64 = (-(2**63), 2**63 - 1)


def _check_text(value: str, what: str) -> str:
    if "\x00" in value:
        raise ValueError(f"{what} contains a NUL byte")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what} is not valid unicode (lone surrogate)") from exc
    return value


def check_doc_id(value: str) -> str:
    """A document id as stored: non-blank, no control characters, at most MAX_ID_BYTES.

    Raises:
        ValueError: naming what is wrong with the id.
    """
    _check_text(value, "id")
    if not value.strip():
        raise ValueError("id is blank")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("id contains a control character")
    if len(value.encode("utf-8")) > MAX_ID_BYTES:
        raise ValueError(f"id is longer than {MAX_ID_BYTES} bytes")
    return value


def _big_int_path(value: Any, path: str) -> str | None:
    """The path of the first integer outside the signed 64-bit range, if any."""
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        ok = not isinstance(value, int) or _INT64[0] <= value <= _INT64[1]
        return None if ok else path
    for key, item in items:
        if (found := _big_int_path(item, f"{path}.{key}")) is not None:
            return found
    return None


def _depth(value: Any, level: int = 1) -> int:
    if isinstance(value, dict):
        return max([level, *(_depth(v, level + 1) for v in value.values())])
    if isinstance(value, list):
        return max([level, *(_depth(v, level + 1) for v in value)])
    return level - 1


class Document(BaseModel):
    """One source document. `id` is unique per tenant; text must say something."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    text: str
    title: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return check_doc_id(value)

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        _check_text(value, "text")
        if not value.strip():
            raise ValueError("text is empty or whitespace only")
        size = len(value.encode("utf-8"))
        if size > MAX_DOCUMENT_BYTES:
            raise ValueError(
                f"text is {size} bytes, over the limit of {MAX_DOCUMENT_BYTES} bytes per "
                "document; split it into several documents"
            )
        return value

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        _check_text(value, "title")
        if len(value.encode("utf-8")) > MAX_TITLE_BYTES:
            raise ValueError(f"title is longer than {MAX_TITLE_BYTES} bytes")
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        if _depth(value) > MAX_METADATA_DEPTH:
            raise ValueError(f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels")
        import json

        try:
            size = len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8"))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"metadata is not plain JSON: {exc}") from exc
        if size > MAX_METADATA_BYTES:
            raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes")
        if (path := _big_int_path(value, "metadata")) is not None:
            raise ValueError(f"{path} is an integer outside the signed 64-bit range")
        return value


class IngestErrorItem(BaseModel):
    source: str | None = None
    line: int | None = None
    field: str | None = None
    doc_id: str | None = None
    message: str


class IngestSummary(BaseModel):
    """Counts are documents, except `chunks` (chunks written) and `retries` (Milvus retries)."""

    documents: int = 0
    chunks: int = 0
    inserted: int = 0
    replaced: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    errors: list[IngestErrorItem] = Field(default_factory=list)
    seconds: float = 0.0
    retries: int = 0
    redone: int = 0
