"""PDF reader pages/s against the tiny-model ingest rate in documents/s: parsing must not be the
bottleneck (target >= 10x). `python -m hybrid_search.benchmarks.pdf_rate [dataset] [n_docs]`."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import typer

from hybrid_search.benchmarks.corpus import from_path, write_jsonl
from hybrid_search.benchmarks.env import tiny_settings
from hybrid_search.benchmarks.render import render_pdf


def main(dataset: Path, n_docs: int = 200) -> None:
    import pypdfium2 as pdfium

    from hybrid_search.encoders.tiny import build_tiny_models
    from hybrid_search.factory import build_encoder, build_store, collection_spec, ingest_options
    from ingest.pipeline import IngestJob
    from ingest.readers import read_document, read_paths

    docs = from_path(dataset, n_docs, 1).docs
    pdfs = [render_pdf(d.title, [d.text]) for d in docs]
    pages = sum(len(pdfium.PdfDocument(p)) for p in pdfs)
    started = time.perf_counter()
    for i, p in enumerate(pdfs):
        read_document(p, f"{i}.pdf")
    pdf_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        s = tiny_settings(Path(tmp), build_tiny_models(Path(tmp) / "models"))
        encoder, store = build_encoder(s), build_store(s)
        job = IngestJob(store, encoder, collection_spec(s, encoder), ingest_options(s))
        summary = job.run(read_paths([write_jsonl(docs, Path(tmp) / "d.jsonl")]))
        store.close()
    pages_per_s, docs_per_s = pages / pdf_s, summary.documents / summary.seconds
    typer.echo(f"{dataset.name}: {len(docs)} documents, {pages} PDF pages")
    typer.echo(f"PDF reader: {pages_per_s:.1f} pages/s ({pdf_s:.2f} s)")
    typer.echo(f"tiny-model ingest: {docs_per_s:.1f} documents/s ({summary.seconds:.2f} s)")
    ratio = pages_per_s / docs_per_s
    typer.echo(f"ratio: {ratio:.1f}x (target >= 10x: {'met' if ratio >= 10 else 'NOT met'})")


if __name__ == "__main__":
    main(
        Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets/scifact"),
        int(sys.argv[2]) if len(sys.argv) > 2 else 200,
    )
