"""Readers: every input kind, and bad input named by file and line."""

from __future__ import annotations

from pathlib import Path

from hybrid_search.errors import IngestError
from ingest.readers import SourceDoc, read_paths


def docs(records):  # type: ignore[no-untyped-def]
    return [r for r in records if isinstance(r, SourceDoc)]


def errors(records):  # type: ignore[no-untyped-def]
    return [r for r in records if isinstance(r, IngestError)]


def test_beir_directory_and_ids(tmp_path: Path) -> None:
    (tmp_path / "corpus.jsonl").write_text(
        '{"_id": "1", "title": "T", "text": "x", "metadata": {"year": 2020}}\n'
        '{"_id": 2, "title": null, "text": "y"}\n',
        "utf-8",
    )
    got = docs(read_paths([tmp_path]))
    assert [(d.doc.id, d.doc.title, d.line) for d in got] == [("1", "T", 1), ("2", "", 2)]
    assert got[0].doc.metadata == {"year": 2020}


def test_text_and_markdown_directory(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.md").write_text("# Heading\n\nbody", "utf-8")
    (tmp_path / "two.txt").write_text("\ufeffplain", "utf-8")
    (tmp_path / "skip.bin").write_bytes(b"\x00\x01")
    got = docs(read_paths([tmp_path]))
    assert [(d.doc.id, d.doc.title, d.doc.text) for d in got] == [
        ("a/one.md", "Heading", "body"),  # the title is not repeated in the text
        ("two.txt", "", "plain"),
    ]


def test_bad_files(tmp_path: Path) -> None:
    (tmp_path / "u16.txt").write_bytes(b"\xff\xfea")
    (tmp_path / "nul.txt").write_bytes(b"ok\nbad\x00byte")
    (tmp_path / "empty.md").write_text("  \n", "utf-8")
    errs = {Path(e.source or "").name: e for e in errors(read_paths([tmp_path]))}
    assert "utf-16" in errs["u16.txt"].message
    assert "NUL" in errs["nul.txt"].message and errs["nul.txt"].line == 2
    assert "empty file" in errs["empty.md"].message
    missing = errors(read_paths([tmp_path / "nope.jsonl"]))
    assert "no such file" in missing[0].message


def test_jsonl_errors_name_line_and_field(tmp_path: Path) -> None:
    f = tmp_path / "c.jsonl"
    f.write_text(
        '{"id": "a", "text": "ok"}\n\n{"id": true, "text": "x"}\n{"id": "b", "text": 5}\n'
        '{"id": "c", "_id": "d", "text": "x"}\n{"id": "e\\u0000", "text": "x"}\n',
        "utf-8",
    )
    errs = errors(read_paths([f]))
    assert [(e.line, e.field) for e in errs] == [(3, "id"), (4, "text"), (5, "id"), (6, "id")]
    assert all(str(f) in e.message for e in errs)
