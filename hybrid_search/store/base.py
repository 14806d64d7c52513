"""Rows the store reads and writes, and the ChunkStore protocol ingest and search depend on."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hybrid_search.encoders.base import FloatArray, SparseVector
from schemas.collection import CollectionSpec


@dataclass(slots=True)
class ChunkRow:
    """One encoded chunk, ready to write."""

    tenant: str
    doc_id: str
    chunk_index: int
    chunk_count: int
    title: str
    text: str
    search_text: str
    metadata: dict[str, Any]
    content_hash: str
    dense: FloatArray
    sparse: SparseVector
    colbert: FloatArray | None = None
    token_count: int | None = None  # ColBERT rows stored for the chunk when `colbert` is not here

    @property
    def chunk_id(self) -> str:
        return chunk_id(self.doc_id, self.chunk_index)

    @property
    def pk(self) -> str:
        return chunk_pk(self.tenant, self.doc_id, self.chunk_index)


def chunk_id(doc_id: str, index: int) -> str:
    return f"{doc_id}#{index}"


def chunk_pk(tenant: str, doc_id: str, index: int) -> str:
    """Tenant names cannot contain '/', so the pk is unambiguous and unique across tenants."""
    return f"{tenant}/{doc_id}#{index}"


@dataclass(slots=True)
class DocState:
    """What the store holds for one document: complete iff one hash and all chunks present."""

    hashes: set[str] = field(default_factory=set)
    chunk_count: int = 0
    rows: int = 0

    def is_complete(self, content_hash: str) -> bool:
        return self.hashes == {content_hash} and self.rows == self.chunk_count


@dataclass(slots=True)
class StoreStats:
    documents: int
    chunks: int
    colbert_rows: int | None = None  # blocks of ColBERT token vectors (see schemas.collection)


class ChunkStore(Protocol):
    """Where chunks live. Every read and write names its tenant (the partition key)."""

    def ensure_collection(self, spec: CollectionSpec) -> None: ...

    def describe(self, name: str) -> CollectionSpec: ...

    def has_collection(self, name: str) -> bool: ...

    def doc_states(self, name: str, tenant: str, doc_ids: Sequence[str]) -> dict[str, DocState]: ...

    def write_documents(
        self, spec: CollectionSpec, tenant: str, rows: Sequence[ChunkRow], hashes: Mapping[str, str]
    ) -> None: ...

    def delete_documents(self, name: str, tenant: str, doc_ids: Sequence[str]) -> int: ...

    def iter_doc_ids(self, name: str, tenant: str) -> Iterator[str]: ...

    def stats(self, name: str, tenant: str | None = None) -> StoreStats: ...

    def get_chunks(self, name: str, tenant: str, doc_id: str) -> list[dict[str, Any]]: ...
