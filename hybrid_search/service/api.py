"""HTTP routes. Handlers stay thin: resolve the tenant from the key, check the service limits,
run the blocking work through the gate, return the models the in-process API returns."""

from __future__ import annotations

import logging
import time
from collections.abc import Sized
from dataclasses import replace
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from hybrid_search.deletion import delete_many, drop_tenant
from hybrid_search.errors import STORE_FAILURE_CODES, InvalidRequestError, StoreUnavailableError
from hybrid_search.rag import build_context
from hybrid_search.service.auth import Principal, PrincipalDep, check_filter_scope
from hybrid_search.service.deps import MetricsDep, ServiceState, StateDep
from hybrid_search.service.errors import (
    DocumentNotFoundError,
    PayloadTooLargeError,
)
from hybrid_search.service.execution import (
    WorkDep,
    chunked,
    documents_bytes,
    run_steps,
    stopped_error,
    write_documents,
)
from hybrid_search.service.metrics import CONTENT_TYPE_LATEST
from hybrid_search.store.ops import get_chunks
from schemas.api import (
    BatchSearchRequest,
    BatchSearchResponse,
    RouteFailure,
    SearchOptions,
    SearchRequest,
    SearchResponse,
)
from schemas.documents import IngestJobResponse, IngestSummary, check_doc_id
from schemas.rag import RagRequest, RagResponse
from schemas.service import (
    BulkDeleteResponse,
    ChunkOut,
    CollectionInfo,
    DeleteDocumentsRequest,
    DeleteOutcome,
    DeleteResponse,
    DocumentResponse,
    DropResponse,
    ErrorResponse,
    HealthResponse,
    ReadyResponse,
    UpsertDocumentsRequest,
)

__all__ = ["ops_router", "v1_router"]

logger = logging.getLogger(__name__)

#: seconds a readiness probe may take before it reports the check as timed out
READY_TIMEOUT_S = 5.0
#: seconds `DELETE /v1/jobs/{id}` waits for a running job to stop before answering its state
CANCEL_WAIT_S = 5.0

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "invalid request (a service limit, an unavailable route, an empty query)",
        401: "missing or invalid API key",
        403: "the key may not act on the named tenant, or the filter names the tenant",
        413: "request body too large",
        422: "the body does not match the schema, or an invalid filter",
        429: "this API key's per-minute rate limit is reached; retry after Retry-After",
        503: "overloaded or Milvus unavailable; retry after the Retry-After header",
    }.items()
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no such document for this tenant"}
}

v1_router = APIRouter(prefix="/v1", responses=_ERRORS)
ops_router = APIRouter(tags=["operations"])
TenantQuery = Annotated[str | None, Query(description="admin keys only")]


def _at_most(field: str, items: Sized, limit: int, where: str = "in one request") -> None:
    if len(items) > limit:
        hint = "; send several requests" if field == "documents" else ""
        raise InvalidRequestError(
            f"{len(items)} {field} {where}; this service accepts at most {limit}{hint}",
            details={"field": field, "limit": limit},
        )


def _check_search(opts: SearchOptions, queries: list[str], state: ServiceState) -> None:
    limits = state.settings.service
    if opts.top_k > limits.max_top_k:
        raise InvalidRequestError(
            f"top_k {opts.top_k} is over this service's limit of {limits.max_top_k}",
            details={"field": "top_k", "limit": limits.max_top_k},
        )
    for i, q in enumerate(queries):
        if len(q) > limits.max_query_chars:
            where = "query" if len(queries) == 1 else f"queries[{i}]"
            raise InvalidRequestError(
                f"{where} has {len(q)} characters; this service accepts at most "
                f"{limits.max_query_chars}",
                details={"field": where, "limit": limits.max_query_chars},
            )
    if opts.filter is not None:
        check_filter_scope(opts.filter)


#: route errors from the store carry Milvus' own text; clients get this sentence, the log the rest
_ROUTE_STORE_FAILURE = "the vector store failed on this route"


def _public(response: SearchResponse) -> SearchResponse:
    """A degraded answer as clients may see it: store failures in our own words, and a 503 when
    the store failed and nothing was found (an empty list would read as "no match"). A route
    with nothing to search is no failure: that answer stays a 200 saying why it is empty."""
    if not response.route_errors:
        return response
    logger.warning("search degraded: %s", response.route_errors)
    # a response built elsewhere (a test, a client) carries its failures in the public fields only
    known = response._failures or [
        RouteFailure(route, response.route_error_codes.get(route, ""), message)
        for route, message in response.route_errors.items()
    ]
    failures = [
        replace(f, message=_ROUTE_STORE_FAILURE) if f.kind in STORE_FAILURE_CODES else f
        for f in known
    ]
    if not response.hits and any(f.kind in STORE_FAILURE_CODES for f in failures):
        raise StoreUnavailableError(
            f"no hits while routes {sorted(response.route_errors)} failed",
            details={"routes": sorted(response.route_errors)},
        )
    reasons = [f.reason for f in failures] + response.reasons[len(failures) :]
    public = {f.route: f.message for f in failures}
    return response.model_copy(update={"route_errors": public, "reasons": reasons})


