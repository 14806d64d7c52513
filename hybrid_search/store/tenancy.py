"""Collection tenancy (`HYBRID_SEARCH_TENANCY=collection`): one Milvus collection per tenant, so
one tenant's volume never enters another tenant's search.

Calls naming a tenant go from the logical collection `C` to `tenant_collection(C, tenant)`,
created from `C`'s spec on the tenant's first write and recording its owner ("C/tenant"), checked
before every first use: a same-named collection of another deployment is refused, never read.
`C` keeps the spec, search defaults and load state and no rows, so a tenant without a collection
reads it as an empty collection. Calls without a tenant cover `C` and every `C__*` collection it
owns. A logical collection written in `partition_key` mode is refused (the modes share no data).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

from hybrid_search.encoders.base import FloatArray
from hybrid_search.errors import ConfigError, InvalidRequestError, SchemaMismatchError
from hybrid_search.store.milvus import MilvusStore
from hybrid_search.store.ops import count_chunks
from hybrid_search.store.types import (
    Candidate,
    ChunkRow,
    FieldName,
    FusedResult,
    Health,
    QueryVectors,
    Scope,
    StoredChunk,
)
from schemas import collection as C

#: Milvus' longest collection name (proxy.maxNameLength; Milvus Lite checks the same)
MAX_NAME = 255
#: between the logical collection's name and the tenant's part; logical names may not contain
#: "__" nor end with "_", so the first "__" of a physical name ends the logical name
SEPARATOR = "__"
_READABLE, _HASHED = "t_", "h_"
#: '_', '-' and capitals escaped: the name is injective and all lower case (Milvus Lite keeps a
#: directory per collection, and a case-insensitive file system must not merge "A" and "a")
_ESCAPES = {"_": "__", "-": "_h", **{c: "_u" + c.lower() for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}}
_TENANT = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_TENANT_PART = re.compile(r"t_(?:[a-z0-9]|_(?:_|h|u[a-z]))+|h_[0-9a-f]{32}")


def check_collection_name(collection: str) -> None:
    """Refuse logical names whose tenant collections could collide with another's."""
    if SEPARATOR in collection or collection.endswith("_"):
        raise ConfigError(
            f"collection '{collection}': with HYBRID_SEARCH_TENANCY=collection a collection name "
            f"may not contain '{SEPARATOR}' nor end with '_' (each tenant's collection is named "
            f"'{collection}{SEPARATOR}t_<tenant>'); choose another collection name",
            details={"collection": collection},
        )


def check_tenant(tenant: str) -> None:
    if not _TENANT.fullmatch(tenant):
        raise InvalidRequestError(
            f"tenant {tenant[:80]!r}: must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'",
            details={"field": "tenant"},
        )


def tenant_collection(collection: str, tenant: str) -> str:
    """The Milvus collection of `tenant`'s rows of `collection`: deterministic, injective, and
    short enough for Milvus with the ColBERT suffix (else named by a 128-bit hash of the tenant)."""
    check_collection_name(collection)
    check_tenant(tenant)
    name = collection + SEPARATOR + _READABLE + "".join(_ESCAPES.get(c, c) for c in tenant)
    if len(name) + len(C.COLBERT_SUFFIX) <= MAX_NAME:
        return name
    digest = hashlib.sha256(tenant.encode("utf-8")).hexdigest()[:32]
    return collection + SEPARATOR + _HASHED + digest


def _owner(collection: str, tenant: str) -> str:
    return f"{collection}/{tenant}"


def _pk_tenant(pk: str) -> str | None:
    tenant = pk.split("/", 1)[0] if "/" in pk else ""
    return tenant if _TENANT.fullmatch(tenant) else None


