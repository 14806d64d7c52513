"""Wire models of the HTTP service besides search and RAG: pure pydantic, importing neither
FastAPI nor pymilvus, so the remote client can share them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "BulkDeleteResponse",
    "ChunkOut",
    "DeleteDocumentsRequest",
    "DeleteOutcome",
    "DeleteResponse",
    "DocumentResponse",
    "ErrorBody",
    "ErrorResponse",
    "HealthResponse",
    "ReadyResponse",
    "UpsertDocumentsRequest",
]

_TENANT = r"^[A-Za-z0-9_\-]{1,64}$"


class UpsertDocumentsRequest(BaseModel):
    """The envelope of `POST /v1/documents`. Items stay raw JSON here and are validated one by one,
    so one bad document is reported in the summary instead of failing the batch."""

    model_config = ConfigDict(extra="forbid")

    documents: list[Any] = Field(
        min_length=1, description="objects with id, text, optional title and metadata"
    )
    tenant: str | None = Field(
        None, pattern=_TENANT, description="admin keys only; other keys use their own tenant"
    )

    @field_validator("documents")
    @classmethod
    def _string_ids(cls, value: list[Any]) -> list[Any]:
        """Files may number their documents (5 is stored as "5"); a request names them exactly."""
        for i, doc in enumerate(value):
            for key in ("id", "_id"):
                if isinstance(doc, dict) and key in doc and not isinstance(doc[key], str):
                    raise ValueError(f"documents[{i}].{key} must be a string")
        return value


class DeleteDocumentsRequest(BaseModel):
    """`DELETE /v1/documents`: ids, or a filter (never across tenants: the key's is added)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    ids: list[str] | None = Field(None, min_length=1)
    filter: dict[str, Any] | None = Field(None, description="structured filter, as for search")
    tenant: str | None = Field(None, pattern=_TENANT, description="admin keys only")

    @model_validator(mode="after")
    def _one_of(self) -> DeleteDocumentsRequest:
        if (self.ids is None) == (self.filter is None) or self.filter == {}:
            raise ValueError("give either ids or a non-empty filter")
        return self


class DeleteOutcome(BaseModel):
    id: str
    status: Literal["deleted", "not_found"]


class BulkDeleteResponse(BaseModel):
    deleted: int
    outcomes: list[DeleteOutcome] = Field(description="one per id, in request (or id) order")


class DropResponse(BaseModel):
    """`DELETE /v1/collection`: the tenant's documents are gone; the collection stays."""

    collection: str
    tenant: str
    deleted: int = Field(description="documents deleted")


class ChunkOut(BaseModel):
    """A stored chunk as `GET /v1/documents/{doc_id}` shows it (vectors left out)."""

    chunk_id: str
    chunk_index: int
    title: str
    text: str
    metadata: dict[str, Any]


class DocumentResponse(BaseModel):
    doc_id: str
    chunks: list[ChunkOut]


class CollectionInfo(BaseModel):
    name: str
    routes: list[str] = Field(description="the routes this service can search")
    search_defaults: dict[str, Any] = Field(description="saved defaults ({} when none)")


class DeleteResponse(BaseModel):
    doc_id: str
    deleted: bool = True


class HealthResponse(BaseModel):
    status: str = "ok"


class ReadyResponse(BaseModel):
    """`checks` maps each check (milvus, collection, models) to "ok" or what failed."""

    ready: bool
    checks: dict[str, str]
    deployment: str = Field(description="'milvus-lite' or 'milvus-server'")


class ErrorBody(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. 'invalid_filter'")
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(BaseModel):
    """Every non-2xx answer has this body."""

    error: ErrorBody