def _check_doc_id(doc_id: str) -> None:
    """An id no stored document can have is a 400, before it reaches a Milvus expression."""
    try:
        check_doc_id(doc_id)
    except ValueError as exc:
        raise InvalidRequestError(f"doc_id: {exc}", details={"field": "doc_id"}) from None


def _scoped_search(body: SearchRequest, principal: Principal, state: ServiceState) -> SearchRequest:
    """The request with its tenant set from the key, after the service limits are checked."""
    _check_search(body, [body.query], state)
    tenant = principal.tenant_for(body.tenant, state.settings.tenant)
    # exclude_unset: what the caller left out stays unset, so a collection's saved defaults apply
    fields = body.model_dump(exclude={"token_budget", "snippets"}, exclude_unset=True)
    return SearchRequest.model_validate({**fields, "tenant": tenant})


@v1_router.post("/search", tags=["search"])
async def search(
    body: SearchRequest,
    principal: PrincipalDep,
    state: StateDep,
    metrics: MetricsDep,
    work: WorkDep,
) -> SearchResponse:
    """Hybrid search for one query in the caller's tenant."""
    request = _scoped_search(body, principal, state)
    work.limit(state.settings.service.search_deadline_s)
    tenant = request.tenant or state.settings.tenant
    response = await state.gate.run(tenant, lambda: state.searcher.search(request), work)
    metrics.observe_timings(response.timings_ms)
    return _public(response)


@v1_router.post("/search/batch", tags=["search"])
async def search_batch(
    body: BatchSearchRequest,
    principal: PrincipalDep,
    state: StateDep,
    metrics: MetricsDep,
    work: WorkDep,
) -> BatchSearchResponse:
    """Several queries with the same options, encoded together in steps of `batch_step`
    queries; the deadline and the client are checked between steps (504 says how far it got).
    Batches are bulk work: they run in the searcher's low-priority threads, so single searches
    (of any tenant) get the CPU first."""
    _at_most("queries", body.queries, state.settings.service.max_batch, "in one batch")
    _check_search(body, body.queries, state)
    tenant = principal.tenant_for(body.tenant, state.settings.tenant)
    request = body.model_copy(update={"tenant": tenant})
    started = time.perf_counter()
    work.limit(state.settings.service.search_deadline_s)
    searcher = state.searcher
    steps = [
        lambda part=part: searcher.search_many(
            request.model_copy(update={"queries": part}), background=True, checkpoint=work.check
        )
        for part in chunked(request.queries, state.settings.service.batch_step)
    ]
    results = [r for part in await run_steps(state.gate, tenant, work, steps) for r in part]
    for r in results:
        metrics.observe_timings(r.timings_ms)
    total = round((time.perf_counter() - started) * 1000.0, 3)
    return BatchSearchResponse(results=[_public(r) for r in results], timings_ms={"total": total})


@v1_router.post("/rag/context", tags=["rag"])
async def rag_context(
    body: RagRequest, principal: PrincipalDep, state: StateDep, metrics: MetricsDep, work: WorkDep
) -> RagResponse:
    """Search, then pack the hits into a cited context of at most `token_budget` tokens.

    Tokens are counted with the embedding model's tokenizer, a close proxy for most LLMs'."""
    request = _scoped_search(body, principal, state)
    if body.snippets:  # a snippet is the highlight's
        request = request.model_copy(update={"highlight": True})
    searcher, tokenizer = state.searcher, state.encoder.tokenizer

    def run() -> RagResponse:
        response = _public(searcher.search(request))
        ctx = build_context(
            response,
            token_budget=body.token_budget,
            count_tokens=tokenizer.count_tokens,
            snippets=body.snippets,
        )
        return RagResponse(
            **ctx.model_dump(),
            query=response.query,
            timings_ms=response.timings_ms,
            degraded=response.degraded,
            reasons=response.reasons,
        )

    work.limit(state.settings.service.search_deadline_s)
    result = await state.gate.run(request.tenant or state.settings.tenant, run, work)
    metrics.observe_timings(result.timings_ms)
    return result


@v1_router.get("/collection", tags=["search"])
async def collection(principal: PrincipalDep, state: StateDep) -> CollectionInfo:
    """The served collection: its name, the routes it can search and its saved search defaults
    (`hybrid-search tune --save`), which fill what a request leaves out."""
    store, name = state.store, state.spec.name
    saved = await anyio.to_thread.run_sync(store.search_defaults, name)
    return CollectionInfo(
        name=name, routes=state.searcher.available_routes(), search_defaults=saved or {}
    )


