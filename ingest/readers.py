"""Read documents from JSON Lines, BEIR dataset directories and .txt/.md files, streaming.

Each record comes out as a `SourceDoc` or, when it is bad, as an `IngestError` that names the file
and line (and field): a bad record never stops the records after it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hybrid_search.errors import IngestError
from ingest.blocks import Block
from schemas.documents import Document

TEXT_SUFFIXES = (".txt", ".md", ".markdown")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
_ID_KEYS = ("id", "_id")
_BOMS = {b"\xff\xfe": "UTF-16-LE", b"\xfe\xff": "UTF-16-BE"}
MAX_LINE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SourceDoc:
    doc: Document
    source: str
    line: int | None = None
    #: the text's structure when the reader knows it (headings, pages); empty: split on blank lines
    blocks: tuple[Block, ...] = ()


Record = SourceDoc | IngestError


def read_paths(paths: Iterable[str | Path]) -> Iterator[Record]:
    """Dispatch each path by kind; a missing path is one error, not a crash."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            corpus = path / "corpus.jsonl"
            if corpus.is_file():
                yield from read_jsonl(corpus)
            else:
                yield from read_text_dir(path)
        elif path.is_file():
            if path.suffix.lower() in JSONL_SUFFIXES:
                yield from read_jsonl(path)
            elif path.suffix.lower() in TEXT_SUFFIXES:
                yield from _read_text_file(path, path.name)
            else:
                yield IngestError(
                    f"unsupported file type '{path.suffix}' (expected .jsonl, .txt, .md "
                    "or a BEIR directory)",
                    source=str(path),
                )
        else:
            yield IngestError("no such file or directory", source=str(path))


def _utf16_error(head: bytes, source: str) -> IngestError | None:
    for bom, name in _BOMS.items():
        if head.startswith(bom):
            return IngestError(
                f"file is {name} encoded; re-encode it as UTF-8", source=source, line=1
            )
    return None


def read_jsonl(path: Path) -> Iterator[Record]:
    """One JSON object per line: id (or BEIR _id), text, optional title; other keys -> metadata."""
    source = str(path)
    try:
        fh = path.open("rb")
    except OSError as exc:
        yield IngestError(f"cannot open: {exc.strerror}", source=source)
        return
    with fh:
        head = fh.peek(4)[:4] if hasattr(fh, "peek") else b""
        if err := _utf16_error(head, source):
            yield err
            return
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if len(raw) > MAX_LINE_BYTES:
                yield IngestError(
                    f"line longer than {MAX_LINE_BYTES} bytes", source=source, line=lineno
                )
                continue
            if not raw.strip():
                continue
            if b"\x00" in raw:
                yield IngestError(
                    f"raw NUL byte at byte {raw.index(0)} of the line (JSON never holds one): "
                    "UTF-16 without a byte-order mark, or binary data? Re-encode as UTF-8",
                    source=source,
                    line=lineno,
                )
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield IngestError(
                    f"not valid UTF-8 at byte {exc.start} of the line; re-encode the file as UTF-8",
                    source=source,
                    line=lineno,
                )
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                yield IngestError(
                    f"malformed JSON at column {exc.colno}: {exc.msg}", source=source, line=lineno
                )
                continue
            except RecursionError:
                yield IngestError("JSON nested too deeply to parse", source=source, line=lineno)
                continue
            yield record_from_object(obj, source, lineno)


def record_from_object(obj: Any, source: str, line: int | None) -> Record:
    """Validate one JSON object as a Document; errors name the field."""
    if not isinstance(obj, dict):
        return IngestError(
            f"expected a JSON object, got {type(obj).__name__}", source=source, line=line
        )
    keys = [k for k in _ID_KEYS if k in obj]
    if not keys:
        return IngestError(
            "missing document id ('id' or '_id')", source=source, line=line, field="id"
        )
    if len(keys) == 2 and obj["id"] != obj["_id"]:
        return IngestError(
            "both 'id' and '_id' given and they differ", source=source, line=line, field="id"
        )
    doc_id = obj[keys[0]]
    if isinstance(doc_id, bool) or not isinstance(doc_id, str | int):
        return IngestError(
            f"id must be a string or an integer, got {type(doc_id).__name__}",
            source=source,
            line=line,
            field=keys[0],
        )
    doc_id = str(doc_id)
    if "text" not in obj:
        return IngestError("missing 'text'", source=source, line=line, field="text", doc_id=doc_id)
    extra = {k: v for k, v in obj.items() if k not in (*_ID_KEYS, "text", "title", "metadata")}
    metadata = obj.get("metadata", {})
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        return IngestError(
            f"metadata must be a JSON object, got {type(metadata).__name__}",
            source=source,
            line=line,
            field="metadata",
            doc_id=doc_id,
        )
    title = obj.get("title")
    try:
        doc = Document(
            id=doc_id,
            text=obj["text"],
            title="" if title is None else title,
            metadata={**extra, **metadata},
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        msg = str(first["msg"]).removeprefix("Value error, ")
        return IngestError(msg, source=source, line=line, field=field, doc_id=doc_id)
    return SourceDoc(doc, source, line)


def read_text_dir(root: Path) -> Iterator[Record]:
    """Every .txt/.md file below root, in sorted order; doc id = path relative to root."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
    if not files:
        yield IngestError("directory holds no corpus.jsonl and no .txt/.md files", source=str(root))
    for p in files:
        yield from _read_text_file(p, p.relative_to(root).as_posix())


def _read_text_file(path: Path, doc_id: str) -> Iterator[Record]:
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield IngestError(f"cannot read: {exc.strerror}", source=source)
        return
    if err := _utf16_error(data[:4], source):
        yield err
        return
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        yield IngestError(
            f"not valid UTF-8 (byte offset {exc.start}); re-encode the file as UTF-8",
            source=source,
            line=line,
        )
        return
    title = ""
    if path.suffix.lower() != ".txt":
        for ln in text.splitlines():
            if ln.startswith("# "):
                title = ln[2:].strip()
                break
    nul = text.find("\x00")
    if nul >= 0:
        yield IngestError(
            "contains a NUL byte (binary file?)",
            source=source,
            line=text.count("\n", 0, nul) + 1,
            field="text",
            doc_id=doc_id,
        )
        return
    yield record_from_object({"id": doc_id, "text": text, "title": title}, source, None)
