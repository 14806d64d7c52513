"""ColBERT storage kinds on a real Milvus Lite: what is recorded, stored, read back and scored,
kept consistent with the chunk rows through replaces and deletes, and old float32 collections."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hybrid_search.errors import ConfigError, RouteError, SchemaMismatchError
from hybrid_search.factory import build_store, collection_spec
from hybrid_search.store import ops
from hybrid_search.store.token_rows import PAYLOAD_FIELD, tokens_per_row
from hybrid_search.tokens import decode, encode, maxsim, pool_tokens
from ingest.pipeline import IngestJob, IngestOptions
from ingest.readers import read_paths
from schemas import collection as C
from tests.store.memory_store import fetch_token_vectors, write_documents

DOCS = [
    {"id": "en-1", "title": "Hybrid search", "text": "Dense vectors and BM25 work together. " * 40},
    {
        "id": "zh-1",
        "title": "北京",
        "text": "北京是中华人民共和国的首都，也是全国的政治、文化中心。" * 6,
    },
    {"id": "mix-1", "text": "Milvus 是一个开源的向量数据库 with sparse vectors."},
]


def _ingest(store, encoder, spec, tmp_path: Path, docs=DOCS) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "d.jsonl"
    src.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), "utf-8")
    opts = IngestOptions(max_chunk_tokens=128, chunk_overlap_tokens=16, batch_tokens=2048)
    summary = IngestJob(store, encoder, spec, opts).run(read_paths([src]))
    assert summary.failed == 0


def _chunks(store, spec) -> list[dict]:  # type: ignore[type-arg]
    return store.query_all(
        spec.name, "", [C.PK_FIELD, C.SEARCH_TEXT_FIELD, C.TOKEN_COUNT_FIELD, C.CONTENT_HASH_FIELD]
    )


@pytest.mark.parametrize("kind", ["binary", "int8"])
def test_packed_kinds_store_what_the_codec_promises(tmp_path, settings, encoder, kind) -> None:  # type: ignore[no-untyped-def]
    s = settings.model_copy(update={"colbert_storage": kind, "colbert_pool_factor": 1})
    store = build_store(s)
    spec = collection_spec(s, encoder)
    assert spec.colbert_storage == kind
    _ingest(store, encoder, spec, tmp_path)
    assert store.describe(spec.name).colbert_storage == kind  # recorded with the collection
    chunks = _chunks(store, spec)
    pks = [r[C.PK_FIELD] for r in chunks]
    counts = {r[C.PK_FIELD]: int(r[C.TOKEN_COUNT_FIELD]) for r in chunks}
    ref = encoder.encode_documents([r[C.SEARCH_TEXT_FIELD] for r in chunks]).colbert
    by_key = fetch_token_vectors(store, spec.name, "default", pks, counts)
    by_chunk = fetch_token_vectors(store, spec.name, "default", pks)
    for r, want in zip(chunks, ref, strict=True):
        # encoded in other batches than at ingest: a value within rounding of 0 (or of an
        # int8 step) may land on the other side, by one sign or one step
        clear = np.abs(want) > 1e-4
        expect = decode(encode(want, kind))
        for got in (by_key[r[C.PK_FIELD]], by_chunk[r[C.PK_FIELD]]):
            np.testing.assert_allclose(
                got[clear], expect[clear], atol=1e-5 if kind == "binary" else 8e-3
            )
        assert counts[r[C.PK_FIELD]] == len(want)
    rows = store.query_all(spec.colbert_collection, "", [PAYLOAD_FIELD, C.BLOCK_TOKENS_FIELD])
    assert all(isinstance(x[PAYLOAD_FIELD], str) and x[PAYLOAD_FIELD].isascii() for x in rows)
    assert sum(int(x[C.BLOCK_TOKENS_FIELD]) for x in rows) == sum(counts.values())
    assert ops.stats(store, spec.name).colbert_rows == len(rows)
    # another tenant's keys are never read
    assert fetch_token_vectors(store, spec.name, "other", pks, counts) == {}
    store.close()


def test_rows_split_at_the_varchar_limit_and_token_search_is_refused(
    tmp_path, settings, encoder
) -> None:  # type: ignore[no-untyped-def]
    assert tokens_per_row("binary", 1024) == 447 and tokens_per_row("int8", 1024) == 55
    store = build_store(settings)
    spec = collection_spec(settings, encoder)
    assert spec.colbert_storage == "binary"  # the default
    # int8 at BGE-M3's width: 55 tokens per row, so a chunk of 130 tokens spans 3 rows
    from hybrid_search.store.milvus import MilvusStore
    from hybrid_search.store.types import ChunkRow

    assert isinstance(store, MilvusStore)
    spec8 = C.CollectionSpec(
        name="long", dense_dim=4, colbert_dim=1024, model="m", colbert_storage="int8"
    )
    store.ensure_collection(spec8)
    want = np.random.default_rng(0).standard_normal((130, 1024)).astype(np.float32)
    row = ChunkRow(
        "default", "long", 0, 1, "", "t", "t", {}, "h", np.ones(4, np.float32), {1: 1.0}, want
    )
    write_documents(store, spec8, "default", [row], {"long": "h"})
    pk = row.pk
    rows = store.query_all(
        spec8.colbert_collection, "", [C.BLOCK_INDEX_FIELD, C.BLOCK_TOKENS_FIELD]
    )
    assert sorted((r[C.BLOCK_INDEX_FIELD], r[C.BLOCK_TOKENS_FIELD]) for r in rows) == [
        (0, 55),
        (1, 55),
        (2, 20),
    ]
    got = fetch_token_vectors(store, "long", "default", [pk], {pk: 130})
    np.testing.assert_allclose(got[pk], decode(encode(want, "int8")), atol=1e-6)
    np.testing.assert_allclose(got[pk], want, atol=float(np.abs(want).max()) / 254 + 1e-6)
    assert not ops.can_search_tokens(store, "long")
    with pytest.raises(RouteError, match="colbert_storage=float32 and colbert_block_tokens=1"):
        ops.search_tokens(store, "long", want[:2], tenant="default", limit=5)
    with pytest.raises(ConfigError, match="colbert_block_tokens=1 needs colbert_storage=float32"):
        collection_spec(
            settings.model_copy(update={"colbert_storage": "binary", "colbert_block_tokens": 1}),
            encoder,
        )
    auto = settings.model_copy(update={"colbert_block_tokens": 1})
    assert collection_spec(auto, encoder).colbert_storage == "float32"
    none = collection_spec(settings.model_copy(update={"colbert_storage": "none"}), encoder)
    assert none.colbert_dim is None
    store.close()


@pytest.mark.parametrize("kind", ["binary", "int8"])
def test_scoring_reads_in_groups_and_equals_maxsim_per_chunk(settings, kind) -> None:  # type: ignore[no-untyped-def]
    """score_token_vectors reads the rows in SCORE_GROUPS groups, overlapping reads with
    MaxSim; the scores must be exactly those of MaxSim on each chunk's stored tokens, for
    chunks of one row and of several, another tenant's chunks left out."""
    from hybrid_search.store.token_rows import SCORE_GROUPS
    from hybrid_search.store.types import ChunkRow

    store = build_store(settings)
    spec = C.CollectionSpec(
        name=f"groups_{kind}", dense_dim=4, colbert_dim=1024, model="m", colbert_storage=kind
    )
    store.ensure_collection(spec)
    rng = np.random.default_rng(1)
    rows, counts = [], {}
    for i in range(3 * SCORE_GROUPS + 1):
        n = [3, 60, 130, 1][i % 4]  # int8: 55 tokens per row, so 1 to 3 rows per chunk
        tenant = "default" if i % 5 else "other"
        toks = rng.standard_normal((n, 1024)).astype(np.float32)
        row = ChunkRow(
            tenant, f"d{i}", 0, 1, "", "t", "t", {}, "h", np.ones(4, np.float32), {1: 1.0}, toks
        )
        write_documents(store, spec, tenant, [row], {row.doc_id: "h"})
        rows.append(row)
        counts[row.pk] = n
    q = rng.standard_normal((7, 1024)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    pks = [r.pk for r in rows]
    got = store.score_token_vectors(spec.name, "default", q, pks, counts)
    mine = [r for r in rows if r.tenant == "default"]
    assert sorted(got) == sorted(r.pk for r in mine)
    for r in mine:
        assert r.colbert is not None
        assert got[r.pk] == pytest.approx(maxsim(q, encode(r.colbert, kind)), abs=1e-5)
    # without token counts the rows are found by chunk key, with the same scores
    by_chunk = store.score_token_vectors(spec.name, "default", q, pks)
    assert by_chunk == pytest.approx(got, abs=1e-6)
    store.close()


def test_replace_and_delete_keep_tokens_with_their_chunks(tmp_path, settings, encoder) -> None:  # type: ignore[no-untyped-def]
    store = build_store(settings)
    spec = collection_spec(settings, encoder)
    _ingest(store, encoder, spec, tmp_path)
    _ingest(store, encoder, spec, tmp_path, [dict(DOCS[0], text="Now a short text."), *DOCS[1:]])
    chunks = {r[C.PK_FIELD]: r for r in _chunks(store, spec)}
    tokens = store.query_all(
        spec.colbert_collection,
        "",
        [C.TOKEN_CHUNK_FIELD, C.CONTENT_HASH_FIELD, C.BLOCK_TOKENS_FIELD],
    )
    per_chunk: dict[str, int] = {}
    for t in tokens:  # every token row belongs to a live chunk of the same version
        assert t[C.CONTENT_HASH_FIELD] == chunks[t[C.TOKEN_CHUNK_FIELD]][C.CONTENT_HASH_FIELD]
        per_chunk[t[C.TOKEN_CHUNK_FIELD]] = per_chunk.get(t[C.TOKEN_CHUNK_FIELD], 0) + int(
            t[C.BLOCK_TOKENS_FIELD]
        )
    assert per_chunk == {pk: int(r[C.TOKEN_COUNT_FIELD]) for pk, r in chunks.items()}
    assert store.delete(spec.name, "default", ["en-1"]) == 1
    left = store.query_all(spec.colbert_collection, "", [C.TOKEN_CHUNK_FIELD])
    assert left and all(not t[C.TOKEN_CHUNK_FIELD].startswith("default/en-1#") for t in left)
    store.close()


def test_float32_collections_keep_working(tmp_path, settings, encoder, tiny_models) -> None:  # type: ignore[no-untyped-def]
    """A collection written as float32 (as every collection before compressed storage) is read
    as float32 by a default (binary) configuration; writing it with binary is refused, saying
    how to go on."""
    from hybrid_search.rerank.bge import BGEReranker
    from hybrid_search.searcher import HybridSearcher

    old = settings.model_copy(update={"colbert_storage": "float32"})
    store = build_store(old)
    _ingest(store, encoder, collection_spec(old, encoder), tmp_path)
    store.close()

    store = build_store(settings)  # the default configuration: binary
    assert store.describe(settings.collection).colbert_storage == "float32"
    reranker = BGEReranker(str(tiny_models.reranker_model), device="cpu")
    searcher = HybridSearcher(
        store, encoder, reranker, collection=settings.collection, settings=settings
    )
    q = "dense vectors"
    r = searcher.search(q, routes=["bm25", "colbert"], rerank=False, group_by_doc=False, top_k=3)
    assert r.hits and not r.degraded
    qv = encoder.encode_queries([q]).colbert[0]
    texts = {
        x[C.CHUNK_ID_FIELD]: x[C.SEARCH_TEXT_FIELD]
        for x in store.query_all(settings.collection, "", [C.CHUNK_ID_FIELD, C.SEARCH_TEXT_FIELD])
    }
    for h in r.hits:
        pv = encoder.encode_documents([texts[h.chunk_id]]).colbert[0]
        exact = float((qv @ pv.T).max(axis=1).mean())
        assert h.routes["colbert"].score == pytest.approx(exact, abs=1e-5)  # float32: exact
        assert maxsim(qv, encode(pv, "binary")) != pytest.approx(exact, abs=1e-5)
    searcher.close()  # closes its store too
    store = build_store(settings)
    with pytest.raises(SchemaMismatchError, match="HYBRID_SEARCH_COLBERT_STORAGE=float32"):
        _ingest(store, encoder, collection_spec(settings, encoder), tmp_path)
    store.close()


def test_compressed_kinds_pool_tokens_by_two_and_the_collection_keeps_its_factor(
    tmp_path, settings, encoder
) -> None:  # type: ignore[no-untyped-def]
    """binary and int8 store document tokens pooled by 2 (recorded with the collection);
    a collection keeps the factor it was created with when the setting is left unset, and an
    explicit other factor is refused with what to do."""
    store = build_store(settings)
    spec = collection_spec(settings, encoder)
    assert (spec.colbert_storage, spec.colbert_pool, spec.pool_factor) == ("binary", None, 2)
    _ingest(store, encoder, spec, tmp_path)
    assert store.describe(spec.name).pool_factor == 2
    chunks = _chunks(store, spec)
    full = encoder.encode_documents([r[C.SEARCH_TEXT_FIELD] for r in chunks]).colbert
    counts = {r[C.PK_FIELD]: int(r[C.TOKEN_COUNT_FIELD]) for r in chunks}
    got = fetch_token_vectors(store, spec.name, "default", list(counts), counts)
    for r, tokens in zip(chunks, full, strict=True):
        pk = r[C.PK_FIELD]
        assert counts[pk] == len(pool_tokens(tokens, 2)) == max(1, len(tokens) // 2)
        assert got[pk].shape == (counts[pk], tokens.shape[1])
    # explicit factor 1 against this collection: refused, naming the setting
    one = settings.model_copy(update={"colbert_pool_factor": 1})
    with pytest.raises(SchemaMismatchError, match="HYBRID_SEARCH_COLBERT_POOL_FACTOR=2"):
        _ingest(store, encoder, collection_spec(one, encoder), tmp_path)
    # a collection created unpooled (as every one before pooling existed) stays unpooled
    other = settings.model_copy(update={"collection": "unpooled", "colbert_pool_factor": 1})
    _ingest(store, encoder, collection_spec(other, encoder), tmp_path)
    default = settings.model_copy(update={"collection": "unpooled"})
    late = {"id": "en-2", "title": "Late", "text": "Late interaction scores every token. " * 9}
    _ingest(store, encoder, collection_spec(default, encoder), tmp_path, docs=[*DOCS, late])
    rows = store.query_all("unpooled", "", [C.SEARCH_TEXT_FIELD, C.TOKEN_COUNT_FIELD])
    assert any(r[C.SEARCH_TEXT_FIELD].startswith("Late") for r in rows)
    ref = encoder.encode_documents([r[C.SEARCH_TEXT_FIELD] for r in rows]).colbert
    assert [int(r[C.TOKEN_COUNT_FIELD]) for r in rows] == [len(t) for t in ref]
    # float32 stays exact: no pooling
    f32 = settings.model_copy(update={"colbert_storage": "float32"})
    assert collection_spec(f32, encoder).pool_factor == 1
    store.close()