@v1_router.post(
    "/documents",
    tags=["documents"],
    response_model=IngestSummary,
    responses={
        202: {"model": IngestJobResponse, "description": "a large write, queued as a job"},
        504: {
            "model": ErrorResponse,
            "description": "deadline; details.summary says what was done",
        },
    },
)
async def upsert_documents(
    body: UpsertDocumentsRequest, principal: PrincipalDep, state: StateDep, work: WorkDep
) -> Any:
    """Insert or replace documents (idempotent: unchanged ones are skipped); 200 whatever the mix,
    with one outcome per item (inserted, replaced, unchanged or failed with its error). Over
    `job_threshold_bytes` of text: 202 and a job id; `GET /v1/jobs/{job_id}` reports progress."""
    principal.check_write()
    s = state.settings
    _at_most("documents", body.documents, s.service.max_documents_per_request)
    tenant = principal.tenant_for(body.tenant, s.tenant)
    if documents_bytes(body.documents) > s.service.job_threshold_bytes:
        queued = state.jobs.submit(tenant, len(body.documents), body.documents)
        return JSONResponse(queued.view().model_dump(mode="json"), status_code=202)
    work.limit(s.service.write_deadline_s)
    store, encoder, spec, documents = state.store, state.encoder, state.spec, body.documents
    summary = await state.gate.run(
        tenant, lambda: write_documents(store, encoder, spec, s, tenant, documents, work), work
    )
    if summary.stopped is not None:
        raise stopped_error(summary, work)
    logger.info(
        "ingested %d documents for tenant %s: %d failed", summary.documents, tenant, summary.failed
    )
    return summary


@v1_router.post("/files", tags=["documents"], status_code=202, response_model=IngestJobResponse)
async def upload_files(files: list[UploadFile], principal: PrincipalDep, state: StateDep) -> Any:
    """Ingest uploaded files (.pdf, .docx, .html, .md, .txt) as a job for the key's tenant:
    202 and a job id; `GET /v1/jobs/{job_id}` gives one outcome per file, in upload order.
    Each file's name is its document id; a bad file fails alone. A file over
    `max_file_bytes`, or a request over `max_body_bytes`: 413 naming it."""
    principal.check_write()
    s = state.settings
    limit = s.service.max_file_bytes
    _at_most("files", files, s.service.max_documents_per_request)
    uploads = []
    for f in files:
        name, data = f.filename or "upload", await f.read()
        if len(data) > limit:
            raise PayloadTooLargeError(
                f"file '{name}' is {len(data)} bytes; this service accepts at most {limit} "
                "bytes per file",
                details={"file": name, "limit": limit},
            )
        uploads.append((name, data))
    queued = state.jobs.submit(principal.tenant_for(None, s.tenant), len(uploads), uploads)
    return JSONResponse(queued.view().model_dump(mode="json"), status_code=202)


@v1_router.delete("/documents", tags=["documents"])
async def delete_documents(
    body: DeleteDocumentsRequest, principal: PrincipalDep, state: StateDep
) -> BulkDeleteResponse:
    """Delete documents by ids or by a filter, inside the caller's tenant; one outcome per id."""
    principal.check_write()
    _at_most("ids", body.ids or [], state.settings.service.max_documents_per_request)
    if body.filter is not None:
        check_filter_scope(body.filter)
    scope = principal.tenant_for(body.tenant, state.settings.tenant)
    store, collection = state.store, state.spec.name
    done = await state.gate.run(
        scope, lambda: delete_many(store, collection, scope, body.ids, body.filter)
    )
    outcomes = [DeleteOutcome(id=d, status="deleted" if ok else "not_found") for d, ok in done]
    return BulkDeleteResponse(deleted=sum(ok for _, ok in done), outcomes=outcomes)


@v1_router.delete("/collection", tags=["documents"])
async def drop_documents(
    principal: PrincipalDep, state: StateDep, tenant: TenantQuery = None
) -> DropResponse:
    """Delete every document of the caller's tenant (`hybrid-search drop` over HTTP); the
    served collection and the other tenants' documents stay."""
    principal.check_write()
    scope = principal.tenant_for(tenant, state.settings.tenant)
    store, collection = state.store, state.spec.name
    n = await state.gate.run(scope, lambda: drop_tenant(store, collection, scope))
    return DropResponse(collection=collection, tenant=scope, deleted=n)


