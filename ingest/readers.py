"""Read documents from JSON Lines, BEIR dataset directories, files and folders, streaming: each
record is a `SourceDoc`, an `IngestError` naming file, line and field (it never stops the records
after it), or a `Skipped` file of a folder walk."""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from importlib import import_module
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError

from hybrid_search.errors import IngestError
from ingest.blocks import Block
from schemas.documents import Document

#: suffix -> the module of ingest.formats that reads it
FORMATS = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
}
#: per-file limit; the extracted text is bounded by Document's own limit
MAX_FILE_BYTES = 64 * 1024 * 1024
_MAGIC = {
    b"%PDF-": "a PDF",
    b"PK\x03\x04": "a zip archive (.docx)",
    b"\xd0\xcf\x11\xe0": "a legacy Office file (.doc/.xls; save it as .docx)",
}
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


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file a folder walk passed over, and why (counted in the summary, not an error)."""

    source: str
    reason: str


Record = SourceDoc | IngestError | Skipped


def read_paths(
    paths: Iterable[str | Path], include: Iterable[str] = (), exclude: Iterable[str] = ()
) -> Iterator[Record]:
    """Dispatch each path by kind; a missing path is one error, not a crash. Folders are
    walked with the `include`/`exclude` globs (matched against the relative path or name)."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            corpus = path / "corpus.jsonl"
            if corpus.is_file():
                yield from read_jsonl(corpus)
            else:
                yield from read_dir(path, tuple(include), tuple(exclude))
        elif path.is_file():
            if path.suffix.lower() in JSONL_SUFFIXES:
                yield from read_jsonl(path)
            else:
                yield read_file(path, path.name)
        else:
            yield IngestError("no such file or directory", source=str(path))


def read_dir(root: Path, include: tuple[str, ...], exclude: tuple[str, ...]) -> Iterator[Record]:
    """Every file below root in sorted order; doc id = its path relative to root."""
    found = []
    for top, dirs, files in os.walk(root):
        for d in sorted(dirs):
            if d.startswith("."):
                dirs.remove(d)
                yield Skipped(os.path.join(top, d), "hidden folder, not walked")
        found += [Path(top, f).relative_to(root).as_posix() for f in files]
    found = [rel for rel in sorted(found) if _wanted(rel, include, exclude)]
    if not any(PurePosixPath(rel).suffix.lower() in FORMATS for rel in found):
        yield IngestError(f"no {', '.join(FORMATS)} files in this folder", source=str(root))
    for rel in found:
        suffix = PurePosixPath(rel).suffix.lower()
        if suffix in FORMATS:
            yield read_file(root / rel, rel)
        else:
            yield Skipped(str(root / rel), f"unsupported file type '{suffix or rel}'")


def _wanted(rel: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    def hit(pats: tuple[str, ...]) -> bool:
        name = rel.rsplit("/", 1)[-1]
        return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in pats)

    return (not include or hit(include)) and not hit(exclude)


def read_file(path: Path, doc_id: str) -> SourceDoc | IngestError:
    """One file by its suffix; its size is checked before it is read."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return IngestError(
                f"file is {size} bytes, over the limit of {MAX_FILE_BYTES}", source=str(path)
            )
        data = path.read_bytes()
    except OSError as exc:
        return IngestError(f"cannot read: {exc.strerror}", source=str(path))
    try:
        return read_document(data, str(path), doc_id)
    except IngestError as exc:
        return exc


def read_document(data: bytes, name: str, doc_id: str | None = None) -> SourceDoc:
    """A file's bytes -> one document with its blocks, or one IngestError naming the file and
    what is wrong; shared by the CLI and `POST /v1/files`."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in FORMATS:
        raise IngestError(
            f"unsupported file type '{suffix}' (expected .jsonl, {', '.join(FORMATS)} or a folder)",
            source=name,
        )
    if not data.strip():
        raise IngestError("empty file", source=name)
    if len(data) > MAX_FILE_BYTES:
        raise IngestError(
            f"file is {len(data)} bytes, over the limit of {MAX_FILE_BYTES}", source=name
        )
    head = data.lstrip()[:8]
    found = next((kind for magic, kind in _MAGIC.items() if head.startswith(magic)), "")
    expected = {".pdf": "a PDF", ".docx": "a zip archive (.docx)"}.get(suffix, "")
    if found != expected:
        raise IngestError(
            f"content is {found or 'text'}, not what '{suffix}' says: wrong file extension?",
            source=name,
        )
    try:
        title, blocks = import_module(f"ingest.formats.{FORMATS[suffix]}").read(data, name)
    except IngestError:
        raise
    except RecursionError:
        raise IngestError("nested too deeply to read", source=name) from None
    except Exception as exc:  # a damaged file deep in a parser: one error, no traceback
        raise IngestError(f"cannot read: {type(exc).__name__}: {exc}", source=name) from None
    text = "\n\n".join(b.text for b in blocks)
    rec = record_from_object({"id": doc_id or name, "text": text, "title": title}, name, None)
    if isinstance(rec, IngestError):
        raise rec
    return replace(rec, blocks=() if suffix == ".txt" else tuple(blocks))


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
        if utf16 := next((name for bom, name in _BOMS.items() if head.startswith(bom)), None):
            yield IngestError(
                f"file is {utf16} encoded; re-encode it as UTF-8", source=source, line=1
            )
            return
        for lineno, raw in enumerate(fh, start=1):
            error = partial(IngestError, source=source, line=lineno)
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if len(raw) > MAX_LINE_BYTES:
                yield error(f"line longer than {MAX_LINE_BYTES} bytes")
                continue
            if not raw.strip():
                continue
            if b"\x00" in raw:
                yield error(
                    f"raw NUL byte at byte {raw.index(0)} of the line (JSON never holds one): "
                    "UTF-16 without a byte-order mark, or binary data? Re-encode as UTF-8"
                )
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield error(
                    f"not valid UTF-8 at byte {exc.start} of the line; re-encode the file as UTF-8"
                )
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                yield error(f"malformed JSON at column {exc.colno}: {exc.msg}")
                continue
            except RecursionError:
                yield error("JSON nested too deeply to parse")
                continue
            yield record_from_object(obj, source, lineno)


def record_from_object(obj: Any, source: str, line: int | None) -> SourceDoc | IngestError:
    """Validate one JSON object as a Document; errors name the field."""
    error = partial(IngestError, source=source, line=line)
    if not isinstance(obj, dict):
        return error(f"expected a JSON object, got {type(obj).__name__}")
    keys = [k for k in _ID_KEYS if k in obj]
    if not keys:
        return error("missing document id ('id' or '_id')", field="id")
    if len(keys) == 2 and obj["id"] != obj["_id"]:
        return error("both 'id' and '_id' given and they differ", field="id")
    doc_id = obj[keys[0]]
    if isinstance(doc_id, bool) or not isinstance(doc_id, str | int):
        return error(
            f"id must be a string or an integer, got {type(doc_id).__name__}", field=keys[0]
        )
    doc_id = str(doc_id)
    if "text" not in obj:
        return error("missing 'text'", field="text", doc_id=doc_id)
    extra = {k: v for k, v in obj.items() if k not in (*_ID_KEYS, "text", "title", "metadata")}
    metadata = {} if obj.get("metadata") is None else obj["metadata"]
    if not isinstance(metadata, dict):
        got = type(metadata).__name__
        return error(f"metadata must be a JSON object, got {got}", field="metadata", doc_id=doc_id)
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
        return error(msg, field=field, doc_id=doc_id)
    return SourceDoc(doc, source, line)
