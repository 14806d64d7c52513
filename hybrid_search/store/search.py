"""Searches on the chunks collection: one field (a route), or several fused by Milvus' RRF.
Raw route scores, higher is better (Milvus Lite returns BM25 negated; the sign is undone here)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Unpack

from hybrid_search.errors import HybridSearchError, RouteError, StoreError
from hybrid_search.fusion.base import FusedHit
from hybrid_search.store.connection import QUERY_CAP, MilvusConnection
from hybrid_search.store.expressions import scope_expr
from hybrid_search.store.ops import key_fields, stored_chunk
from hybrid_search.store.rows import count as count_rows
from hybrid_search.store.types import (
    Candidate,
    FieldName,
    FieldOptions,
    FusedOptions,
    FusedResult,
    QueryVectors,
    doc_id_of,
    field_query,
)
from schemas import collection as C

_FIELDS: dict[FieldName, str] = {
    "dense": C.DENSE_FIELD,
    "sparse": C.SPARSE_FIELD,
    "bm25": C.BM25_FIELD,
}


def _params(route: FieldName, limit: int) -> dict[str, Any]:
    if route == "dense":
        return {"metric_type": "IP", "params": C.ann_params(limit)}
    if route == "sparse":
        return {"metric_type": "IP", "params": {"drop_ratio_search": 0.0}}
    return {"metric_type": "BM25", "params": {}}


def _data(route: FieldName, q: QueryVectors) -> Any:
    data = field_query(route, q)
    return data.tolist() if route == "dense" else data  # type: ignore[union-attr]


def _score(route: FieldName, distance: Any) -> float:
    return abs(float(distance)) if route == "bm25" else float(distance)


def _row(hit: Any) -> dict[str, Any]:
    """A search hit's returned fields with its primary key, as a row."""
    return {**hit["entity"], C.PK_FIELD: str(hit[C.PK_FIELD])}


def row_fields(with_vectors: bool) -> list[str]:
    """The fields a `StoredChunk` is read from (a hit's, plus dense and sparse if asked)."""
    return [*C.HIT_FIELDS, *((C.DENSE_FIELD, C.SPARSE_FIELD) if with_vectors else ())]


def _key_output(with_token_counts: bool) -> list[str]:
    return [C.PK_FIELD, C.TOKEN_COUNT_FIELD] if with_token_counts else [C.PK_FIELD]


def _unless_empty(conn: MilvusConnection, name: str, fn: Callable[[], Any], what: str) -> Any:
    """`fn`'s answer, or None where the collection holds no rows: Milvus Lite 2.5 fails a BM25
    search there ("Invalid sparse row: NaN or Inf", its average length is 0/0)."""
    try:
        return conn.call(fn, what)
    except StoreError as exc:
        if "NaN or Inf" not in str(exc) or count_rows(conn, name) != 0:
            raise
        return None


def search_field(
    conn: MilvusConnection,
    name: str,
    route: FieldName,
    queries: Sequence[QueryVectors],
    **options: Unpack[FieldOptions],
) -> list[list[Candidate]]:
    """One Milvus search for the queries that have something for this route."""
    limit, with_rows = options["limit"], options.get("with_rows", False)
    with_token_counts = options.get("with_token_counts", True)
    data: list[Any] = []
    answerable: list[int] = []
    for i, q in enumerate(queries):
        try:
            data.append(_data(route, q))
            answerable.append(i)
        except RouteError:
            if len(queries) == 1:
                raise
    if not answerable:
        raise RouteError(f"{route}: the query has nothing this route can search")
    expr = scope_expr(options["scope"], native_not=conn.caps.negation)
    conn.ensure_loaded(name)
    hits = _unless_empty(
        conn,
        name,
        lambda: conn.client.search(
            name,
            data=data,
            anns_field=_FIELDS[route],
            limit=min(limit, QUERY_CAP),
            filter=expr,
            output_fields=(
                row_fields(options.get("with_vectors", False))
                if with_rows
                else _key_output(with_token_counts)
            ),
            search_params=_params(route, limit),
        ),
        f"search {name}.{_FIELDS[route]}",
    )
    out: list[list[Candidate]] = [[] for _ in queries]
    if hits is None:
        return out
    for i, per_query in zip(answerable, hits, strict=True):
        if with_rows:
            out[i] = [
                Candidate(
                    pk, _score(route, h["distance"]), doc_id_of(pk), row=stored_chunk(_row(h))
                )
                for h in per_query
                if (pk := str(h[C.PK_FIELD]))
            ]
            continue
        # the result's key and distance columns, not a dict per hit; the document from the key
        counts = (
            [h["entity"].get(C.TOKEN_COUNT_FIELD) for h in per_query]
            if with_token_counts
            else [None] * len(per_query)
        )
        out[i] = [
            Candidate(str(pk), _score(route, d), doc_id_of(str(pk)), None if n is None else int(n))
            for pk, d, n in zip(per_query.ids, per_query.distances, counts, strict=True)
        ]
    return out


def fused_search(
    conn: MilvusConnection,
    name: str,
    query: QueryVectors,
    depth: Mapping[FieldName, int],
    **options: Unpack[FusedOptions],
) -> FusedResult:
    """Routes and RRF in one Milvus `hybrid_search` with `RRFRanker(k)`: what a bare pymilvus
    client would do. The fused scores equal `RRFFusion` on the same route lists (tests/fusion
    proves it against Milvus Lite); each hit's per-route rank and score are not returned."""
    from pymilvus import AnnSearchRequest, RRFRanker

    expr = scope_expr(options["scope"], native_not=conn.caps.negation)
    with_rows = options["with_rows"]
    requests: list[Any] = []
    answered: list[str] = []
    errors: dict[str, HybridSearchError] = {}
    for route, d in depth.items():
        try:
            data = _data(route, query)
        except RouteError as exc:
            errors[route] = exc
            continue
        requests.append(
            AnnSearchRequest(
                data=[data],
                anns_field=_FIELDS[route],
                param=_params(route, d),
                limit=d,
                expr=expr or None,
            )
        )
        answered.append(route)
    if not requests:
        return FusedResult([], {}, {}, [], errors)
    conn.ensure_loaded(name)
    fields = C.HIT_FIELDS if with_rows else [C.PK_FIELD]
    found = _unless_empty(
        conn,
        name,
        lambda: conn.client.hybrid_search(
            name,
            requests,
            ranker=RRFRanker(options["k"]),
            limit=min(options["limit"], QUERY_CAP),
            output_fields=list(fields),
        ),
        f"hybrid_search {name}",
    )
    hits = found[0] if found is not None else []
    rows = [_row(h) for h in hits]
    keys = {r[C.PK_FIELD]: key_fields(r) for r in rows}
    full = {r[C.PK_FIELD]: stored_chunk(r) for r in rows} if with_rows else {}
    fused = [FusedHit(str(h[C.PK_FIELD]), float(h["distance"]), {}) for h in hits]
    return FusedResult(fused, keys, full, answered, errors)
