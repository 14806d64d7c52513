"""One module per file format: `read(data, name)` -> (title, blocks), or one IngestError naming
the file; `ingest.readers.read_document` dispatches by suffix."""
