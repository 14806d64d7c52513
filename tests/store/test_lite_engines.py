"""The two Milvus Lite engines behind one store: a path keeps the engine that wrote it, Milvus
Lite 2.5 keeps the spec and saved defaults in a side collection, answers filters without `not`
exactly, and its file is refused, with the holder named, while another process serves it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hybrid_search.benchmarks.env import tiny_settings
from hybrid_search.errors import StoreLockedError
from hybrid_search.factory import build_store, collection_spec
from hybrid_search.filtering import parse_filter
from hybrid_search.store.lite_engines import engine_of
from hybrid_search.store.schema import PROPERTIES_COLLECTION
from hybrid_search.store.types import Scope
from ingest.pipeline import IngestJob, IngestOptions
from ingest.readers import record_from_object
from schemas import collection as C

DOCS = [
    {"id": "a", "text": "river delta sediment", "metadata": {"year": 2020}},
    {"id": "b", "text": "glacier ice core", "metadata": {"year": 2015}},
    {"id": "c", "text": "savanna grass fire", "metadata": {}},
]


def _ingest(store: Any, encoder: Any, spec: Any) -> None:
    records = [record_from_object(d, "t", i) for i, d in enumerate(DOCS)]
    opts = IngestOptions(max_chunk_tokens=48, chunk_overlap_tokens=8, tenant="t")
    IngestJob(store, encoder, spec, opts).run(records)


def _doc_ids(store: Any, name: str, f: dict[str, Any]) -> list[str]:
    rows = store.query(name, Scope("t", filter=parse_filter(f)), [C.DOC_ID_FIELD])
    return sorted(str(r[C.DOC_ID_FIELD]) for r in rows)


def test_a_path_keeps_the_engine_that_wrote_it(tmp_path: Path, tiny_models, encoder) -> None:  # type: ignore[no-untyped-def]
    for engine, other in (("3", "2.5"), ("2.5", "3")):
        s = tiny_settings(tmp_path / engine, tiny_models, lite_engine=engine)
        store = build_store(s)
        store.ensure_collection(collection_spec(s, encoder))
        store.close()
        assert engine_of(Path(s.milvus_uri)) == engine
        # configured for the other engine, the file still opens with its own
        reopened = build_store(s.model_copy(update={"lite_engine": other}))
        try:
            assert reopened.describe(s.collection).model == collection_spec(s, encoder).model
        finally:
            reopened.close()


def test_lite_25_keeps_spec_and_defaults_beside_the_collection(
    tmp_path: Path, tiny_models, encoder
) -> None:  # type: ignore[no-untyped-def]
    s = tiny_settings(tmp_path, tiny_models, lite_engine="2.5", colbert_storage="binary")
    spec = collection_spec(s, encoder)
    store = build_store(s)
    try:
        _ingest(store, encoder, spec)
        store.search_defaults(spec.name, save={"rrf_k": 30})
        store.search_defaults(spec.name, save={"rrf_k": 40})  # replaced, not added
        assert store.list_collections() == [spec.name, spec.colbert_collection]
    finally:
        store.close()
    store = build_store(s)
    try:
        found = store.describe(spec.name)
        assert (found.colbert_storage, found.analyzer) == ("binary", "jieba")
        assert found.dense_dim == spec.dense_dim
        assert store.search_defaults(spec.name) == {"rrf_k": 40}
        store.drop(spec.name)
        raw = store.client.query(PROPERTIES_COLLECTION, filter="", output_fields=["pk"], limit=99)  # type: ignore[attr-defined]
        assert raw == []  # the dropped collection's properties went with it
    finally:
        store.close()


def test_lite_25_filters_without_not_exactly(tmp_path: Path, tiny_models, encoder) -> None:  # type: ignore[no-untyped-def]
    """Milvus Lite 2.5 has no `not`: negation is pushed down to the conditions. A row without
    the metadata key matches neither a condition on it nor its negation, as on Milvus Lite 3."""
    answers: dict[str, dict[str, list[str]]] = {}
    filters: dict[str, dict[str, Any]] = {
        "not_eq": {"not": {"field": "metadata.year", "op": "eq", "value": 2020}},
        "not_in": {"not": {"field": "metadata.year", "op": "in", "value": [2020, 2015]}},
        "ne": {"field": "metadata.year", "op": "ne", "value": 2020},
        "nin": {"field": "metadata.year", "op": "nin", "value": [2020]},
        "not_gt": {"not": {"field": "metadata.year", "op": "gt", "value": 2015}},
        "not_and": {
            "not": {
                "and": [
                    {"field": "doc_id", "op": "in", "value": ["a", "b"]},
                    {"field": "chunk_index", "op": "gte", "value": 0},
                ]
            }
        },
    }
    for engine in ("3", "2.5"):
        s = tiny_settings(tmp_path / engine, tiny_models, lite_engine=engine)
        spec = collection_spec(s, encoder)
        store = build_store(s)
        try:
            _ingest(store, encoder, spec)
            answers[engine] = {name: _doc_ids(store, spec.name, f) for name, f in filters.items()}
        finally:
            store.close()
    want = {"not_eq": ["b"], "not_in": [], "ne": ["b"], "nin": ["b"], "not_gt": ["b"]}
    assert answers["2.5"] == answers["3"] == {**want, "not_and": ["c"]}


def test_lite_25_bm25_on_an_empty_collection_finds_nothing(
    tmp_path: Path, tiny_models, encoder
) -> None:  # type: ignore[no-untyped-def]
    """Milvus Lite 2.5 fails a BM25 search over no rows ("NaN or Inf"): an empty answer here."""
    s = tiny_settings(tmp_path, tiny_models, lite_engine="2.5")
    store = build_store(s)
    try:
        spec = collection_spec(s, encoder)
        store.ensure_collection(spec)
        from hybrid_search.store.types import QueryVectors

        hits = store.search_field(
            spec.name, "bm25", [QueryVectors("river")], scope=Scope("t"), limit=5
        )
        assert hits == [[]]
    finally:
        store.close()


def test_a_served_lite_25_file_names_its_holder(tmp_path: Path, tiny_models) -> None:  # type: ignore[no-untyped-def]
    s = tiny_settings(tmp_path, tiny_models, lite_engine="2.5")
    code = (
        "import sys, time; from hybrid_search.store.lite_engines import open_lite25;"
        f"open_lite25({s.milvus_uri!r}); print('up', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "up"
        with pytest.raises(StoreLockedError, match=f"in use by process {holder.pid}"):
            build_store(s)
    finally:
        holder.kill()
        holder.wait(10)
    build_store(s).close()  # free again once the holder is gone
