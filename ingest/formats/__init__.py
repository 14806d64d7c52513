"""One module per file format: `read(data, name)` -> (title, blocks), or one IngestError.

Each reader names the file (and page or part) in its error; `ingest.readers.read_document`
dispatches by suffix after checking the content is what the suffix says.
"""