@v1_router.get("/documents/{doc_id:path}", tags=["documents"], responses=_NOT_FOUND)
async def get_document(
    doc_id: str, principal: PrincipalDep, state: StateDep, tenant: TenantQuery = None
) -> DocumentResponse:
    """A document's stored chunks, without vectors."""
    scope = principal.tenant_for(tenant, state.settings.tenant)
    _check_doc_id(doc_id)
    store, collection = state.store, state.spec.name
    rows = await state.gate.run(scope, lambda: get_chunks(store, collection, scope, doc_id))
    if not rows:
        raise DocumentNotFoundError(f"no document '{doc_id}'", details={"doc_id": doc_id})
    chunks = [ChunkOut.model_validate(r, from_attributes=True) for r in rows]
    return DocumentResponse(doc_id=doc_id, chunks=chunks)


@v1_router.delete("/documents/{doc_id:path}", tags=["documents"], responses=_NOT_FOUND)
async def delete_document(
    doc_id: str, principal: PrincipalDep, state: StateDep, tenant: TenantQuery = None
) -> DeleteResponse:
    """Delete a document's chunks and ColBERT vectors."""
    principal.check_write()
    scope = principal.tenant_for(tenant, state.settings.tenant)
    _check_doc_id(doc_id)
    store, collection = state.store, state.spec.name
    deleted = await state.gate.run(scope, lambda: store.delete(collection, scope, [doc_id]))
    if not deleted:
        raise DocumentNotFoundError(f"no document '{doc_id}'", details={"doc_id": doc_id})
    return DeleteResponse(doc_id=doc_id, deleted=True)


_JOB_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no such job for this tenant"}
}


@v1_router.get("/jobs/{job_id}", tags=["documents"], responses=_JOB_NOT_FOUND)
async def get_job(
    job_id: str, principal: PrincipalDep, state: StateDep, tenant: TenantQuery = None
) -> IngestJobResponse:
    """A queued write's state, progress (`done` of `total` documents) and, once finished,
    its summary with one outcome per document."""
    scope = principal.tenant_for(tenant, state.settings.tenant)
    return state.jobs.get(scope, job_id).view()


@v1_router.delete("/jobs/{job_id}", tags=["documents"], responses=_JOB_NOT_FOUND)
async def cancel_job(
    job_id: str, principal: PrincipalDep, state: StateDep, tenant: TenantQuery = None
) -> IngestJobResponse:
    """Stop a job: a queued one at once, a running one at its next encode batch (answered
    with the state reached within a few seconds); the documents it committed stay."""
    principal.check_write()
    scope = principal.tenant_for(tenant, state.settings.tenant)
    job = await anyio.to_thread.run_sync(lambda: state.jobs.cancel(scope, job_id, CANCEL_WAIT_S))
    return job.view()


@ops_router.get("/healthz")
async def healthz() -> HealthResponse:
    """The process is up (says nothing about Milvus or the models; see /readyz)."""
    return HealthResponse()


@ops_router.get("/readyz", responses={503: {"model": ReadyResponse}})
async def readyz(request: Request) -> JSONResponse:
    """Milvus reachable, collection loaded, models loaded: 200; otherwise 503 naming the check."""
    state = getattr(request.app.state, "service", None)
    if not isinstance(state, ServiceState):
        body = ReadyResponse(ready=False, checks={"startup": "not finished"}, deployment="unknown")
        return JSONResponse(body.model_dump(), status_code=503)
    checks: dict[str, str] = {}
    try:
        with anyio.fail_after(READY_TIMEOUT_S):
            await anyio.to_thread.run_sync(_probe, state, checks, abandon_on_cancel=True)
    except TimeoutError:
        for name in ("milvus", "collection", "models"):
            checks.setdefault(name, "timed out")
    ready = all(v == "ok" for v in checks.values())
    body = ReadyResponse(
        ready=ready,
        checks=checks,
        deployment="milvus-lite" if state.settings.is_milvus_lite() else "milvus-server",
    )
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


def _probe(state: ServiceState, checks: dict[str, str]) -> None:
    store = state.store
    try:
        store.health()
        checks["milvus"] = "ok"
    except Exception:
        logger.warning("readiness: Milvus unreachable", exc_info=True)
        checks["milvus"] = "unreachable"
        checks["collection"] = "unknown"
    if "collection" not in checks:
        try:
            loaded = store.health(state.spec.name).state
            checks["collection"] = "ok" if loaded == "Loaded" else f"not loaded ({loaded})"
        except Exception:
            logger.warning("readiness: collection check failed", exc_info=True)
            checks["collection"] = "missing"
    flags = [getattr(m, "loaded", True) for m in (state.encoder, state.reranker) if m is not None]
    checks["models"] = "ok" if all(flags) else "not loaded"


@ops_router.get("/metrics", response_class=Response)
async def metrics_endpoint(metrics: MetricsDep) -> Response:
    """Prometheus text format; labels carry no tenant, key or query text."""
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
