"""Finished ingest jobs are remembered for `GET /v1/jobs/{id}` within two bounds, the count
(`keep`) and the age (`keep_s`), and each holds its summary as JSON: under the soak's steady
writes the job records were one of the things a long-running service kept adding."""

from __future__ import annotations

import time

import pytest

from hybrid_search.service.errors import JobNotFoundError
from hybrid_search.service.jobs import Job, JobQueue
from schemas.documents import DocumentOutcome, IngestSummary

SUMMARY = IngestSummary(
    documents=2,
    chunks=3,
    inserted=1,
    replaced=1,
    outcomes=[
        DocumentOutcome(index=0, id="a", status="inserted"),
        DocumentOutcome(index=1, id="b", status="replaced"),
    ],
)


def _queue(**bounds: float) -> JobQueue:
    return JobQueue(lambda job: SUMMARY, workers=1, per_tenant=100, max_queued=100, **bounds)  # type: ignore[arg-type]


def _run(queue: JobQueue, n: int) -> list[Job]:
    jobs = [queue.submit("A", 2, [{"id": "a"}]) for _ in range(n)]
    for job in jobs:
        assert job.ended.wait(10), "the job did not finish"
    return jobs


def test_a_finished_job_answers_its_summary_and_drops_its_payload() -> None:
    queue = _queue()
    try:
        (job,) = _run(queue, 1)
        view = queue.get("A", job.id).view()
    finally:
        queue.close()
    assert view.state == "done" and view.summary == SUMMARY
    assert job.payload is None and isinstance(job.summary_json, bytes)


def test_beyond_keep_the_oldest_finished_jobs_are_forgotten() -> None:
    queue = _queue(keep=3)
    try:
        first = _run(queue, 5)
        _run(queue, 1)  # a submit forgets what is over the bounds
        for gone in first[:2]:
            with pytest.raises(JobNotFoundError):
                queue.get("A", gone.id)
        assert [queue.get("A", j.id).view().summary for j in first[2:]] == [SUMMARY] * 3
        assert len(queue._jobs) == 4  # three finished kept + the one just submitted
    finally:
        queue.close()


def test_finished_jobs_older_than_keep_s_are_forgotten() -> None:
    queue = _queue(keep_s=0.2)
    try:
        (old,) = _run(queue, 1)
        time.sleep(0.3)
        (new,) = _run(queue, 1)
        with pytest.raises(JobNotFoundError):
            queue.get("A", old.id)
        assert queue.get("A", new.id).view().state == "done"
    finally:
        queue.close()
