"""The chunks collection's Milvus schema, and the spec recorded in it as a JSON property (Milvus
Lite keeps no schema descriptions); a collection of another spec is refused, saying what differs."""

from __future__ import annotations

import json
import logging
from typing import Any

from hybrid_search.errors import CollectionNotFoundError, SchemaMismatchError
from hybrid_search.store.connection import MilvusConnection
from hybrid_search.version import __version__
from schemas import collection as C
from schemas import descriptions as D

logger = logging.getLogger(__name__)

_MARKER = "hybrid_search"
#: collection property holding the spec as JSON (Milvus Lite does not keep schema descriptions)
_META_PROPERTY = "hybrid_search.meta"
#: collection property holding the search defaults `hybrid-search tune --save` chose (JSON)
_DEFAULTS_PROPERTY = "hybrid_search.search_defaults"


def model_id(model: str) -> str:
    """A model's identity independent of where its files lie (hub name or local directory)."""
    return model.rstrip("/").rsplit("/", 1)[-1]


def check_spec(want: C.CollectionSpec, found: C.CollectionSpec) -> None:
    problems = []
    if found.dense_dim != want.dense_dim:
        problems.append(f"dense dim {found.dense_dim} != model's {want.dense_dim}")
    if found.colbert_dim != want.colbert_dim:
        problems.append(f"ColBERT dim {found.colbert_dim} != model's {want.colbert_dim}")
    elif want.colbert_dim and found.colbert_block != want.colbert_block:
        problems.append(
            f"ColBERT block of {found.colbert_block} tokens != configured {want.colbert_block}"
        )
    elif want.colbert_dim and found.colbert_storage != want.colbert_storage:
        problems.append(
            f"ColBERT storage '{found.colbert_storage}' != configured '{want.colbert_storage}' "
            f"(set HYBRID_SEARCH_COLBERT_STORAGE={found.colbert_storage} to keep writing it, or "
            f"drop it (`hybrid-search drop {want.name}`) and re-ingest to store "
            f"{want.colbert_storage})"
        )
    if want.colbert_dim and want.colbert_pool is not None and found.pool_factor != want.pool_factor:
        problems.append(
            f"ColBERT tokens pooled by {found.pool_factor} != configured {want.pool_factor} "
            f"(set HYBRID_SEARCH_COLBERT_POOL_FACTOR={found.pool_factor} or leave it unset to "
            f"keep writing it, or drop it (`hybrid-search drop {want.name}`) and re-ingest)"
        )
    if model_id(found.model) != model_id(want.model):
        problems.append(f"written by model '{found.model}', configured '{want.model}'")
    if found.analyzer != want.analyzer or found.stop_words != want.stop_words:
        problems.append(
            f"BM25 analyzer {found.analyzer}/stop_words={found.stop_words} != configured "
            f"{want.analyzer}/stop_words={want.stop_words}"
        )
    if found.owner != want.owner:
        problems.append(f"tenancy: {_owned(found.owner)}, configured {_owned(want.owner)}")
    if problems:
        raise SchemaMismatchError(
            f"collection '{want.name}' does not match the configuration: "
            + "; ".join(problems)
            + f". Use another --collection or drop it (`hybrid-search drop {want.name}`) and "
            "re-ingest; vectors of different "
            "models are never mixed.",
            details={"collection": want.name, "problems": problems},
        )


def _owned(owner: str | None) -> str:
    if owner is None:
        return "shared by tenants (partition key)"
    collection, tenant = owner.split("/", 1)
    return f"tenant '{tenant}' of collection '{collection}' alone"


def describe(conn: MilvusConnection, name: str) -> C.CollectionSpec:
    """The spec hybrid-search recorded in the collection's properties."""
    if not conn.has_collection(name):
        raise CollectionNotFoundError(
            f"collection '{name}' not found at {conn.uri}; run `hybrid-search ingest` first",
            details={"collection": name},
        )
    info = conn.call(lambda: conn.client.describe_collection(name), f"describe {name}")
    try:
        meta = json.loads((info.get("properties") or {}).get(_META_PROPERTY) or "{}")
    except json.JSONDecodeError:
        meta = {}
    if not isinstance(meta, dict) or meta.get(_MARKER) != C.SCHEMA_VERSION:
        version = meta.get(_MARKER) if isinstance(meta, dict) else None
        raise SchemaMismatchError(
            f"collection '{name}' was not created by hybrid-search schema version "
            f"{C.SCHEMA_VERSION} (found {version!r}); use another collection name",
            details={"collection": name, "found_version": version},
        )
    dims = {f["name"]: f.get("params", {}).get("dim") for f in info.get("fields", [])}
    return C.CollectionSpec(
        name=name,
        dense_dim=int(dims.get(C.DENSE_FIELD) or meta.get("dense_dim") or 0),
        colbert_dim=meta.get("colbert_dim"),
        model=str(meta.get("model", "")),
        analyzer=str(meta.get("analyzer", "jieba")),
        stop_words=bool(meta.get("stop_words", True)),
        colbert_block=int(meta.get("colbert_block", 1)),
        # collections written before storage kinds existed hold float32 blocks
        colbert_storage=str(meta.get("colbert_storage", "float32")),
        # collections written before pooling existed hold every token
        colbert_pool=int(meta.get("colbert_pool", 1)),
        owner=None if meta.get("owner") is None else str(meta["owner"]),
    )


