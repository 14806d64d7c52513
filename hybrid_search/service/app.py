"""The app factory: settings -> FastAPI app whose lifespan loads the models and the collection once.

Middleware, outermost first: metrics (counts every answer, 413 and 500 included) -> catch-all
(request id, generic 500) -> body guard (401, 413) -> FastAPI's exception handlers and routes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from hybrid_search.encoders.base import Encoder
from hybrid_search.errors import ConfigError
from hybrid_search.factory import collection_spec
from hybrid_search.rerank.base import Reranker
from hybrid_search.searcher import HybridSearcher
from hybrid_search.service.admission import TenantGate
from hybrid_search.service.api import ops_router, v1_router
from hybrid_search.service.auth import Authenticator, is_loopback_host
from hybrid_search.service.console import console_router
from hybrid_search.service.deps import ServiceState
from hybrid_search.service.errors import CatchAllMiddleware, install_error_handlers
from hybrid_search.service.execution import job_runner
from hybrid_search.service.jobs import JobQueue
from hybrid_search.service.limits import BodySizeLimitMiddleware, RateLimiter
from hybrid_search.service.mcp_server import mount_mcp
from hybrid_search.service.metrics import Metrics, MetricsMiddleware
from hybrid_search.settings import Settings
from hybrid_search.store.base import VectorStore
from hybrid_search.version import __version__
from schemas.collection import CollectionSpec

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

NO_KEYS_WARNING = "no API keys: single-tenant, loopback only"


def create_app(
    settings: Settings | None = None, *, searcher: HybridSearcher | None = None
) -> FastAPI:
    """Build the service app; a given `searcher` is served and left to its owner to close.
    ConfigError when no API keys are configured and the host is not loopback."""
    settings = settings or Settings()
    limits = settings.service
    auth = Authenticator(limits.api_keys, settings.tenant)
    if auth.open and not is_loopback_host(limits.host):
        raise ConfigError(
            f"refusing to serve on {limits.host} without API keys: configure "
            "HYBRID_SEARCH_SERVICE__API_KEYS (see `hybrid-search keys create`) or bind to "
            "127.0.0.1",
            details={"host": limits.host},
        )
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if auth.open:
            logger.warning("%s (tenant %r)", NO_KEYS_WARNING, settings.tenant)
        owned = searcher is None
        served: HybridSearcher
        if searcher is None:
            served = await anyio.to_thread.run_sync(HybridSearcher.from_settings, settings)
        else:
            served = searcher
        jobs: JobQueue | None = None
        try:
            # the one place components are taken from the searcher; handlers get them injected
            store, encoder, reranker = served.store, served.encoder, served.reranker
            spec = await anyio.to_thread.run_sync(
                _prepare, store, encoder, reranker, served.collection, settings
            )
            gate = TenantGate(
                limits.max_concurrency,
                limits.max_queue,
                limits.retry_after_s,
                tenant_running=limits.tenant_max_running,
                tenant_queue=limits.tenant_max_queue,
            )
            jobs = JobQueue(
                job_runner(store, encoder, spec, settings, served.give_way),
                workers=limits.job_workers,
                max_queued=limits.job_queue,
                per_tenant=limits.job_per_tenant,
                timeout_s=limits.job_deadline_s,
                retry_after_s=limits.retry_after_s,
            )
            # read at scrape time instead of updating gauges on every change
            metrics.jobs_running.set_function(lambda: gate.running)
            metrics.jobs_waiting.set_function(lambda: gate.waiting)
            app.state.service = ServiceState(
                settings, served, store, encoder, reranker, gate, spec, jobs
            )
            logger.info(
                "serving collection %s: %d workers, queue %d, %d API keys",
                served.collection,
                limits.max_concurrency,
                limits.max_queue,
                len(limits.api_keys),
            )
            async with mcp_running():
                yield
        finally:
            app.state.service = None
            if jobs is not None:
                jobs.close()  # running jobs stop at their next window
            if owned:
                served.close()

    app = FastAPI(
        title="hybrid-search",
        version=__version__,
        description="Hybrid search on Milvus: BGE-M3 dense + sparse + ColBERT, BM25, RRF fusion "
        "and a bge-reranker, with RAG context building. Every error body is "
        '`{"error": {"code", "message", "details"}}`.',
        lifespan=lifespan,
        generate_unique_id_function=lambda route: route.name,  # stable ids for generated clients
        redirect_slashes=False,  # a redirect would be built from the client's Host header
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.auth = auth
    per_minute = settings.service.rate_limit_per_minute
    app.state.rate_limiter = RateLimiter(per_minute) if per_minute else None
    app.state.service = None
    install_error_handlers(app)
    app.include_router(v1_router)
    app.include_router(ops_router)
    app.include_router(console_router)
    mcp_running = mount_mcp(app)
    # add_middleware puts each new one outside the previous ones
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=limits.max_body_bytes)
    app.add_middleware(CatchAllMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def _prepare(
    store: VectorStore,
    encoder: Encoder,
    reranker: Reranker | None,
    collection: str,
    settings: Settings,
) -> CollectionSpec:
    """Blocking start-up work: log the deployment, load the models, ensure the collection (created
    when missing; one that does not match the model raises SchemaMismatchError)."""
    health = store.health()
    if health.embedded:
        logger.warning(
            "%s: one process only (never point a second process or worker at the same file), "
            "no float16/binary vectors; use Milvus standalone or cluster in production",
            health.deployment,
        )
    else:
        logger.info("%s", health.deployment)
    for model in (encoder, reranker):
        load = getattr(model, "load", None)
        if callable(load):
            load()
    spec = collection_spec(settings, encoder, collection)
    store.ensure_collection(spec)
    return spec
