"""The ingestion job against a real Milvus Lite with the tiny BGE-M3."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from hybrid_search.errors import SchemaMismatchError
from hybrid_search.filtering import parse_filter
from hybrid_search.store import ops
from hybrid_search.store.expressions import compile_filter
from hybrid_search.tokens import decode, encode, pool_tokens
from ingest import pipeline
from ingest.blocks import Block
from ingest.pipeline import IngestJob, IngestOptions
from ingest.readers import SourceDoc, read_paths
from schemas import collection as C
from schemas.documents import Document
from tests.store.memory_store import fetch_token_vectors

DOCS = [
    {"id": "en-1", "title": "Hybrid search", "text": "Dense vectors and BM25 work together. " * 40},
    {
        "id": "zh-1",
        "title": "北京",
        "text": "北京是中华人民共和国的首都，也是全国的政治、文化中心。" * 10,
    },
    {"id": "mix-1", "text": "Milvus 是一个开源的向量数据库 with sparse vectors.", "lang": "mixed"},
]


def write_jsonl(path: Path, docs: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), "utf-8")
    return path


def job(store, encoder, spec, settings, **kw):  # type: ignore[no-untyped-def]
    opts = IngestOptions(
        tenant=kw.pop("tenant", "default"),
        max_chunk_tokens=settings.max_chunk_tokens,
        chunk_overlap_tokens=settings.chunk_overlap_tokens,
        batch_tokens=2048,
        window_documents=kw.pop("window_documents", 2),
        **kw,
    )
    return IngestJob(store, encoder, spec, opts)


def all_rows(store, spec):  # type: ignore[no-untyped-def]
    chunks = store.query_all(
        spec.name,
        "",
        [
            C.DOC_ID_FIELD,
            C.CHUNK_INDEX_FIELD,
            C.CHUNK_COUNT_FIELD,
            C.CONTENT_HASH_FIELD,
            C.TOKEN_COUNT_FIELD,
        ],
    )
    tokens = store.query_all(
        spec.colbert_collection,
        "",
        [C.TOKEN_CHUNK_FIELD, C.CONTENT_HASH_FIELD, C.BLOCK_TOKENS_FIELD],
    )
    return chunks, tokens


def test_stored_vectors_equal_bgem3_encode(tmp_path, store, encoder, spec, settings):  # type: ignore[no-untyped-def]
    src = write_jsonl(tmp_path / "d.jsonl", DOCS)
    summary = job(store, encoder, spec, settings).run(read_paths([src]))
    assert (summary.documents, summary.inserted, summary.failed) == (3, 3, 0)

    rows = ops.get_chunks(store, spec.name, "default", "en-1")
    assert len(rows) == rows[0].chunk_count > 1  # long enough to be split
    full = store.client.query(spec.name, filter='doc_id == "en-1"', output_fields=["*"])
    full.sort(key=lambda r: r[C.CHUNK_INDEX_FIELD])
    texts = [r[C.SEARCH_TEXT_FIELD] for r in full]
    assert all(t.startswith("Hybrid search\n\n") for t in texts)  # title in every chunk
    ref = encoder.flag_model.encode(
        texts, return_dense=True, return_sparse=True, return_colbert_vecs=True
    )
    tokens = fetch_token_vectors(store, spec.name, "default", [r[C.PK_FIELD] for r in full])
    for i, r in enumerate(full):
        np.testing.assert_allclose(np.asarray(r[C.DENSE_FIELD]), ref["dense_vecs"][i], atol=1e-5)
        want_sparse = {
            int(k): float(v) for k, v in ref["lexical_weights"][i].items() if v > 0
        } or dict(C.EMPTY_SPARSE_ROW)  # Milvus refuses empty sparse rows: a placeholder
        got_sparse = {int(k): float(v) for k, v in r[C.SPARSE_FIELD].items()}
        assert got_sparse.keys() == want_sparse.keys()
        for k in want_sparse:
            assert got_sparse[k] == pytest.approx(want_sparse[k], abs=1e-5)
        pool = store.describe(spec.name).pool_factor
        want = pool_tokens(np.asarray(ref["colbert_vecs"][i], np.float32), pool)
        if spec.colbert_storage != "float32":  # compressed: the codec's image of the vectors
            clear = np.abs(want) > 1e-4  # a sign bit of a value within rounding of 0 may flip
            want = np.where(clear, decode(encode(want, spec.colbert_storage)), 0.0)
            tokens[r[C.PK_FIELD]] = np.where(clear, tokens[r[C.PK_FIELD]], 0.0)
        np.testing.assert_allclose(tokens[r[C.PK_FIELD]], want, atol=1e-5)
        assert r[C.TOKEN_COUNT_FIELD] == len(want)
    mixed = ops.get_chunks(store, spec.name, "default", "mix-1")[0]
    assert mixed.metadata == {"lang": "mixed"}


def test_rerun_is_unchanged_and_changed_doc_leaves_no_orphans(
    tmp_path, store, encoder, spec, settings
):  # type: ignore[no-untyped-def]
    src = write_jsonl(tmp_path / "d.jsonl", DOCS)
    first = job(store, encoder, spec, settings).run(read_paths([src]))
    again = job(store, encoder, spec, settings).run(read_paths([src]))
    assert (again.unchanged, again.inserted, again.replaced, again.chunks) == (3, 0, 0, 0)
    chunks_before, tokens_before = all_rows(store, spec)
    assert len(chunks_before) == first.chunks

    shorter = [dict(DOCS[0], text="Now a short text."), *DOCS[1:]]
    write_jsonl(src, shorter)
    third = job(store, encoder, spec, settings).run(read_paths([src]))
    assert (third.replaced, third.unchanged, third.chunks) == (1, 2, 1)
    chunks, tokens = all_rows(store, spec)
    en = [r for r in chunks if r[C.DOC_ID_FIELD] == "en-1"]
    assert len(en) == 1 and en[0][C.CHUNK_COUNT_FIELD] == 1
    pks = {r[C.PK_FIELD]: r for r in chunks}
    # every token row belongs to a live chunk of the same version, and every chunk has all its tokens
    for t in tokens:
        assert t[C.TOKEN_CHUNK_FIELD] in pks
        assert t[C.CONTENT_HASH_FIELD] == pks[t[C.TOKEN_CHUNK_FIELD]][C.CONTENT_HASH_FIELD]
    per_chunk: dict[str, int] = {}
    for t in tokens:
        per_chunk[t[C.TOKEN_CHUNK_FIELD]] = (
            per_chunk.get(t[C.TOKEN_CHUNK_FIELD], 0) + t[C.BLOCK_TOKENS_FIELD]
        )
    assert per_chunk == {pk: r[C.TOKEN_COUNT_FIELD] for pk, r in pks.items()}
    assert len(tokens) < len(tokens_before)


def test_delete_removes_chunks_and_token_vectors(tmp_path, store, encoder, spec, settings):  # type: ignore[no-untyped-def]
    src = write_jsonl(tmp_path / "d.jsonl", DOCS)
    job(store, encoder, spec, settings).run(read_paths([src]))
    assert store.delete(spec.name, "default", ["en-1", "missing"]) == 1
    chunks, tokens = all_rows(store, spec)
    assert {r[C.DOC_ID_FIELD] for r in chunks} == {"zh-1", "mix-1"}
    assert all(not t[C.TOKEN_CHUNK_FIELD].startswith("default/en-1#") for t in tokens)
    st = ops.stats(store, spec.name)
    assert (st.documents, st.chunks, st.colbert_rows) == (2, len(chunks), len(tokens))


def test_tenants_are_separate(tmp_path, store, encoder, spec, settings):  # type: ignore[no-untyped-def]
    src = write_jsonl(tmp_path / "d.jsonl", DOCS[:1])
    job(store, encoder, spec, settings, tenant="a").run(read_paths([src]))
    job(store, encoder, spec, settings, tenant="b").run(read_paths([src]))
    assert store.delete(spec.name, "a", ["en-1"]) == 1
    assert ops.stats(store, spec.name, "b").documents == 1
    assert ops.stats(store, spec.name, "a").documents == 0


def test_bad_records_are_reported_and_the_rest_ingested(tmp_path, store, encoder, spec, settings):  # type: ignore[no-untyped-def]
    good = write_jsonl(tmp_path / "good.jsonl", DOCS[:1])
    job(store, encoder, spec, settings).run(read_paths([good]))
    before = sorted((r[C.PK_FIELD], r[C.CONTENT_HASH_FIELD]) for r in all_rows(store, spec)[0])

    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(
        b'{"id": "ok-1", "text": "fine"}\n'
        b'{"id": "broken", "text": \n'
        b'{"text": "no id"}\n'
        b'{"id": "no-text"}\n'
        + '{"id": "gbk", "text": "北京"}\n'.encode("gbk")
        + b'{"id": "ok-1", "text": "duplicate"}\n'
        b'{"id": "ws", "text": "   "}\n'
        b'{"id": "meta", "text": "x", "metadata": [1]}\n'
        b'["not", "an", "object"]\n'
        b'{"id": "ok-2", "text": "also fine"}'
    )
    summary = job(store, encoder, spec, settings).run(read_paths([bad]))
    assert summary.documents == 2 and summary.inserted == 2
    assert summary.failed == 8
    where = {(e.line, e.field) for e in summary.errors}
    assert (2, None) in where and (3, "id") in where and (4, "text") in where
    assert (5, None) in where and (6, "id") in where and (7, "text") in where
    assert (8, "metadata") in where and (9, None) in where
    assert all(e.source == str(bad) for e in summary.errors)
    assert any("UTF-8" in e.message for e in summary.errors if e.line == 5)
    after = sorted((r[C.PK_FIELD], r[C.CONTENT_HASH_FIELD]) for r in all_rows(store, spec)[0])
    assert set(before) <= set(after)  # nothing already stored was touched


def test_strict_fails_before_writing(tmp_path, store, encoder, spec, settings):  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "fine"}\n{"id": "b"}\n', "utf-8")
    j = job(store, encoder, spec, settings)  # what --strict runs before writing
    errors = j.validate(read_paths([bad]))
    assert len(errors) == 1 and errors[0].line == 2 and errors[0].field == "text"


def test_schema_mismatch_is_a_clear_error(store, encoder, spec):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    store.ensure_collection(spec)
    store.ensure_collection(spec)  # idempotent
    with pytest.raises(SchemaMismatchError, match="dense dim 32 != model's 64"):
        store.ensure_collection(replace(spec, dense_dim=64, colbert_dim=64))
    with pytest.raises(SchemaMismatchError, match="written by model"):
        store.ensure_collection(replace(spec, model="/models/other-model"))
    with pytest.raises(SchemaMismatchError, match="analyzer"):
        store.ensure_collection(replace(spec, analyzer="english"))


def test_delete_missing_syncs_the_tenant(tmp_path, store, encoder, spec, settings):  # type: ignore[no-untyped-def]
    src = write_jsonl(tmp_path / "d.jsonl", DOCS)
    job(store, encoder, spec, settings).run(read_paths([src]))
    write_jsonl(src, DOCS[1:])
    summary = job(store, encoder, spec, settings, delete_missing=True).run(read_paths([src]))
    assert (summary.deleted, summary.unchanged) == (1, 2)
    assert ops.stats(store, spec.name).documents == 2


def test_give_way_runs_before_every_encode_batch_and_commit_call(
    tmp_path, store, encoder, spec, settings, monkeypatch
):  # type: ignore[no-untyped-def]
    """The service's ingest jobs let interactive searches go first between encode batches, and
    between the store calls of a window's commit (a large window is many)."""
    docs = [
        {"id": f"d{i}", "text": f"document {i} about pandas and bamboo " * 40} for i in range(6)
    ]
    opts = IngestOptions(
        max_chunk_tokens=settings.max_chunk_tokens,
        chunk_overlap_tokens=settings.chunk_overlap_tokens,
        batch_tokens=256,
        window_documents=2,
    )
    monkeypatch.setattr(pipeline, "COMMIT_ROWS", 2)
    batches: list[int] = []
    calls: list[str] = []
    commits: list[int] = []
    written: list[int] = []
    original, upsert = encoder.encode_documents, store.upsert

    def counting(texts):  # type: ignore[no-untyped-def]
        batches.append(sum(name != "milvus-writer" for name in calls))
        return original(texts)

    def committing(spec, tenant, rows, hashes=None):  # type: ignore[no-untyped-def]
        if hashes is not None:
            # a document's other versions go with the call holding its first row
            assert len(rows) <= 2 and set(hashes) == {r.doc_id for r in rows if r.chunk_index == 0}
            commits.append(calls.count("milvus-writer"))
            written.append(len(rows))
        return upsert(spec, tenant, rows, hashes)

    monkeypatch.setattr(encoder, "encode_documents", counting)
    monkeypatch.setattr(store, "upsert", committing)
    give_way = lambda: calls.append(threading.current_thread().name)  # noqa: E731
    gave_way = IngestJob(store, encoder, spec, opts, give_way=give_way)
    summary = gave_way.run(read_paths([write_jsonl(tmp_path / "d.jsonl", docs)]))
    assert summary.inserted == 6 and summary.chunks > 6
    assert len(batches) > 3  # several batches, each preceded by its own give_way
    assert batches == list(range(1, len(batches) + 1))
    # the commits wrote every chunk, two rows a call, each call after its own give_way
    assert sum(written) == summary.chunks
    assert commits == list(range(1, len(commits) + 1))

    # changed documents written two rows a call: only the new versions remain, each complete
    changed = [{**d, "text": d["text"] + " Revised."} for d in docs]
    again = IngestJob(store, encoder, spec, opts, give_way=give_way)
    summary = again.run(read_paths([write_jsonl(tmp_path / "d2.jsonl", changed)]))
    assert summary.replaced == 6
    states = ops.doc_states(store, spec.name, "default", [d["id"] for d in docs])
    assert len(states) == 6
    assert all(len(st.hashes) == 1 and st.rows == st.chunk_count for st in states.values())


def test_chunks_keep_section_and_pages_and_a_new_chunker_rewrites(
    tmp_path, store, encoder, spec, settings, monkeypatch
):  # type: ignore[no-untyped-def]
    blocks = (Block("Page one text.", ("Manual", "Setup"), 1), Block("Page two.", ("Manual",), 2))
    doc = SourceDoc(Document(id="m.pdf", text="Page one text.\n\nPage two."), "m.pdf", None, blocks)
    assert job(store, encoder, spec, settings).run([doc]).chunks == 2
    flt = compile_filter(parse_filter({"field": "metadata.page_start", "op": "gte", "value": 2}))
    rows = store.query_all(spec.name, flt, [C.METADATA_FIELD, C.TEXT_FIELD])
    assert [(r[C.TEXT_FIELD], r[C.METADATA_FIELD]) for r in rows] == [
        ("Page two.", {"section": "Manual", "page_start": 2, "page_end": 2})
    ]
    assert job(store, encoder, spec, settings).run([doc]).unchanged == 1
    monkeypatch.setattr(pipeline, "CHUNKER_VERSION", "next")
    assert job(store, encoder, spec, settings).run([doc]).replaced == 1