def search_defaults(conn: MilvusConnection, name: str) -> dict[str, Any]:
    """The recorded search defaults; {} when none were saved (or the property is unreadable,
    which is logged: a collection stays searchable with the built-in defaults)."""
    info = conn.call(lambda: conn.client.describe_collection(name), f"describe {name}")
    raw = (info.get("properties") or {}).get(_DEFAULTS_PROPERTY) or "{}"
    try:
        found = json.loads(raw)
    except json.JSONDecodeError:
        found = None
    if not isinstance(found, dict):
        logger.warning("collection %s: unreadable search defaults %r ignored", name, raw[:200])
        return {}
    return found


def save_search_defaults(conn: MilvusConnection, name: str, defaults: dict[str, Any]) -> None:
    props = {_DEFAULTS_PROPERTY: json.dumps(defaults, sort_keys=True)}
    conn.call(
        lambda: conn.client.alter_collection_properties(name, properties=props),
        f"save search defaults of {name}",
    )


def create_chunks(conn: MilvusConnection, spec: C.CollectionSpec) -> None:
    from pymilvus import DataType, Function, FunctionType

    def create() -> None:
        s = conn.client.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field(C.PK_FIELD, DataType.VARCHAR, is_primary=True, max_length=C.MAX_PK_BYTES)
        s.add_field(C.CHUNK_ID_FIELD, DataType.VARCHAR, max_length=C.MAX_ID_BYTES + 16)
        s.add_field(C.DOC_ID_FIELD, DataType.VARCHAR, max_length=C.MAX_ID_BYTES)
        s.add_field(C.TENANT_FIELD, DataType.VARCHAR, max_length=64, is_partition_key=True)
        s.add_field(C.CHUNK_INDEX_FIELD, DataType.INT64)
        s.add_field(C.CHUNK_COUNT_FIELD, DataType.INT64)
        s.add_field(C.TITLE_FIELD, DataType.VARCHAR, max_length=C.MAX_TITLE_BYTES)
        s.add_field(C.TEXT_FIELD, DataType.VARCHAR, max_length=C.MAX_TEXT_BYTES)
        s.add_field(
            C.SEARCH_TEXT_FIELD,
            DataType.VARCHAR,
            max_length=C.MAX_TEXT_BYTES,
            enable_analyzer=True,
            analyzer_params=spec.analyzer_params(),
        )
        s.add_field(C.METADATA_FIELD, DataType.JSON)
        s.add_field(C.CONTENT_HASH_FIELD, DataType.VARCHAR, max_length=64)
        s.add_field(C.TOKEN_COUNT_FIELD, DataType.INT64)
        s.add_field(C.DENSE_FIELD, DataType.FLOAT_VECTOR, dim=spec.dense_dim)
        s.add_field(C.SPARSE_FIELD, DataType.SPARSE_FLOAT_VECTOR)
        s.add_field(C.BM25_FIELD, DataType.SPARSE_FLOAT_VECTOR)
        s.add_function(
            Function(
                name=C.BM25_FUNCTION,
                function_type=FunctionType.BM25,
                input_field_names=[C.SEARCH_TEXT_FIELD],
                output_field_names=[C.BM25_FIELD],
            )
        )
        ip = conn.client.prepare_index_params()
        for field_name, index in (
            (C.DENSE_FIELD, C.DENSE_INDEX),
            (C.SPARSE_FIELD, C.SPARSE_INDEX),
            (C.BM25_FIELD, C.BM25_INDEX),
        ):
            ip.add_index(field_name, **index)
        ip.add_index(C.DOC_ID_FIELD, index_type="INVERTED")
        meta = {
            "model": spec.model,
            "dense_dim": spec.dense_dim,
            "colbert_dim": spec.colbert_dim,
            "analyzer": spec.analyzer,
            "stop_words": spec.stop_words,
            "colbert_block": spec.colbert_block,
            "colbert_storage": spec.colbert_storage,
            "colbert_pool": spec.pool_factor,
        }
        if spec.owner is not None:  # absent from shared collections, as before the field
            meta["owner"] = spec.owner
        described = (D.chunk_collection(spec, __version__), D.chunk_fields(spec))
        create_indexed(conn, spec.name, s, ip, meta, described)

    conn.call(create, f"create {spec.name}")
    logger.info("created collection %s (dense dim %d)", spec.name, spec.dense_dim)


def create_indexed(
    conn: MilvusConnection,
    name: str,
    schema: Any,
    index: Any,
    meta: dict[str, Any],
    described: tuple[str, dict[str, str]],
) -> None:
    """Create, then index without waiting (pymilvus' wait sleeps 0.5 s per index and calls
    AllocTimestamp, which Milvus Lite lacks; an empty collection's index is built at once).
    `described` (collection and field descriptions) goes into the schema and, since Milvus Lite
    drops those, into properties too. Runs inside `conn.call`."""
    properties = {
        _META_PROPERTY: json.dumps({_MARKER: C.SCHEMA_VERSION, **meta}),
        **D.as_properties(*described),
    }
    schema = with_descriptions(schema, *described)
    conn.client.create_collection(name, schema=schema, properties=properties)
    conn.client.create_index(name, index, sync=False)


def with_descriptions(schema: Any, description: str, fields: dict[str, str]) -> Any:
    """The pymilvus schema with its and its fields' descriptions set (rebuilt from its dict:
    pymilvus has no setter)."""
    from pymilvus import CollectionSchema

    data = schema.to_dict()
    data["description"] = description
    for field in data["fields"]:
        field["description"] = fields.get(field["name"], "")
    return CollectionSchema.construct_from_dict(data)
