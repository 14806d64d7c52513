"""Documents as the ingestion job and the HTTP API accept them, and the ingest summary.
Nested JSON is walked with an explicit stack: a document nested thousands of levels deep must be
refused with a message, not crash the checker."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

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
    """A document id as stored: non-blank, no control characters, at most MAX_ID_BYTES."""
    _check_text(value, "id")
    if not value.strip():
        raise ValueError("id is blank")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("id contains a control character")
    if len(value.encode("utf-8")) > MAX_ID_BYTES:
        raise ValueError(f"id is longer than {MAX_ID_BYTES} bytes")
    return value


def safe_text(value: str) -> str:
    """`value` with lone surrogates written as `\\udfff` escapes, so text that echoes input (an
    id in an error message) can always be encoded as UTF-8 JSON."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


#: text that may echo input (an id in an error message), made safe to serialise
SafeText = Annotated[str, AfterValidator(safe_text)]


def _children(value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [(str(k), v) for k, v in value.items()]
    if isinstance(value, list):
        return [(str(i), v) for i, v in enumerate(value)]
    return []


def _depth_over(value: Any, limit: int) -> bool:
    """True when containers nest deeper than `limit` (the top-level object is level 1).
    Stops at the first path that goes over, so the cost is bounded by the input's size."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            if level > limit:
                return True
            stack.extend((child, level + 1) for _, child in _children(node))
    return False


def _big_int_path(value: Any, path: str) -> str | None:
    """The path of the first integer outside the signed 64-bit range, if any."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict | list):
            stack.extend((child, f"{where}.{key}") for key, child in reversed(_children(node)))
        elif isinstance(node, int) and not _INT64[0] <= node <= _INT64[1]:
            return where
    return None


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
        if _depth_over(value, MAX_METADATA_DEPTH):
            raise ValueError(f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels")
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
    """One failed record."""

    source: SafeText | None = None
    line: int | None = None
    field: SafeText | None = None
    doc_id: SafeText | None = None
    message: SafeText


#: what happened to one document of a write: the Elasticsearch bulk API's one-outcome-per-item
DocumentStatus = Literal["inserted", "replaced", "unchanged", "failed"]


class DocumentOutcome(BaseModel):
    """The outcome of one input document. `index` is its position in the request (for files:
    its line); `id` is None when the item had no usable id; `error` is set when it failed."""

    index: int | None = None
    id: SafeText | None = None
    status: DocumentStatus
    error: SafeText | None = None


class IngestSummary(BaseModel):
    """Counts are documents, except `chunks` (chunks written) and `retries` (Milvus retries).

    `outcomes` has one entry per input document, in input order, when the caller asked the job
    for them (every HTTP write does); `stopped` says why a job ended before its input did
    (`deadline`, `cancelled`): the counts and outcomes then say what was done."""

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
    outcomes: list[DocumentOutcome] | None = None
    stopped: str | None = None
    #: file -> why a folder walk passed over it (unsupported type, hidden folder)
    skipped: dict[str, str] = Field(default_factory=dict)


#: the states of an ingest job, in the order a job goes through them
JobState = Literal["queued", "running", "done", "failed", "cancelled"]


class IngestJobResponse(BaseModel):
    """A write that was too large to answer inline (`POST /v1/documents` 202, `GET /v1/jobs/{id}`).

    `done` counts the documents the job has been through (written, unchanged or failed) out of
    `total`; `summary` holds the counts and per-document outcomes so far (final once `state` is
    done, failed or cancelled); `error` says why a job failed or stopped."""

    job_id: str
    state: JobState
    total: int
    done: int = 0
    summary: IngestSummary | None = None
    error: str | None = None
    submitted_at: float = Field(description="Unix time")
    finished_at: float | None = None
