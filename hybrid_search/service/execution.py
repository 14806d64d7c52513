"""How a request's blocking work runs: admitted by tenant, cut into steps, within its deadline.

Steps let a deadline or a departed client stop the work between them and other tenants take a turn;
writes over the size threshold run as jobs on their own worker instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request

from hybrid_search.encoders.base import Encoder
from hybrid_search.errors import HybridSearchError, IngestError
from hybrid_search.factory import ingest_options
from hybrid_search.process import release_memory
from hybrid_search.service.admission import TenantGate
from hybrid_search.service.errors import ClientGoneError, DeadlineExceededError
from hybrid_search.service.jobs import Job, JobRunner
from hybrid_search.service.work import Work
from hybrid_search.settings import Settings
from hybrid_search.store.base import VectorStore
from ingest.pipeline import IngestJob
from ingest.readers import SourceDoc, read_document, record_from_object
from schemas.collection import CollectionSpec
from schemas.documents import IngestSummary

__all__ = [
    "HTTP_WINDOW_DOCUMENTS",
    "WorkDep",
    "chunked",
    "current_work",
    "documents_bytes",
    "job_runner",
    "run_steps",
    "stopped_error",
    "write_documents",
]

#: documents per ingest window for HTTP writes: the job checks its deadline and its client
#: between windows, so smaller windows stop sooner (at a few more Milvus round trips)
HTTP_WINDOW_DOCUMENTS = 32

T = TypeVar("T")


def current_work(request: Request) -> Work:
    """The request's Work (created by the body guard, which also watches the connection)."""
    work = getattr(request.state, "work", None)
    if not isinstance(work, Work):
        work = Work()
        request.state.work = work
    return work


WorkDep = Annotated[Work, Depends(current_work)]


async def run_steps(
    gate: TenantGate, tenant: str, work: Work, steps: Sequence[Callable[[], T]]
) -> list[T]:
    """Run `steps` in order, each as one gate job; a stop's `details` say how many were done."""
    results: list[T] = []
    for step in steps:
        try:
            results.append(await gate.run(tenant, _checked(work, step), work))
        except (DeadlineExceededError, ClientGoneError) as exc:
            exc.details = {**exc.details, "completed": len(results), "total": len(steps)}
            raise exc from None
    return results


def _checked(work: Work, step: Callable[[], T]) -> Callable[[], T]:
    def run() -> T:
        work.check()  # the deadline may have passed while the step waited for a slot
        return step()

    return run


def chunked(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def documents_bytes(documents: Sequence[Any]) -> int:
    """UTF-8 bytes of the documents' texts: encoding time grows with them, so this decides
    whether a write runs inline or as a job."""
    texts = (doc.get("text") for doc in documents if isinstance(doc, dict))
    return sum(len(t.encode("utf-8", "surrogatepass")) for t in texts if isinstance(t, str))


def write_documents(
    store: VectorStore,
    encoder: Encoder,
    spec: CollectionSpec,
    settings: Settings,
    tenant: str,
    documents: Sequence[Any],
    work: Work,
    progress: Callable[[int], None] | None = None,
    give_way: Callable[[], None] | None = None,
) -> IngestSummary:
    """Validate and ingest an HTTP write in the calling (worker) thread: one outcome per item,
    stopping between windows at the deadline or when the client leaves."""
    records = [
        read_upload(*obj) if isinstance(obj, tuple) else record_from_object(obj, "request", i)
        for i, obj in enumerate(documents)
    ]
    options = ingest_options(settings, tenant=tenant, window_documents=HTTP_WINDOW_DOCUMENTS)
    job = IngestJob(store, encoder, spec, options, progress=progress, give_way=give_way)
    try:
        return job.run(records, stop=work.stop_reason, outcomes=True)
    finally:
        del records, job
        release_memory()


def read_upload(name: str, data: bytes) -> SourceDoc | IngestError:
    """One uploaded file (`POST /v1/files`), read in the job's worker thread."""
    try:
        return read_document(data, name)
    except IngestError as exc:
        return exc


def stopped_error(summary: IngestSummary, work: Work) -> HybridSearchError:
    """The 504 (or, for a departed client, the logged 499) for a write that stopped early; its
    details carry the summary, so the caller knows every document's outcome."""
    details = {"summary": summary.model_dump(mode="json")}
    if summary.stopped == "cancelled":
        return ClientGoneError(
            "the client closed the connection; the write stopped", details=details
        )
    return DeadlineExceededError(
        f"the write ran out of its {work.timeout_s:g}s deadline; the summary says which documents "
        "were written",
        details=details,
    )


def job_runner(
    store: VectorStore,
    encoder: Encoder,
    spec: CollectionSpec,
    settings: Settings,
    give_way: Callable[[], None] | None = None,
) -> JobRunner:
    """What the job queue runs for a large `POST /v1/documents`; `give_way` between its encode
    batches (the searcher's, so interactive searches go first)."""

    def run(job: Job) -> IngestSummary:
        assert isinstance(job.payload, list)
        return write_documents(
            store,
            encoder,
            spec,
            settings,
            job.tenant,
            job.payload,
            job.work,
            job.progress,
            give_way,
        )

    return run
