"""Large writes as jobs: `POST /v1/documents` over a size threshold answers 202 and a job id.

Run inline, a large write would hold a search slot for minutes (docs/design.md): jobs run on
their own worker threads instead, in a queue bounded overall and per tenant.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from hybrid_search.errors import HybridSearchError, OverloadedError
from hybrid_search.service.errors import (
    ClientGoneError,
    DeadlineExceededError,
    JobNotFoundError,
    TenantBusyError,
)
from hybrid_search.service.work import Work
from hybrid_search.threads import BACKGROUND_NICE, lower_thread_priority
from schemas.documents import IngestJobResponse, IngestSummary, JobState

__all__ = ["Job", "JobQueue", "JobRunner"]

logger = logging.getLogger(__name__)


@dataclass
class Job:
    """One submitted write. Once it ends, `payload` is dropped and the summary kept as JSON
    (finished jobs stay up to an hour; as models each took ~7.5 KB, docs/reliability-soak.md)."""

    id: str
    tenant: str
    total: int
    payload: object
    work: Work
    state: JobState = "queued"
    done: int = 0
    summary_json: bytes | None = None
    error: str | None = None
    submitted_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    ended: threading.Event = field(default_factory=threading.Event)

    def progress(self, documents: int) -> None:
        self.done += documents

    def view(self) -> IngestJobResponse:
        return IngestJobResponse(
            job_id=self.id,
            state=self.state,
            total=self.total,
            done=self.done,
            summary=None
            if self.summary_json is None
            else IngestSummary.model_validate_json(self.summary_json),
            error=self.error,
            submitted_at=self.submitted_at,
            finished_at=self.finished_at,
        )


#: runs one job to its end and returns its summary (partial, with `stopped`, when stopped early)
JobRunner = Callable[[Job], IngestSummary]


class JobQueue:
    """Bounded job queue with its own worker threads; finished jobs are kept `keep_s` seconds
    (at most `keep` of them), visible to the submitting tenant only."""

    def __init__(
        self,
        runner: JobRunner,
        *,
        workers: int = 1,
        max_queued: int = 8,
        per_tenant: int = 2,
        timeout_s: float = 3600.0,
        keep_s: float = 3600.0,
        keep: int = 1000,
        retry_after_s: int = 5,
    ) -> None:
        self._runner = runner
        self.max_queued, self.per_tenant = max_queued, per_tenant
        self.timeout_s, self.keep_s, self.keep = timeout_s, keep_s, keep
        self.retry_after_s = retry_after_s
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._serve, name=f"ingest-job-{i}", daemon=True)
            for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    def submit(self, tenant: str, total: int, payload: object) -> Job:
        """Queue a job for `tenant`: TenantBusyError (429) over `per_tenant` active jobs,
        OverloadedError (503) over `max_queued` waiting ones."""
        with self._lock:
            self._expire()
            active = [j for j in self._jobs.values() if j.state in ("queued", "running")]
            if sum(1 for j in active if j.tenant == tenant) >= self.per_tenant:
                raise TenantBusyError(
                    f"this tenant already has {self.per_tenant} ingest jobs queued or running; "
                    f"retry in {self.retry_after_s}s",
                    details={"retry_after_s": self.retry_after_s},
                )
            if sum(1 for j in active if j.state == "queued") >= self.max_queued:
                raise OverloadedError(
                    f"{self.max_queued} ingest jobs are waiting; retry in {self.retry_after_s}s",
                    details={"retry_after_s": self.retry_after_s},
                )
            job_id = secrets.token_hex(16)  # a counter would tell every tenant how busy others are
            job = Job(job_id, tenant, total, payload, Work(self.timeout_s))
            self._jobs[job_id] = job
        self._queue.put(job)
        return job

    def get(self, tenant: str, job_id: str) -> Job:
        """The job, if `tenant` submitted it (another tenant's is never revealed)."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.tenant != tenant:
            raise JobNotFoundError("no ingest job with this id", details={"job_id": job_id})
        return job

    def cancel(self, tenant: str, job_id: str, wait_s: float = 0.0) -> Job:
        """Stop a job: a queued one is cancelled at once (its payload freed), a running one at
        its next encode batch, waited for up to `wait_s` so the answer says the state reached."""
        job = self.get(tenant, job_id)
        job.work.client_left()
        with self._lock:
            if job.state == "queued":
                self._finish(job, "cancelled", None, "cancelled before it started")
        job.ended.wait(wait_s)
        return job

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop every job at its next window and the workers after it (service shutdown)."""
        with self._lock:
            for job in self._jobs.values():
                job.work.client_left()
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join(timeout_s)

    def _serve(self) -> None:
        lower_thread_priority(BACKGROUND_NICE)  # jobs yield the CPU to searches
        while (job := self._queue.get()) is not None:
            self._run(job)

    def _run(self, job: Job) -> None:
        with self._lock:
            if job.state != "queued":  # cancelled while it waited
                return
            if job.work.client_gone:  # the service is closing
                self._finish(job, "cancelled", None, "cancelled before it started")
                return
            job.state = "running"
        try:
            summary = self._runner(job)
        except (ClientGoneError, DeadlineExceededError) as exc:
            state: JobState = "cancelled" if isinstance(exc, ClientGoneError) else "failed"
            self._finish(job, state, None, exc.message)
        except HybridSearchError as exc:
            logger.warning("ingest job %s failed: %s", job.id, exc)
            self._finish(job, "failed", None, exc.message)
        except Exception:
            logger.exception("ingest job %s failed", job.id)
            self._finish(job, "failed", None, "internal error; see the service log")
        else:
            if summary.stopped == "cancelled":
                self._finish(job, "cancelled", summary, "cancelled; the summary says what was done")
            elif summary.stopped is not None:
                self._finish(job, "failed", summary, f"stopped: {summary.stopped}")
            else:
                self._finish(job, "done", summary, None)

    def _finish(
        self, job: Job, state: JobState, summary: IngestSummary | None, error: str | None
    ) -> None:
        if summary is not None:
            job.summary_json = summary.model_dump_json().encode()
        job.error = error
        job.finished_at = time.time()
        job.payload = None
        job.state = state
        job.ended.set()
        logger.info("ingest job %s (%d documents) %s", job.id, job.total, state)

    def _expire(self) -> None:
        """Forget finished jobs older than keep_s, and the oldest beyond `keep` (lock held)."""
        now = time.time()
        finished = [j for j in self._jobs.values() if j.finished_at is not None]
        for j in finished:
            if now - (j.finished_at or now) > self.keep_s:
                del self._jobs[j.id]
        fresh = [j for j in finished if j.id in self._jobs]
        for j in fresh[: max(0, len(finished) - self.keep)]:
            del self._jobs[j.id]
