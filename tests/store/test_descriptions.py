"""Self-describing collections: what plain pymilvus `describe_collection` shows of a collection
hybrid-search created, with no hybrid-search code on the reading side."""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hybrid_search import __version__
from hybrid_search.factory import build_store, collection_spec
from hybrid_search.store.lite_engines import engine_of, lite25_home
from hybrid_search.store.schema import with_descriptions
from hybrid_search.store.token_rows import PAYLOAD_FIELD
from schemas import collection as C
from schemas.descriptions import (
    DESCRIPTION_PROPERTY,
    FIELD_PROPERTY_PREFIX,
    PACKED_TOKENS_FIELD,
    chunk_collection,
    chunk_fields,
)


def _described(info: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The collection's and each field's description as a Milvus user reads them: the schema's
    own where the server keeps it, else the properties (Milvus Lite keeps no descriptions)."""
    props = info.get("properties") or {}
    fields = {
        f["name"]: f.get("description") or props.get(FIELD_PROPERTY_PREFIX + f["name"], "")
        for f in info["fields"]
    }
    return info.get("description") or props.get(DESCRIPTION_PROPERTY, ""), fields


@contextlib.contextmanager
def plain_client(path: str) -> Iterator[Any]:
    """pymilvus on a Lite file as its engine's own package opens it: 3.x through pymilvus'
    `milvus_lite` import, 2.5 through the `Server` launcher of the unpacked milvus-lite 2.5.1."""
    from pymilvus import MilvusClient

    if engine_of(Path(path)) == "3":
        client = MilvusClient(path)
        yield client
        client.close()
        return
    module = lite25_home().parent / "server.py"
    loader = importlib.util.spec_from_file_location("milvus_lite_25_server", module)
    assert loader is not None and loader.loader is not None
    launcher = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(launcher)
    server = launcher.Server(path)
    assert server.init() and server.start()
    client = MilvusClient(uri=server.uds_path)
    try:
        yield client
    finally:
        client.close()
        server.stop()


@pytest.mark.parametrize("storage", ["binary", "float32"])
def test_plain_pymilvus_sees_a_description_of_every_field_and_collection(
    settings, encoder, storage
) -> None:  # type: ignore[no-untyped-def]
    settings = settings.model_copy(update={"colbert_storage": storage})
    spec = collection_spec(settings, encoder)
    assert spec.colbert_dim, "the tiny model has ColBERT vectors: both collections are made"
    store = build_store(settings)
    store.ensure_collection(spec)
    store.close()

    with plain_client(settings.milvus_uri) as client:  # plain pymilvus on the Lite file
        chunks = client.describe_collection(spec.name)
        colbert = client.describe_collection(spec.colbert_collection)

    about, fields = _described(chunks)
    assert f"hybrid-search {__version__}" in about
    assert spec.model in about and f"'{spec.analyzer}'" in about
    assert spec.colbert_collection in about
    names = [f["name"] for f in chunks["fields"]]
    assert set(names) >= {C.DENSE_FIELD, C.SPARSE_FIELD, C.BM25_FIELD, C.SEARCH_TEXT_FIELD}
    assert all(fields[n] for n in names), [n for n in names if not fields[n]]
    assert f"{spec.dense_dim} floats" in fields[C.DENSE_FIELD]
    assert spec.analyzer in fields[C.BM25_FIELD] and spec.model in fields[C.SEARCH_TEXT_FIELD]

    about, fields = _described(colbert)
    assert f"hybrid-search {__version__}" in about and spec.name in about
    assert all(fields.values()) and set(fields) == {f["name"] for f in colbert["fields"]}
    if storage == "float32":
        assert f"{spec.colbert_dim} dims" in fields[C.COLBERT_FIELD]
    else:
        assert PAYLOAD_FIELD == PACKED_TOKENS_FIELD
        assert f"{storage}-quantized" in fields[PAYLOAD_FIELD] and storage in about


def test_the_schema_itself_carries_the_descriptions_for_milvus_servers(settings, encoder) -> None:  # type: ignore[no-untyped-def]
    """Milvus servers keep schema descriptions (Attu shows them): the schema hybrid-search
    sends has one on the collection and on every field, and is otherwise unchanged."""
    from pymilvus import DataType, MilvusClient

    spec = collection_spec(settings, encoder)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field(C.PK_FIELD, DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field(C.TENANT_FIELD, DataType.VARCHAR, max_length=64, is_partition_key=True)
    schema.add_field(
        C.SEARCH_TEXT_FIELD,
        DataType.VARCHAR,
        max_length=1000,
        enable_analyzer=True,
        analyzer_params=spec.analyzer_params(),
    )
    schema.add_field(C.DENSE_FIELD, DataType.FLOAT_VECTOR, dim=spec.dense_dim)
    described = with_descriptions(schema, chunk_collection(spec, "x"), chunk_fields(spec))
    before, after = schema.to_dict(), described.to_dict()
    assert after["description"] == chunk_collection(spec, "x")
    for b, a in zip(before["fields"], after["fields"], strict=True):
        assert a["description"] == chunk_fields(spec)[a["name"]]
        assert {**a, "description": ""} == {**b, "description": ""}
