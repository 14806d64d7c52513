"""Tenant isolation under attack: tenant A's key tries to read, search, filter into, overwrite
and delete tenant B's data through ids, filters, batch endpoints, headers and body fields.

A breach is any answer that carries B's secret marker, or any change to B's stored data (its
snapshot digest is taken after every write or delete attempt). An answer with another status
than the expected one is counted apart (`unexpected`): it is a defect, not a breach.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from hybrid_search.client import HybridSearchClient
from hybrid_search.errors import APIError, HybridSearchError

#: in every text, title and metadata of tenant B, and nowhere else
SECRET = "BRAVOSECRET"
B_IDS = [f"b-only-{i}" for i in range(10)]


def seed_documents(tenant: str) -> list[dict[str, Any]]:
    """A and B share two ids ('shared', 'common-0'); B's documents all carry SECRET."""
    if tenant == "B":
        return [
            {
                "id": doc_id,
                "title": f"{SECRET} title {i}",
                "text": f"Bravo confidential zebra migration report {SECRET} number {i}.",
                "metadata": {"owner": "B", "tenant": "B", "secret": SECRET, "level": i},
            }
            for i, doc_id in enumerate([*B_IDS, "shared", "common-0"])
        ]
    return [
        {
            "id": doc_id,
            "title": f"{tenant} title {i}",
            "text": f"{tenant} public notes on zebra migration, number {i}.",
            "metadata": {"owner": tenant, "level": i},
        }
        for i, doc_id in enumerate([*(f"{tenant.lower()}-{i}" for i in range(10)), "shared"])
    ] + [{"id": "common-0", "text": f"{tenant} common document about zebra stripes."}]


@dataclass
class Attempt:
    id: str
    kind: str  # read | search | filter | write | delete | auth
    expect: int  # the HTTP status a correct service answers
    run: Callable[[], tuple[int, str]]


@dataclass
class TenantReport:
    attempts: int = 0
    breaches: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def _http(
    http: httpx.Client, method: str, path: str, key: str | None, **kw: Any
) -> Callable[[], tuple[int, str]]:
    headers = dict(kw.pop("headers", {}))
    if key is not None:
        headers.setdefault("Authorization", f"Bearer {key}")

    def run() -> tuple[int, str]:
        r = http.request(method, path, headers=headers, **kw)
        return r.status_code, r.text

    return run


def _client(fn: Callable[[], Any]) -> Callable[[], tuple[int, str]]:
    def run() -> tuple[int, str]:
        try:
            result = fn()
        except APIError as exc:
            return exc.status_code, str(exc)
        except HybridSearchError as exc:
            return 0, str(exc)
        if isinstance(result, list):
            return 200, "[" + ",".join(r.model_dump_json() for r in result) + "]"
        return 200, str(result.model_dump_json())

    return run