class CollectionPerTenantStore:
    """A VectorStore that gives every tenant its own Milvus collection (see the module)."""

    def __init__(self, inner: MilvusStore) -> None:
        self.inner = inner
        self.retries = inner.retries
        #: physical collections known to exist and to belong to the tenant they are named for
        self._owned: set[str] = set()
        #: logical collections proven free of partition_key-mode rows
        self._checked: set[str] = set()
        self._lock = threading.RLock()

    def _existing(self, collection: str, tenant: str) -> str | None:
        """The tenant's collection if it exists (its owner checked), else None."""
        name = tenant_collection(collection, tenant)
        if name in self._owned:
            return name
        if not self.inner.has_collection(name):
            return None
        found = self.inner.describe(name).owner
        if found != _owner(collection, tenant):
            raise SchemaMismatchError(
                f"collection '{name}' exists but was not created for tenant '{tenant}' of "
                f"collection '{collection}' (it records owner {found!r}); drop or rename it",
                details={"collection": name, "owner": found},
            )
        with self._lock:
            self._owned.add(name)
        return name

    def _target(self, collection: str, tenant: str) -> str:
        """Where a read for `tenant` goes: its collection, or the logical one (no rows)."""
        return self._existing(collection, tenant) or collection

    def _ensure_tenant(self, spec: C.CollectionSpec, tenant: str) -> C.CollectionSpec:
        """The tenant's collection spec, the collection created on its first write."""
        name = tenant_collection(spec.name, tenant)
        tenant_spec = replace(spec, name=name, owner=_owner(spec.name, tenant))
        if name not in self._owned:
            with self._lock:  # two writers of a new tenant must not both create it
                if name not in self._owned:
                    self.inner.ensure_collection(tenant_spec)  # checks the owner if it exists
                    self._owned.add(name)
        return tenant_spec

    def tenant_collections(self, collection: str) -> list[str]:
        """Every tenant collection of `collection`, by listing and recorded owner."""
        check_collection_name(collection)
        prefix = collection + SEPARATOR
        found = []
        for name in self.inner.list_collections(prefix):
            if not _TENANT_PART.fullmatch(name[len(prefix) :]):
                continue  # a ColBERT companion, or not named by this module
            try:
                owner = self.inner.describe(name).owner
            except SchemaMismatchError:
                continue  # not a hybrid-search collection
            if owner is not None and owner.split("/", 1)[0] == collection:
                found.append(name)
        return found

    def close(self) -> None:
        self.inner.close()

    def health(self, name: str | None = None) -> Health:
        found = self.inner.health(name)
        return replace(found, deployment=f"{found.deployment}, one collection per tenant")

    def sync(self, spec: C.CollectionSpec, *, reload: bool = False) -> None:
        self.inner.sync(spec, reload=reload)
        for name in self.tenant_collections(spec.name):
            self.inner.sync(self.inner.describe(name), reload=reload)

    def ensure_collection(self, spec: C.CollectionSpec) -> None:
        """The logical collection (spec, defaults); refused if it holds partition_key rows."""
        check_collection_name(spec.name)
        self.inner.ensure_collection(spec)
        if spec.name in self._checked:
            return
        shared = count_chunks(self.inner, spec.name, Scope(""))
        if shared:
            raise ConfigError(
                f"collection '{spec.name}' holds {shared} chunks written with "
                "HYBRID_SEARCH_TENANCY=partition_key; collection tenancy keeps each tenant in "
                "its own collection: ingest into another collection name, or keep partition_key",
                details={"collection": spec.name, "chunks": shared},
            )
        with self._lock:
            self._checked.add(spec.name)

    def describe(self, name: str) -> C.CollectionSpec:
        return self.inner.describe(name)

    def has_collection(self, name: str) -> bool:
        return self.inner.has_collection(name)

    def search_defaults(self, name: str, save: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.inner.search_defaults(name, save)

    def drop(self, name: str) -> None:
        """The logical collection and every tenant collection of it."""
        for physical in self.tenant_collections(name):
            self.inner.drop(physical)
        self.inner.drop(name)
        with self._lock:
            self._owned = {n for n in self._owned if not n.startswith(name + SEPARATOR)}
            self._checked.discard(name)

    def upsert(
        self, spec: C.CollectionSpec, tenant: str, rows: Sequence[ChunkRow], hashes: Any = None
    ) -> None:
        """Token vectors go to each row's tenant; a commit (`hashes`) to `tenant`'s collection."""
        if hashes is not None:
            self.inner.upsert(self._ensure_tenant(spec, tenant), tenant, rows, hashes)
            return
        by_tenant: dict[str, list[ChunkRow]] = {}
        for row in rows:
            by_tenant.setdefault(row.tenant, []).append(row)
        for owner, group in by_tenant.items():
            self.inner.upsert(self._ensure_tenant(spec, owner), owner, group)

    def delete(self, name: str, tenant: str, doc_ids: Sequence[str]) -> int:
        physical = self._existing(name, tenant)
        return 0 if physical is None else self.inner.delete(physical, tenant, doc_ids)

    def get_rows(self, name: str, pks: Sequence[str], **options: Any) -> dict[str, StoredChunk]:
        """By the tenant each key names (keys of an unknown tenant are absent)."""
        by_tenant: dict[str, list[str]] = {}
        for pk in pks:
            tenant = _pk_tenant(pk)
            if tenant is not None:
                by_tenant.setdefault(tenant, []).append(pk)
        found: dict[str, StoredChunk] = {}
        for tenant, keys in by_tenant.items():
            physical = self._existing(name, tenant)
            if physical is not None:
                found.update(self.inner.get_rows(physical, keys, **options))
        return found

    def query(
        self, name: str, scope: Scope, fields: Sequence[str], *, tokens: bool = False
    ) -> list[dict[str, Any]]:
        """One tenant's collection, or (tenant "") the logical collection and all of them."""
        if scope.tenant:
            return self.inner.query(self._target(name, scope.tenant), scope, fields, tokens=tokens)
        return [
            row
            for physical in [name, *self.tenant_collections(name)]
            for row in self.inner.query(physical, scope, fields, tokens=tokens)
        ]

    def search_field(
        self,
        name: str,
        route: FieldName | Literal["colbert"],
        queries: Sequence[QueryVectors],
        *,
        scope: Scope,
        **options: Any,
    ) -> list[list[Candidate]]:
        target = self._target(name, scope.tenant)
        return self.inner.search_field(target, route, queries, scope=scope, **options)

    def fused_search(
        self,
        name: str,
        query: QueryVectors,
        depth: Mapping[FieldName, int],
        *,
        scope: Scope,
        **options: Any,
    ) -> FusedResult:
        target = self._target(name, scope.tenant)
        return self.inner.fused_search(target, query, depth, scope=scope, **options)

    def score_token_vectors(
        self, name: str, tenant: str, *args: Any, **kwargs: Any
    ) -> dict[str, float]:
        return self.inner.score_token_vectors(self._target(name, tenant), tenant, *args, **kwargs)

    def read_token_vectors(
        self, name: str, tenant: str, *args: Any, **kwargs: Any
    ) -> dict[str, FloatArray]:
        return self.inner.read_token_vectors(self._target(name, tenant), tenant, *args, **kwargs)
