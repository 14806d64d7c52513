"""How a request's blocking work runs: admitted by tenant, cut into steps, within its deadline.

The handlers in `api.py` stay thin; this module holds what they share: the request's `Work`
(deadline + client-gone flag, from the body guard), batch searches cut into sub-batches so a
deadline or a departed client stops them between steps and other tenants get a turn, and
writes that run inline under the gate or, over the size threshold, as jobs on their own worker.
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
    """Run `steps` in order, each as one gate job, checking `work` before each.

    Raises:
        DeadlineExceededError, ClientGoneError: with `details` {"completed", "total"} saying how
            many steps were done.
    """
    results: list[T] = []
    for step in steps:
        try:
            results.append(await gate.run(tenant, _checked(work, step), work))
        except (DeadlineExceededError, ClientGoneError) as exc:
            raise _with_progress(exc, len(results), len(steps)) from None
    return results


def _checked(work: Work, step: Callable[[], T]) -> Callable[[], T]:
    def run() -> T:
        work.check()  # the deadline may have passed while the step waited for a slot
        return step()

    return run


def _with_progress(exc: HybridSearchError, completed: int, total: int) -> HybridSearchError:
    exc.details = {**exc.details, "completed": completed, "total": total}
    return exc


def chunked(items: Sequence[Any], size: int) -> list[list[Any]]:
    """`items` in consecutive slices of at most `size`."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def documents_bytes(documents: Sequence[Any]) -> int:
    """The UTF-8 size of the documents' text fields: what makes a write long (encoding time
    grows with tokens), so what decides whether it runs inline or as a job."""
    total = 0
    for doc in documents:
        if isinstance(doc, dict):
            text = doc.get("text")
            if isinstance(text, str):
                total += len(text.encode("utf-8", "surrogatepass"))
    return total


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
        documents = job.payload
        assert isinstance(documents, list)
        return write_documents(
            store,
            encoder,
            spec,
            settings,
            job.tenant,
            documents,
            job.work,
            job.progress,
            give_way,
        )

    return run