def attempts(
    http: httpx.Client, client: HybridSearchClient, key_a: str, key_b: str
) -> list[Attempt]:
    out: list[Attempt] = []

    def add(aid: str, kind: str, expect: int, run: Callable[[], tuple[int, str]]) -> None:
        out.append(Attempt(aid, kind, expect, run))

    def post(path: str, body: Any, **kw: Any) -> Callable[[], tuple[int, str]]:
        return _http(http, "POST", path, key_a, json=body, **kw)

    # B's words but not its marker: answers echo the query, and the marker must only ever
    # come from B's stored data
    q = "Bravo confidential zebra migration report title number"
    s, b, r = "/v1/search", "/v1/search/batch", "/v1/rag/context"
    tenant_eq_b = {"field": "tenant", "op": "eq", "value": "B"}
    # -- search, plainly and with the tenant named in the body ---------------------------------
    add("search-plain", "search", 200, post(s, {"query": q, "top_k": 50}))
    add("search-body-tenant-B", "search", 403, post(s, {"query": q, "tenant": "B"}))
    add("search-body-tenant-lowercase", "search", 403, post(s, {"query": q, "tenant": "b"}))
    add("search-body-tenant-padded", "search", 422, post(s, {"query": q, "tenant": "B "}))
    add("search-body-tenant-own", "search", 200, post(s, {"query": q, "tenant": "A"}))
    raw = '{"query": "%s", "tenant": "A", "tenant": "B"}' % q  # noqa: UP031  (raw JSON)
    json_type = {"Content-Type": "application/json"}
    dup = _http(http, "POST", s, key_a, content=raw, headers=json_type)
    add("search-duplicate-tenant-key", "search", 403, dup)
    add("search-query-param-tenant", "search", 200, post(s + "?tenant=B", {"query": q}))
    # -- filters that name the tenant, or B's ids, titles and metadata ---------------------------
    flt: list[tuple[str, int, Any]] = [
        ("filter-tenant-eq-B", 403, tenant_eq_b),
        ("filter-tenant-in", 403, {"field": "tenant", "op": "in", "value": ["A", "B"]}),
        ("filter-tenant-ne-A", 403, {"field": "tenant", "op": "ne", "value": "A"}),
        (
            "filter-tenant-in-or",
            403,
            {"or": [{"field": "doc_id", "op": "eq", "value": "x"}, tenant_eq_b]},
        ),
        ("filter-tenant-in-not", 403, {"not": {"field": "tenant", "op": "eq", "value": "A"}}),
        ("filter-tenant-deep", 403, {"and": [{"or": [{"not": tenant_eq_b}]}]}),
        ("filter-TENANT-uppercase", 422, {"field": "TENANT", "op": "eq", "value": "B"}),
        ("filter-tenant-padded-name", 422, {"field": " tenant", "op": "eq", "value": "B"}),
        ("filter-pk-field", 422, {"field": "pk", "op": "eq", "value": "B/b-only-1#0"}),
        ("filter-metadata-tenant", 200, {"field": "metadata.tenant", "op": "eq", "value": "B"}),
        ("filter-metadata-owner", 200, {"field": "metadata.owner", "op": "eq", "value": "B"}),
        ("filter-metadata-secret", 200, {"field": "metadata.secret", "op": "eq", "value": SECRET}),
        ("filter-doc-id-of-B", 200, {"field": "doc_id", "op": "eq", "value": "b-only-1"}),
        ("filter-doc-ids-of-B", 200, {"field": "doc_id", "op": "in", "value": B_IDS}),
        (
            "filter-doc-id-injection",
            200,
            {"field": "doc_id", "op": "eq", "value": 'x" or tenant == "B'},
        ),
        ("filter-title-of-B", 200, {"field": "title", "op": "eq", "value": f"{SECRET} title 1"}),
        ("filter-doc-id-ne", 200, {"field": "doc_id", "op": "ne", "value": "nothing"}),
    ]
    for aid, status, f in flt:
        add(aid, "filter", status, post(s, {"query": q, "filter": f, "top_k": 50}))
    # -- headers that might select a tenant --------------------------------------------------
    for header in (
        "X-Tenant",
        "X-Tenant-Id",
        "Tenant",
        "X-Hybrid-Search-Tenant",
        "X-Forwarded-Tenant",
    ):
        add(f"search-header-{header}", "search", 200, post(s, {"query": q}, headers={header: "B"}))
    # -- batch and RAG --------------------------------------------------------------------------
    add("batch-tenant-B", "search", 403, post(b, {"queries": [q, "zebra"], "tenant": "B"}))
    add("batch-filter-tenant", "filter", 403, post(b, {"queries": [q], "filter": tenant_eq_b}))
    add("batch-plain", "search", 200, post(b, {"queries": [q, "Bravo title", "confidential"]}))
    add("rag-tenant-B", "search", 403, post(r, {"query": q, "tenant": "B"}))
    add("rag-filter-tenant", "filter", 403, post(r, {"query": q, "filter": tenant_eq_b}))
    add("rag-plain", "search", 200, post(r, {"query": q, "token_budget": 4096}))

    # -- documents by id ------------------------------------------------------------------------
    def doc(method: str, doc_id: str, **kw: Any) -> Callable[[], tuple[int, str]]:
        return _http(http, method, "/v1/documents/" + quote(doc_id, safe=""), key_a, **kw)

    add("get-B-only-id", "read", 404, doc("GET", "b-only-1"))
    add("get-shared-id", "read", 200, doc("GET", "shared"))
    add("get-common-id", "read", 200, doc("GET", "common-0"))
    add("get-query-tenant-B", "read", 403, doc("GET", "b-only-1", params={"tenant": "B"}))
    add("get-pk-as-id", "read", 404, doc("GET", "B/b-only-1"))
    add("get-chunk-id", "read", 404, doc("GET", "b-only-1#0"))
    add("get-traversal-id", "read", 404, doc("GET", "../B/b-only-1"))
    add("get-header-tenant-B", "read", 404, doc("GET", "b-only-1", headers={"X-Tenant": "B"}))
    add("delete-B-only-id", "delete", 404, doc("DELETE", "b-only-2"))
    add("delete-query-tenant-B", "delete", 403, doc("DELETE", "b-only-2", params={"tenant": "B"}))
    add("delete-pk-as-id", "delete", 404, doc("DELETE", "B/b-only-2"))
    add(
        "delete-header-tenant-B",
        "delete",
        404,
        doc("DELETE", "b-only-2", headers={"X-Tenant": "B"}),
    )
    add("delete-injection-id", "delete", 404, doc("DELETE", 'b-only-3" or tenant == "B'))
    add("delete-wildcard-id", "delete", 404, doc("DELETE", "*"))

    # -- writes aimed at B: they may only ever land in A ------------------------------------------
    def docs(*items: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"documents": list(items), **extra}

    pwn = {"text": "overwritten by tenant A", "title": "pwned"}
    d = "/v1/documents"
    add("upsert-body-tenant-B", "write", 403, post(d, docs({"id": "b-only-4", **pwn}, tenant="B")))
    add(
        "upsert-item-tenant-B",
        "write",
        200,
        post(d, docs({"id": "b-only-5", "tenant": "B", **pwn})),
    )
    add("upsert-B-id", "write", 200, post(d, docs({"id": "b-only-6", **pwn})))
    add("upsert-pk-shaped-id", "write", 200, post(d, docs({"id": "B/b-only-7", **pwn})))
    add("upsert-traversal-id", "write", 200, post(d, docs({"id": "../B/b-only-7", **pwn})))
    add(
        "upsert-header-tenant-B",
        "write",
        200,
        post(d, docs({"id": "b-only-8", **pwn}), headers={"X-Tenant": "B"}),
    )
    add(
        "upsert-query-tenant-B",
        "write",
        200,
        post(d + "?tenant=B", docs({"id": "b-only-9", **pwn})),
    )
    # -- keys ---------------------------------------------------------------------------------
    both = {"Authorization": f"Bearer {key_a}", "X-API-Key": key_b}
    add("auth-two-keys", "auth", 401, _http(http, "POST", s, None, json={"query": q}, headers=both))
    digest = hashlib.sha256(key_b.encode()).hexdigest()
    add("auth-hash-of-B", "auth", 401, _http(http, "POST", s, digest, json={"query": q}))
    add(
        "auth-prefix-of-B",
        "auth",
        401,
        _http(http, "POST", s, key_b[: len(key_b) // 2], json={"query": q}),
    )
    add(
        "auth-list-of-keys",
        "auth",
        401,
        _http(http, "POST", s, None, json={"query": q}, headers={"X-API-Key": f"{key_a},{key_b}"}),
    )
    add(
        "auth-no-key-tenant-header",
        "auth",
        401,
        _http(http, "POST", s, None, json={"query": q}, headers={"X-Tenant": "B"}),
    )
    add(
        "auth-key-in-query",
        "auth",
        401,
        _http(http, "POST", s + f"?api_key={key_b}", None, json={"query": q}),
    )
    add("metrics-public", "read", 200, _http(http, "GET", "/metrics", None))
    # -- the Python client ----------------------------------------------------------------------
    add("client-search-tenant-B", "search", 403, _client(lambda: client.search(q, tenant="B")))
    add(
        "client-batch-tenant-B", "search", 403, _client(lambda: client.search_many([q], tenant="B"))
    )
    add("client-rag-tenant-B", "search", 403, _client(lambda: client.rag_context(q, tenant="B")))
    add(
        "client-get-tenant-B",
        "read",
        403,
        _client(lambda: client.get_document("b-only-1", tenant="B")),
    )
    add(
        "client-delete-tenant-B",
        "delete",
        403,
        _client(lambda: client.delete_document("b-only-1", tenant="B")),
    )
    add(
        "client-upsert-tenant-B",
        "write",
        403,
        _client(lambda: client.upsert_documents([{"id": "b-only-1", **pwn}], tenant="B")),
    )
    add(
        "client-filter-B-ids",
        "filter",
        200,
        _client(lambda: client.search(q, filter={"field": "doc_id", "op": "in", "value": B_IDS})),
    )
    return out


def _without_echoed_values(text: str) -> str:
    """The answer minus the caller's own filter values that an empty result's notes echo
    ("... matches title eq 'value'"): computed over the caller's tenant only, they carry what
    the caller sent, not B's data. Everything else (hits, other notes, errors) is kept."""
    try:
        body = json.loads(text)
    except ValueError:
        return text
    if isinstance(body, dict) and isinstance(body.get("notes"), list):
        body["notes"] = [
            re.sub(r"( matches \S+ \S+ ).*$", r"\1<echoed value>", n) if isinstance(n, str) else n
            for n in body["notes"]
        ]
        return json.dumps(body, ensure_ascii=False)
    return text


def run_tenants(base_url: str, key_a: str, key_b: str, b_digest: Callable[[], str]) -> TenantReport:
    report = TenantReport()
    before = b_digest()
    with (
        httpx.Client(base_url=base_url, timeout=120) as http,
        HybridSearchClient(base_url, key_a, retries=0, timeout=120) as client,
    ):
        # the control: B's own key does find its marker with the same query, so a leak to A
        # would be seen by the marker check
        control = {"query": "Bravo confidential zebra migration report title number"}
        r = http.post("/v1/search", json=control, headers={"Authorization": f"Bearer {key_b}"})
        if SECRET not in r.text:
            report.unexpected.append(
                f"control: B's own search does not find B's data: {r.text[:200]}"
            )
        for a in attempts(http, client, key_a, key_b):
            report.attempts += 1
            try:
                status, text = a.run()
            except Exception as exc:  # a transport error is a defect, not a pass
                report.unexpected.append(f"{a.id}: {type(exc).__name__}: {exc}")
                continue
            if SECRET in _without_echoed_values(text):
                report.breaches.append(f"{a.id}: the answer ({status}) carries tenant B's data")
            if a.kind in ("write", "delete") and b_digest() != before:
                report.breaches.append(f"{a.id}: tenant B's stored data changed")
                before = b_digest()
            if status != a.expect:
                report.unexpected.append(
                    f"{a.id}: status {status}, expected {a.expect}: {text[:200]}"
                )
    return report
