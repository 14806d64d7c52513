"""The Milvus boolean expressions the store sends: the one place they are assembled.

User filters are compiled by `filters.compile_filter`; everything here adds the store's own
conditions (tenant, documents, keys, hashes) with literals from `filters.string_literal`.
"""

from __future__ import annotations

from collections.abc import Sequence

from hybrid_search.store.filters import and_expressions, compile_filter, string_list_literal
from hybrid_search.store.filters import string_literal as literal
from hybrid_search.store.types import Scope
from schemas import collection as C


def tenant_expr(tenant: str | None) -> str | None:
    return f"{C.TENANT_FIELD} == {literal(tenant)}" if tenant else None


def pks_expr(pks: Sequence[str], field: str = C.PK_FIELD) -> str:
    return f"{field} in {string_list_literal(pks)}"


def docs_expr(tenant: str, doc_ids: Sequence[str]) -> str:
    return f"{tenant_expr(tenant)} and {C.DOC_ID_FIELD} in {string_list_literal(doc_ids)}"


def stale_expr(tenant: str, hashes: dict[str, str]) -> str:
    """Rows of these documents whose hash is none of the new versions'."""
    new = string_list_literal(sorted(set(hashes.values())))
    return f"({docs_expr(tenant, list(hashes))}) and ({C.CONTENT_HASH_FIELD} not in {new})"


def first_chunks_expr(tenant: str | None) -> str:
    """One row per document: its chunk 0."""
    return and_expressions(tenant_expr(tenant), f"{C.CHUNK_INDEX_FIELD} == 0") or ""


def scope_expr(scope: Scope) -> str:
    """Tenant, then the user's filter, then the key restriction, all required."""
    user = compile_filter(scope.filter) if scope.filter is not None else None
    keys = pks_expr(scope.pks) if scope.pks is not None else None
    return and_expressions(tenant_expr(scope.tenant), user, keys) or ""
