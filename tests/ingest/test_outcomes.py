"""One outcome per input document, and a job that stops between windows says what it did."""

from __future__ import annotations

from hybrid_search.store import ops
from ingest.pipeline import IngestJob, IngestOptions
from ingest.readers import record_from_object


def _job(store, encoder, spec, settings, progress=None, batch_size=64) -> IngestJob:  # type: ignore[no-untyped-def]
    opts = IngestOptions(
        tenant="t",
        max_chunk_tokens=settings.max_chunk_tokens,
        chunk_overlap_tokens=settings.chunk_overlap_tokens,
        window_documents=2,
        batch_size=batch_size,
    )
    return IngestJob(store, encoder, spec, opts, progress=progress)


def _records(items: list[object]) -> list[object]:
    return [record_from_object(obj, "request", i) for i, obj in enumerate(items)]


def test_every_document_gets_its_outcome_in_input_order(store, encoder, spec, settings) -> None:  # type: ignore[no-untyped-def]
    first = _job(store, encoder, spec, settings).run(
        _records([{"id": "a", "text": "alpha text"}, {"id": "b", "text": "beta text"}]),
        outcomes=True,
    )
    assert [o.status for o in first.outcomes or []] == ["inserted", "inserted"]
    items = [
        {"id": "a", "text": "alpha text"},  # unchanged
        {"id": "b", "text": "beta text, changed"},  # replaced
        7,  # not an object
        {"id": "c", "text": "gamma"},  # new
        {"id": "a", "text": "again"},  # duplicate in this request
        {"id": "\udfff", "text": "x"},  # lone surrogate
    ]
    summary = _job(store, encoder, spec, settings).run(_records(items), outcomes=True)
    got = [(o.index, o.id, o.status) for o in summary.outcomes or []]
    assert got == [
        (0, "a", "unchanged"),
        (1, "b", "replaced"),
        (2, None, "failed"),
        (3, "c", "inserted"),
        (4, "a", "failed"),
        (5, "\\udfff", "failed"),
    ], got
    assert all(o.error for o in (summary.outcomes or []) if o.status == "failed")
    assert "duplicate" in (summary.outcomes or [])[4].error  # type: ignore[operator]
    summary.model_dump_json()  # serialisable whatever the input held
    assert _job(store, encoder, spec, settings).run(_records(items)).outcomes is None


def test_a_stopped_job_commits_what_it_encoded_and_fails_the_rest(  # type: ignore[no-untyped-def]
    store, encoder, spec, settings
) -> None:
    done: list[int] = []

    def stop() -> str | None:  # after two windows of two
        return "deadline" if sum(done) >= 4 else None

    items = [{"id": f"d{i}", "text": f"document number {i}"} for i in range(7)]
    job = _job(store, encoder, spec, settings, progress=done.append)
    summary = job.run(_records(items), stop=stop, outcomes=True)
    assert summary.stopped == "deadline"
    statuses = [o.status for o in summary.outcomes or []]
    assert statuses == ["inserted"] * 4 + ["failed"] * 3, statuses  # two windows of two
    assert (summary.inserted, summary.failed) == (4, 3)
    assert "stopped (deadline)" in (summary.outcomes or [])[-1].error  # type: ignore[operator]
    assert ops.doc_states(store, spec.name, "t", [f"d{i}" for i in range(7)]).keys() == {
        "d0",
        "d1",
        "d2",
        "d3",
    }


def test_a_document_stopped_between_its_encode_batches_leaves_nothing(  # type: ignore[no-untyped-def]
    store, encoder, spec, settings
) -> None:
    asked: list[int] = []

    def stop() -> str | None:  # asked before chunking, then at the second encode batch
        asked.append(1)
        return "cancelled" if len(asked) >= 3 else None

    long_text = " ".join(f"word{i} about vector search" for i in range(400))
    items = [{"id": "long", "text": long_text}]
    job = _job(store, encoder, spec, settings, batch_size=2)
    summary = job.run(_records(items), stop=stop, outcomes=True)
    assert summary.stopped == "cancelled" and len(asked) == 3
    assert [o.status for o in summary.outcomes or []] == ["failed"]
    assert ops.doc_states(store, spec.name, "t", ["long"]) == {}
    assert ops.docs_with_token_vectors(store, spec.name, "t", ["long"]) == set()
