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
        meta = json.loads(read_properties(conn, name, info).get(_META_PROPERTY) or "{}")
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
    raw = read_properties(conn, name).get(_DEFAULTS_PROPERTY) or "{}"
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
    conn.call(lambda: write_properties(conn, name, props), f"save search defaults of {name}")


#: where collection properties live on an engine that keeps none (Milvus Lite 2.5): one row
#: per collection and key
PROPERTIES_COLLECTION = "_hybrid_search_properties"


def read_properties(conn: MilvusConnection, name: str, info: Any = None) -> dict[str, str]:
    """A collection's properties, from Milvus or, where it keeps none, the side collection."""
    if conn.caps.properties:
        if info is None:
            info = conn.call(lambda: conn.client.describe_collection(name), f"describe {name}")
        return dict(info.get("properties") or {})
    if not conn.has_collection(PROPERTIES_COLLECTION):
        return {}
    conn.ensure_loaded(PROPERTIES_COLLECTION)
    rows = conn.call(
        lambda: conn.client.query(
            PROPERTIES_COLLECTION,
            filter=f"collection == {json.dumps(name)}",
            output_fields=["key", "value"],
        ),
        f"read properties of {name}",
    )
    return {str(r["key"]): str(r["value"]) for r in rows}


def write_properties(conn: MilvusConnection, name: str, props: dict[str, str]) -> None:
    """Set (add or replace) properties of a collection. Runs inside `conn.call`."""
    if conn.caps.properties:
        conn.client.alter_collection_properties(name, properties=props)
        return
    from pymilvus import DataType

    if not conn.client.has_collection(PROPERTIES_COLLECTION):
        s = conn.client.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=1024)
        s.add_field("collection", DataType.VARCHAR, max_length=512)
        s.add_field("key", DataType.VARCHAR, max_length=512)
        s.add_field("value", DataType.VARCHAR, max_length=65_535)
        s.add_field("v", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector field
        ip = conn.client.prepare_index_params()
        ip.add_index("v", index_type="FLAT", metric_type="IP")
        conn.client.create_collection(PROPERTIES_COLLECTION, schema=s, index_params=ip)
    conn.ensure_loaded(PROPERTIES_COLLECTION)
    rows = [
        {"pk": f"{name}/{k}", "collection": name, "key": k, "value": v, "v": [0.0, 0.0]}
        for k, v in props.items()
    ]
    conn.client.upsert(PROPERTIES_COLLECTION, rows)


def forget_properties(conn: MilvusConnection, name: str) -> None:
    """Drop a dropped collection's rows from the side collection (a no-op elsewhere)."""
    if not conn.caps.properties and conn.has_collection(PROPERTIES_COLLECTION):
        conn.ensure_loaded(PROPERTIES_COLLECTION)
        conn.call(
            lambda: conn.client.delete(
                PROPERTIES_COLLECTION, filter=f"collection == {json.dumps(name)}"
            ),
            f"forget properties of {name}",
        )


def analyzer_params(conn: MilvusConnection, spec: C.CollectionSpec) -> dict[str, object]:
    """The BM25 analyzer; Milvus Lite 2.5's jieba also emits spaces and punctuation as tokens
    (a query "a b" then matches every text with a space), which `cnalphanumonly` drops."""
    params = spec.analyzer_params()
    if conn.caps.jieba_words_only or params.get("tokenizer") != "jieba":
        return params
    filters = list(params["filter"])  # type: ignore[call-overload]
    return {**params, "filter": [filters[0], "cnalphanumonly", *filters[1:]]}


def tenant_field(conn: MilvusConnection, schema: Any, index: Any) -> None:
    """The tenant field: Milvus' partition key where filters on one work, else an indexed
    field (the filter `tenant == ...` is the same)."""
    from pymilvus import DataType

    key = conn.caps.partition_key
    schema.add_field(C.TENANT_FIELD, DataType.VARCHAR, max_length=64, is_partition_key=key)
    if not key:
        index.add_index(C.TENANT_FIELD, index_type="INVERTED")


def vector_index(conn: MilvusConnection, index: dict[str, Any]) -> dict[str, Any]:
    """`index` as the engine can build it: HNSW becomes IVF_FLAT where it is missing."""
    if index["index_type"] != "HNSW" or conn.caps.hnsw:
        return index
    return {**index, "index_type": "IVF_FLAT", "params": {"nlist": C.IVF_NLIST}}


def create_chunks(conn: MilvusConnection, spec: C.CollectionSpec) -> None:
    from pymilvus import DataType, Function, FunctionType

    def create() -> None:
        s = conn.client.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field(C.PK_FIELD, DataType.VARCHAR, is_primary=True, max_length=C.MAX_PK_BYTES)
        s.add_field(C.CHUNK_ID_FIELD, DataType.VARCHAR, max_length=C.MAX_ID_BYTES + 16)
        s.add_field(C.DOC_ID_FIELD, DataType.VARCHAR, max_length=C.MAX_ID_BYTES)
        ip = conn.client.prepare_index_params()
        tenant_field(conn, s, ip)
        s.add_field(C.CHUNK_INDEX_FIELD, DataType.INT64)
        s.add_field(C.CHUNK_COUNT_FIELD, DataType.INT64)
        s.add_field(C.TITLE_FIELD, DataType.VARCHAR, max_length=C.MAX_TITLE_BYTES)
        s.add_field(C.TEXT_FIELD, DataType.VARCHAR, max_length=C.MAX_TEXT_BYTES)
        s.add_field(
            C.SEARCH_TEXT_FIELD,
            DataType.VARCHAR,
            max_length=C.MAX_TEXT_BYTES,
            enable_analyzer=True,
            analyzer_params=analyzer_params(conn, spec),
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
        for field_name, index in (
            (C.DENSE_FIELD, vector_index(conn, C.DENSE_INDEX)),
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
    if not conn.caps.properties:
        write_properties(conn, name, properties)
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
