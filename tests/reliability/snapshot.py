"""What a collection holds, reduced to comparable facts: chunks, content hashes, token vectors.

Reads go through `MilvusStore.query_all` with the field-name constants of
`schemas.collection`, so the checks follow any change to how ColBERT vectors are laid out:
a token row counts its vectors by `BLOCK_TOKENS_FIELD` when the schema has one (packed
blocks), else one vector per row.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from hybrid_search.store.expressions import string_literal
from hybrid_search.store.milvus import MilvusStore
from schemas import collection as C

_BLOCK_TOKENS: str | None = getattr(C, "BLOCK_TOKENS_FIELD", None)


@dataclass(frozen=True)
class ChunkFacts:
    tenant: str
    doc_id: str
    chunk_index: int
    chunk_count: int
    content_hash: str
    content_sha: str  # title, text, search text and metadata as stored
    token_count: int


@dataclass
class Snapshot:
    """chunks: chunk pk -> facts. tokens: chunk pk -> token vectors stored for it (by content
    hash). orphans: token rows whose chunk is missing or carries another content hash."""

    chunks: dict[str, ChunkFacts] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    token_rows: int = 0
    orphans: list[str] = field(default_factory=list)

    def documents(self) -> dict[tuple[str, str], list[ChunkFacts]]:
        docs: dict[tuple[str, str], list[ChunkFacts]] = defaultdict(list)
        for facts in self.chunks.values():
            docs[(facts.tenant, facts.doc_id)].append(facts)
        return docs

    def digest(self) -> str:
        """One hash over every chunk's facts and token count: equal iff the data is equal."""
        h = hashlib.sha256()
        for pk in sorted(self.chunks):
            h.update(json.dumps([pk, *vars(self.chunks[pk]).values()]).encode())
            h.update(str(self.tokens.get(pk, 0)).encode())
        h.update(str(len(self.orphans)).encode())
        return h.hexdigest()


def _content_sha(row: dict[str, Any]) -> str:
    payload = [
        row.get(C.TITLE_FIELD),
        row.get(C.TEXT_FIELD),
        row.get(C.SEARCH_TEXT_FIELD),
        row.get(C.METADATA_FIELD),
    ]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def take(store: MilvusStore, collection: str, tenant: str | None = None) -> Snapshot:
    """Every chunk row (and its token rows) of `collection`, or of one tenant in it."""
    expr = f"{C.TENANT_FIELD} == {string_literal(tenant)}" if tenant else ""
    snap = Snapshot()
    if not store.has_collection(collection):
        return snap
    fields = [
        C.TENANT_FIELD,
        C.DOC_ID_FIELD,
        C.CHUNK_INDEX_FIELD,
        C.CHUNK_COUNT_FIELD,
        C.CONTENT_HASH_FIELD,
        C.TOKEN_COUNT_FIELD,
        C.TITLE_FIELD,
        C.TEXT_FIELD,
        C.SEARCH_TEXT_FIELD,
        C.METADATA_FIELD,
    ]
    for row in store.query_all(collection, expr, fields):
        snap.chunks[row[C.PK_FIELD]] = ChunkFacts(
            tenant=row[C.TENANT_FIELD],
            doc_id=row[C.DOC_ID_FIELD],
            chunk_index=int(row[C.CHUNK_INDEX_FIELD]),
            chunk_count=int(row[C.CHUNK_COUNT_FIELD]),
            content_hash=row[C.CONTENT_HASH_FIELD],
            content_sha=_content_sha(row),
            token_count=int(row[C.TOKEN_COUNT_FIELD]),
        )
    colbert = collection + C.COLBERT_SUFFIX
    if not store.has_collection(colbert):
        return snap
    token_fields = [C.TOKEN_CHUNK_FIELD, C.CONTENT_HASH_FIELD]
    if _BLOCK_TOKENS:
        token_fields.append(_BLOCK_TOKENS)
    for row in store.query_all(colbert, expr, token_fields):
        snap.token_rows += 1
        chunk_pk = row[C.TOKEN_CHUNK_FIELD]
        owner = snap.chunks.get(chunk_pk)
        if owner is None or owner.content_hash != row[C.CONTENT_HASH_FIELD]:
            snap.orphans.append(str(row[C.TOKEN_PK_FIELD]))
            continue
        vectors = int(row[_BLOCK_TOKENS]) if _BLOCK_TOKENS else 1
        snap.tokens[chunk_pk] = snap.tokens.get(chunk_pk, 0) + vectors
    return snap


def completeness_problems(snap: Snapshot, expected_ids: list[str], tenant: str) -> list[str]:
    """Every expected document present exactly once and whole; nothing else; no orphans."""
    problems: list[str] = []
    docs = snap.documents()
    present = {doc_id for (t, doc_id) in docs if t == tenant}
    missing = sorted(set(expected_ids) - present)
    extra = sorted(present - set(expected_ids))
    if missing:
        problems.append(f"{len(missing)} documents missing, e.g. {missing[:3]}")
    if extra:
        problems.append(f"{len(extra)} unexpected documents, e.g. {extra[:3]}")
    for (_, doc_id), chunks in sorted(docs.items()):
        indexes = sorted(c.chunk_index for c in chunks)
        counts = {c.chunk_count for c in chunks}
        hashes = {c.content_hash for c in chunks}
        if indexes != list(range(len(chunks))) or counts != {len(chunks)}:
            problems.append(f"{doc_id}: chunks {indexes} but chunk_count {sorted(counts)}")
        if len(hashes) != 1:
            problems.append(f"{doc_id}: {len(hashes)} content versions mixed")
    for pk, facts in snap.chunks.items():
        if snap.tokens.get(pk, 0) != facts.token_count:
            problems.append(
                f"{pk}: {snap.tokens.get(pk, 0)} token vectors, {facts.token_count} expected"
            )
    if snap.orphans:
        problems.append(f"{len(snap.orphans)} orphan ColBERT rows, e.g. {snap.orphans[:3]}")
    return problems[:20]


def difference(snap: Snapshot, reference: Snapshot) -> list[str]:
    """Chunk for chunk, what differs from a reference snapshot of the same documents."""
    problems: list[str] = []
    only_here = sorted(set(snap.chunks) - set(reference.chunks))
    only_there = sorted(set(reference.chunks) - set(snap.chunks))
    if only_here:
        problems.append(f"{len(only_here)} chunks not in the reference, e.g. {only_here[:3]}")
    if only_there:
        problems.append(f"{len(only_there)} reference chunks missing, e.g. {only_there[:3]}")
    changed = [
        pk
        for pk in set(snap.chunks) & set(reference.chunks)
        if snap.chunks[pk] != reference.chunks[pk]
        or snap.tokens.get(pk) != reference.tokens.get(pk)
    ]
    if changed:
        problems.append(
            f"{len(changed)} chunks differ from the reference, e.g. {sorted(changed)[:3]}"
        )
    return problems
