"""The ingestion pipeline: documents in windows -> skip unchanged -> chunk -> encode -> write.
Encoding runs on the calling thread, writes on `ingest.writer`'s thread; memory is bounded by the
window and batch token budgets, not by the corpus size."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from hybrid_search.encoders.base import EncodedBatch, Encoder
from hybrid_search.errors import HybridSearchError, IngestError, StoreUnavailableError
from hybrid_search.retry import call_with_recovery, needs_reload
from hybrid_search.store import ops
from hybrid_search.store.base import VectorStore
from hybrid_search.store.types import ChunkRow, DocState
from hybrid_search.tokens.pooling import pool_tokens
from ingest.blocks import Block
from ingest.chunking import CHUNKER_VERSION, Chunk, chunk_text
from ingest.readers import Record, Skipped, SourceDoc
from ingest.writer import Writer, batches, windows
from schemas.collection import CollectionSpec
from schemas.documents import (
    Document,
    DocumentOutcome,
    DocumentStatus,
    IngestErrorItem,
    IngestSummary,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: the summary lists at most this many errors; `failed` still counts them all
MAX_REPORTED_ERRORS = 1000


#: chunk rows per store call of a window's commit when the job gives way (`serve`): searches go
#: between the calls, so a long commit does not hold Milvus for seconds at a stretch
#: (docs/design.md); without `give_way` a commit is one call (the store batches it)
COMMIT_ROWS = 64


@dataclass(frozen=True)
class IngestOptions:
    tenant: str = "default"
    max_chunk_tokens: int = 512
    chunk_overlap_tokens: int = 64
    batch_tokens: int = 16_384
    batch_size: int = 64
    window_documents: int = 256
    window_tokens: int = 262_144
    delete_missing: bool = False
    #: runs of one window's read or write when Milvus went away (each run already retries
    #: transient errors per call): the job rides out a Milvus restart instead of failing
    recover_attempts: int = 3


def content_hash(
    doc: Document, tenant: str, options: IngestOptions, model: str, blocks: Sequence[Block] = ()
) -> str:
    """Changes when the document, its structure, its tenant, the chunking or the model changes."""
    payload = json.dumps(
        [
            CHUNKER_VERSION,
            [(b.text, b.section, b.page) for b in blocks],
            tenant,
            doc.id,
            doc.title,
            doc.text,
            doc.metadata,
            options.max_chunk_tokens,
            options.chunk_overlap_tokens,
            model.rstrip("/").rsplit("/", 1)[-1],
        ],
        ensure_ascii=False,
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class _Pending:
    doc: Document
    hash: str
    chunks: list[Chunk]
    kind: str  # inserted | replaced | redone


class _Stopped(Exception):
    """`stop` said so inside a window: its `unwritten` documents were not committed, and the
    `fresh` ones among them (not yet stored) may have token vectors written ahead."""

    def __init__(self, reason: str, unwritten: list[str], fresh: list[str]) -> None:
        super().__init__(reason)
        self.reason, self.unwritten, self.fresh = reason, unwritten, fresh


@dataclass
class _Outcome:
    summary: IngestSummary
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: input position -> outcome, when the caller asked for one outcome per document
    statuses: dict[int, DocumentOutcome] | None = None
    #: doc id -> input position of the documents being written
    positions: dict[str, int] = field(default_factory=dict)

    def error(self, err: IngestError | IngestErrorItem, position: int | None = None) -> None:
        with self.lock:
            self.summary.failed += 1
            if isinstance(err, IngestError):
                err = IngestErrorItem(message=err.message, **err.details)
            if len(self.summary.errors) < MAX_REPORTED_ERRORS:
                self.summary.errors.append(err)
            if position is None and err.doc_id is not None:
                position = self.positions.get(err.doc_id)
            self._status(position, err.doc_id, "failed", err.message)

    def not_written(self, doc_id: str | None, reason: str, position: int | None = None) -> None:
        message = f"not written: the job stopped ({reason})"
        self.error(IngestErrorItem(doc_id=doc_id, message=message), position)

    def status(self, doc_id: str, status: DocumentStatus) -> None:
        self._status(self.positions.get(doc_id), doc_id, status, None)

    def _status(
        self, position: int | None, doc_id: str | None, status: DocumentStatus, error: str | None
    ) -> None:
        if self.statuses is not None and position is not None:
            self.statuses[position] = DocumentOutcome(
                index=position, id=doc_id, status=status, error=error
            )


class IngestJob:
    """Ingests records into one collection for one tenant; see `run`."""

    def __init__(
        self,
        store: VectorStore,
        encoder: Encoder,
        spec: CollectionSpec,
        options: IngestOptions,
        *,
        progress: Callable[[int], None] | None = None,
        give_way: Callable[[], None] | None = None,
    ) -> None:
        self.store, self.encoder, self.spec, self.options = store, encoder, spec, options
        self._progress = progress or (lambda n: None)
        self._give_way = give_way or (lambda: None)  # before each encode batch and commit call
        self._paced = give_way is not None  # a commit in COMMIT_ROWS calls, to give way between
        self._pool_factor = 1  # the collection's ColBERT token pooling, read by `run`

    def validate(self, records: Iterable[Record]) -> list[IngestError]:
        """--strict: every problem in the input, found before anything is written."""
        errors: list[IngestError] = []
        seen: dict[str, str] = {}
        for rec in records:
            if isinstance(rec, IngestError):
                errors.append(rec)
            elif isinstance(rec, SourceDoc) and (err := self._duplicate(rec, seen)) is not None:
                errors.append(err)
        return errors

    @staticmethod
    def _duplicate(rec: SourceDoc, seen: dict[str, str]) -> IngestError | None:
        where = f"{rec.source}:{rec.line}" if rec.line else rec.source
        first = seen.get(rec.doc.id)
        if first is not None:
            return IngestError(
                f"duplicate id '{rec.doc.id}' in this run (first seen at {first}); kept the first",
                source=rec.source,
                line=rec.line,
                field="id",
                doc_id=rec.doc.id,
            )
        seen[rec.doc.id] = where
        return None

    def run(
        self,
        records: Iterable[Record],
        *,
        stop: Callable[[], str | None] | None = None,
        outcomes: bool = False,
    ) -> IngestSummary:
        """Ingest `records`; the summary counts what happened. `stop` is asked between windows and
        encode batches: a reason ("deadline", "cancelled") ends the job there, committing only the
        windows already encoded. `outcomes`: one outcome per input record, in input order."""
        started = time.perf_counter()
        outcome = _Outcome(IngestSummary(), statuses={} if outcomes else None)
        summary = outcome.summary
        seen: dict[str, str] = {}
        retries_before = self.store.retries.count
        self.store.ensure_collection(self.spec)
        # the collection's recorded pooling wins: its documents all hold tokens pooled alike
        self._pool_factor = (
            self.store.describe(self.spec.name).pool_factor if self.spec.colbert_dim else 1
        )
        remaining = enumerate(records)

        def good_docs() -> Iterator[SourceDoc]:
            for position, rec in remaining:
                if isinstance(rec, Skipped):
                    summary.skipped[rec.source] = rec.reason
                elif isinstance(rec, IngestError):
                    outcome.error(rec, position)
                    self._progress(1)
                elif (err := self._duplicate(rec, seen)) is not None:
                    outcome.error(err, position)
                    self._progress(1)
                else:
                    summary.documents += 1
                    outcome.positions[rec.doc.id] = position
                    yield rec

        writer = Writer()
        try:
            max_chars = self.options.window_tokens * 4
            for window in windows(good_docs(), self.options.window_documents, max_chars):
                try:
                    self._ingest_window(window, writer, outcome, stop or (lambda: None))
                except _Stopped as stopped:
                    summary.stopped = stopped.reason
                    self._abandon(stopped, writer, outcome)
                    break
                self._progress(len(window))
                if stop is not None and (reason := stop()) is not None:
                    summary.stopped = reason
                    break
            writer.close()
        except BaseException:
            writer.abort()
            raise
        if summary.stopped is not None:
            for position, rec in remaining:  # never read: say so for each
                if not isinstance(rec, Skipped):
                    doc_id = rec.doc_id if isinstance(rec, IngestError) else rec.doc.id
                    outcome.not_written(doc_id, summary.stopped, position)
        if outcome.statuses is not None:
            summary.outcomes = [outcome.statuses[i] for i in sorted(outcome.statuses)]
        if self.options.delete_missing:
            summary.deleted = self._delete_missing(set(seen), summary)
        summary.retries = self.store.retries.count - retries_before
        summary.seconds = round(time.perf_counter() - started, 3)
        return summary

    def _abandon(self, stopped: _Stopped, writer: Writer, outcome: _Outcome) -> None:
        """A window stopped before its commit: its pending documents fail, and token vectors written
        ahead for the new ones are dropped (a stopped replacement is redone by the next write)."""
        if stopped.fresh and self.spec.colbert_dim:
            writer.submit(
                partial(self.store.delete, self.spec.name, self.options.tenant, stopped.fresh)
            )
        for doc_id in stopped.unwritten:
            outcome.not_written(doc_id, stopped.reason)

    @staticmethod
    def _stopped(reason: str, pending: list[_Pending]) -> _Stopped:
        fresh = [p.doc.id for p in pending if p.kind != "replaced"]
        return _Stopped(reason, [p.doc.id for p in pending], fresh)

    def _ingest_window(
        self,
        window: list[SourceDoc],
        writer: Writer,
        outcome: _Outcome,
        stop: Callable[[], str | None],
    ) -> None:
        summary, opts = outcome.summary, self.options
        ids = [w.doc.id for w in window]
        states: dict[str, DocState] = self._recovering(
            lambda: ops.doc_states(self.store, self.spec.name, opts.tenant, ids),
            "read document states",
        )
        new = [i for i in ids if i not in states]
        interrupted = self._recovering(lambda: self._interrupted(new), "read interrupted documents")
        pending: list[_Pending] = []
        tokenizer = self.encoder.tokenizer
        for n, item in enumerate(window):
            if (reason := stop()) is not None:  # chunking a large document takes seconds
                unwritten = [p.doc.id for p in pending] + [w.doc.id for w in window[n:]]
                raise _Stopped(reason, unwritten, [])
            doc = item.doc
            h = content_hash(doc, opts.tenant, opts, self.spec.model, item.blocks)
            state = states.get(doc.id)
            if state is not None and state.is_complete(h):
                summary.unchanged += 1
                outcome.status(doc.id, "unchanged")
                continue
            if state is None:
                kind = "redone" if doc.id in interrupted else "inserted"
            else:
                kind = "redone" if h in state.hashes else "replaced"
            chunks = chunk_text(
                doc.text,
                doc.title,
                tokenizer,
                max_tokens=opts.max_chunk_tokens,
                overlap=opts.chunk_overlap_tokens,
                blocks=item.blocks,
            )
            pending.append(_Pending(doc, h, chunks, kind))
        if not pending:
            return

        flat = [(i, c) for i, p in enumerate(pending) for c in p.chunks]
        encoded: dict[tuple[int, int], ChunkRow] = {}
        for batch in batches(flat, opts.batch_tokens, opts.batch_size):
            self._give_way()
            if (reason := stop()) is not None:  # one large document is many batches
                raise self._stopped(reason, pending)
            enc: EncodedBatch = self.encoder.encode_documents([c.search_text for _, c in batch])
            token_rows: list[ChunkRow] = []
            for j, (i, c) in enumerate(batch):
                assert enc.dense is not None
                count = 0
                if enc.colbert is not None and self.spec.colbert_dim:
                    tokens = pool_tokens(enc.colbert[j], self._pool_factor)
                    count = len(tokens)
                    token_rows.append(self._row(pending[i], c, enc.dense[j], {}, tokens))
                # a dense-only encoder stores an empty sparse row (the sparse route: unavailable)
                sparse = enc.sparse[j] if enc.sparse is not None else {}
                encoded[(i, c.index)] = self._row(pending[i], c, enc.dense[j], sparse, None, count)
            if token_rows and self.spec.colbert_dim:
                write = partial(self.store.upsert, self.spec, opts.tenant, token_rows)
                writer.submit(partial(self._recovering, write, "write token vectors"))

        rows = [encoded[(i, c.index)] for i, p in enumerate(pending) for c in p.chunks]
        hashes = {p.doc.id: p.hash for p in pending}
        if (reason := stop()) is not None:
            raise self._stopped(reason, pending)

        def commit() -> None:
            try:
                step = COMMIT_ROWS if self._paced else max(1, len(rows))
                for start in range(0, len(rows), step):
                    self._give_way()  # a large window is many store calls: searches go between
                    part = rows[start : start + step]
                    # each document's other versions go with the call holding its first row
                    part_hashes = {r.doc_id: hashes[r.doc_id] for r in part if r.chunk_index == 0}
                    self._recovering(
                        partial(self.store.upsert, self.spec, opts.tenant, part, part_hashes),
                        "commit documents",
                    )
            except StoreUnavailableError:
                raise
            except HybridSearchError as exc:  # a permanent error fails this window, not the job
                for p in pending:
                    outcome.error(IngestErrorItem(doc_id=p.doc.id, message=f"write failed: {exc}"))
                return
            with outcome.lock:
                for p in pending:
                    replaced = p.kind == "replaced"
                    outcome.status(p.doc.id, "replaced" if replaced else "inserted")
                    summary.chunks += len(p.chunks)
                    summary.replaced += replaced
                    summary.inserted += not replaced
                    summary.redone += p.kind == "redone"

        writer.submit(commit)

    def _interrupted(self, doc_ids: list[str]) -> set[str]:
        """Documents with ColBERT rows but no chunk row (a run stopped before committing them)."""
        if not doc_ids or not self.spec.colbert_dim:
            return set()
        return ops.docs_with_token_vectors(self.store, self.spec.name, self.options.tenant, doc_ids)

    def _recovering(self, fn: Callable[[], T], what: str) -> T:
        """Run one idempotent read or write, riding out a Milvus restart (see `_recover`)."""
        return call_with_recovery(
            fn,
            self._recover,
            attempts=self.options.recover_attempts,
            what=what,
            counter=self.store.retries,
        )

    def _recover(self, exc: BaseException) -> bool:
        """Milvus went away or came back with the collections released: wait, reload, and say
        whether to run the (idempotent) failed work again."""
        if not isinstance(exc, StoreUnavailableError) and not needs_reload(exc):
            return False
        try:
            self.store.health()  # retries transient errors itself
            self.store.sync(self.spec, reload=True)
        except Exception as err:  # still down: the next run of the work retries again
            logger.warning("Milvus not back yet: %s", err)
        return True

    def _row(
        self,
        p: _Pending,
        c: Chunk,
        dense: Any,
        sparse: dict[int, float],
        colbert: Any,
        token_count: int | None = None,
    ) -> ChunkRow:
        return ChunkRow(
            tenant=self.options.tenant,
            doc_id=p.doc.id,
            chunk_index=c.index,
            chunk_count=len(p.chunks),
            title=p.doc.title,
            text=c.text,
            search_text=c.search_text,
            metadata={**p.doc.metadata, **c.metadata()},
            content_hash=p.hash,
            dense=dense,
            sparse=sparse,
            colbert=colbert,
            token_count=token_count,
        )

    def _delete_missing(self, seen: set[str], summary: IngestSummary) -> int:
        if summary.failed:
            logger.warning("--delete-missing skipped: %d records failed to read", summary.failed)
            return 0
        stale = [
            d
            for d in ops.iter_doc_ids(self.store, self.spec.name, self.options.tenant)
            if d not in seen
        ]
        for i in range(0, len(stale), 512):
            self.store.delete(self.spec.name, self.options.tenant, stale[i : i + 512])
        return len(stale)
