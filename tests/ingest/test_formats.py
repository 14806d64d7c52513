"""Readers for PDF, DOCX, HTML, Markdown and text, and a corpus of bad files, made here."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from hybrid_search.benchmarks.render import render_docx, render_html, render_markdown, render_pdf
from hybrid_search.errors import IngestError
from hybrid_search.store import ops
from ingest import readers
from ingest.pipeline import IngestJob, IngestOptions
from ingest.readers import SourceDoc, read_document, read_paths
from schemas import collection as C

EN = ["Hybrid search joins dense vectors and BM25. It finds 3.5 times more, e.g. names."] * 3
ZH = ["北京是中华人民共和国的首都，也是全国的政治、文化中心。" * 4, "上海是经济中心。"]


def _pdf(pages: list[str], **kw: object) -> bytes:
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, **kw)  # type: ignore[arg-type]
    for text in pages:
        if text:
            c.drawString(72, 720, text)
        else:
            c.rect(72, 72, 200, 200, fill=1)  # a "scanned" page: no text layer
        c.showPage()
    c.save()
    return buf.getvalue()


def _zip(**parts: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name.replace("__", "/"), data)
    return buf.getvalue()


def test_pdf_pages_and_chinese() -> None:
    d = read_document(_pdf(["page one text", "", "page three"]), "a.pdf")
    assert [(b.page, b.text) for b in d.blocks] == [(1, "page one text"), (3, "page three")]
    zh = read_document(render_pdf("标题", ZH), "zh.pdf")
    assert zh.doc.title == "标题" and zh.doc.text == "\n".join(ZH)


def test_docx_headings_and_tables() -> None:
    import docx

    d = docx.Document()
    d.add_heading("Guide", 0)
    d.add_paragraph("intro")
    d.add_heading("Install", 1)
    d.add_heading("Linux", 2)
    d.add_paragraph("apt install")
    t = d.add_table(rows=2, cols=2)
    for r, row in enumerate(t.rows):
        for c, cell in enumerate(row.cells):
            cell.text = f"r{r}c{c}"
    buf = io.BytesIO()
    d.save(buf)
    got = read_document(buf.getvalue(), "g.docx")
    assert got.doc.title == "Guide" and "Guide" not in got.doc.text
    assert [(b.section, b.text) for b in got.blocks] == [
        ((), "intro"),
        (("Install",), "Install"),
        (("Install", "Linux"), "Linux"),
        (("Install", "Linux"), "apt install"),
        (("Install", "Linux"), "r0c0 | r0c1"),
        (("Install", "Linux"), "r1c0 | r1c1"),
    ]


def test_html_main_content_only() -> None:
    got = read_document(render_html("Coffee", ["Grind the beans.", "Brew <hot>."]), "c.html")
    assert got.doc.title == "Coffee"
    assert got.doc.text == "Grind the beans.\n\nBrew <hot>."  # no nav, script, footer, title
    page = b"<body><h2>A</h2><p>x<br>y</p><table><tr><td>1</td><td>2</td></tr></table></body>"
    assert [(b.section, b.text) for b in read_document(page, "p.htm").blocks] == [
        (("A",), "A"),
        (("A",), "x y"),
        (("A",), "1 | 2"),
    ]


def test_markdown_title_once_and_sections() -> None:
    md = "# Brewing coffee\n\nIntro *here*.\n\n## Grind\n\nFine.\n\n### Burr\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    got = read_document(md.encode(), "b.md")
    assert got.doc.title == "Brewing coffee" and "Brewing coffee" not in got.doc.text
    assert [(b.section, b.text) for b in got.blocks] == [
        ((), "Intro here."),
        (("Grind",), "Grind"),
        (("Grind",), "Fine."),
        (("Grind", "Burr"), "Burr"),
        (("Grind", "Burr"), "a | b"),
        (("Grind", "Burr"), "1 | 2"),
    ]
    assert render_markdown("T", ["a *b* [c] #d"]).decode().endswith("a \\*b\\* \\[c\\] \\#d\n")


@pytest.mark.parametrize(
    "data",
    [
        "第一行：中文文本在这里，编码是国标。".encode("gbk"),
        "中华人民共和国的首都是北京，𠀀。".encode("gb18030"),
        "這是繁體中文的文件，包含一些內容。".encode("big5"),
        "hello 你好".encode("utf-16"),
        "\ufeffhello 你好".encode(),
    ],
)
def test_text_encodings(data: bytes) -> None:
    got = read_document(data, "t.txt")
    assert got.doc.text.strip() in (
        "第一行：中文文本在这里，编码是国标。",
        "中华人民共和国的首都是北京，𠀀。",
        "這是繁體中文的文件，包含一些內容。",
        "hello 你好",
    )
    assert got.blocks == ()


def bad_files(tmp: Path) -> dict[str, bytes]:
    """Name -> bytes of files that must each give one clear error (≥ 30 of them)."""
    pdf, docx_ = render_pdf("T", EN), render_docx("T", EN)
    bomb = io.BytesIO()
    mib = bytes(1024 * 1024)
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("word/document.xml", b"<x/>")
        with z.open("big.bin", "w") as f:
            for _ in range(260):
                f.write(mib)
    return {
        "enc.pdf": _pdf(["secret"], encrypt="pw"),
        "zero.pdf": b"",
        "half.pdf": pdf[: len(pdf) // 2],
        "cut-tail.pdf": pdf[:-40],
        "scanned.pdf": _pdf(["", ""]),
        "garbage.pdf": b"%PDF-1.4\nnot really\n%%EOF\n",
        "is-docx.pdf": docx_,
        "is-html.pdf": render_html("T", EN),
        "blank.pdf": b"   \n",
        "zero.docx": b"",
        "text.docx": b"just some text",
        "half.docx": docx_[: len(docx_) // 2],
        "nodoc.docx": _zip(other__part_xml=b"<x/>"),
        "bomb.docx": bomb.getvalue(),
        "legacy.docx": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600),
        "badxml.docx": _zip(word__document_xml=b"<w:document><unclosed"),
        "empty-body.docx": render_docx("", []),
        "is-pdf.docx": pdf,
        "zero.html": b"",
        "chrome-only.html": b"<html><nav>menu</nav><script>x()</script><footer>f</footer></html>",
        "nul.html": b"<p>a\x00b</p>",
        "deep.html": b"<div>" * 5000 + b"x",
        "is-pdf.html": pdf,
        "zero.md": b"",
        "title-only.md": b"# Only a title\n",
        "nul.md": b"ok\n\x00",
        "u16-nobom.md": "plain".encode("utf-16-le"),
        "zero.txt": b"",
        "binary.txt": bytes(range(128, 256)) * 20,
        "odd-u16.txt": b"\xff\xfea",
        "is-pdf.txt": pdf,
        "huge.txt": b"word " * 1_000_000,
        "is-docx.md": docx_,
    }


def test_bad_files_one_clear_error_each(tmp_path: Path) -> None:
    bad = bad_files(tmp_path)
    assert len(bad) >= 30
    for name, data in bad.items():
        with pytest.raises(IngestError) as exc:
            read_document(data, name)
        assert str(exc.value).startswith(name) and "Traceback" not in str(exc.value)
    with pytest.raises(IngestError, match="no text layer: scanned pages need OCR"):
        read_document(bad["scanned.pdf"], "scanned.pdf")
    with pytest.raises(IngestError, match="encrypted PDF"):
        read_document(bad["enc.pdf"], "enc.pdf")
    with pytest.raises(IngestError, match="zip bomb"):
        read_document(bad["bomb.docx"], "bomb.docx")


def test_file_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "MAX_FILE_BYTES", 100)
    (tmp_path / "big.md").write_bytes(b"x" * 101)
    (err,) = list(read_paths([tmp_path / "big.md"]))
    assert isinstance(err, IngestError) and "over the limit of 100" in err.message


def _job(store, encoder, spec, settings):  # type: ignore[no-untyped-def]
    opts = IngestOptions(
        max_chunk_tokens=settings.max_chunk_tokens,
        chunk_overlap_tokens=settings.chunk_overlap_tokens,
    )
    return IngestJob(store, encoder, spec, opts)


def test_corpus_of_good_and_bad_files_in_milvus(tmp_path, store, encoder, spec, settings):  # type: ignore[no-untyped-def]
    root = tmp_path / "kb"
    (root / "sub").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref")
    bad = bad_files(tmp_path)
    for name, data in bad.items():
        (root / "sub" / name).write_bytes(data)
    good = {
        "en.pdf": render_pdf("En", EN),
        "zh.pdf": render_pdf("中文", ZH),
        "g.docx": render_docx("Doc", EN, {1: "Part"}),
        "p.html": render_html("Page", ZH),
        "m.md": render_markdown("Md", EN),
        "t.txt": "中文文本，国标编码的文件内容在这里。".encode("gb18030"),
    }
    for name, data in good.items():
        (root / name).write_bytes(data)
    (root / "photo.png").write_bytes(b"\x89PNG")
    (root / "notes.doc").write_bytes(b"\xd0\xcf\x11\xe0")

    summary = _job(store, encoder, spec, settings).run(read_paths([root]))
    assert summary.inserted == len(good) and summary.failed == len(bad)
    failed = sorted(Path(e.source or "").name for e in summary.errors)
    assert failed == sorted(bad)  # one error per bad file, none for a good one
    assert {Path(k).name for k in summary.skipped} == {"photo.png", "notes.doc", ".git"}
    stored = {r[C.DOC_ID_FIELD] for r in store.query_all(spec.name, "", [C.DOC_ID_FIELD])}
    assert stored == set(good)  # nothing of a failed file written

    again = _job(store, encoder, spec, settings).run(read_paths([root], ["*.pdf"], ["sub/*"]))
    assert (again.unchanged, again.inserted, again.chunks) == (2, 0, 0)
    (root / "en.pdf").write_bytes(render_pdf("En", ["A changed report about BM25."]))
    changed = _job(store, encoder, spec, settings).run(
        read_paths([root], include=["*.pdf"], exclude=["zh*", "sub/*"])
    )
    assert (changed.replaced, changed.unchanged, changed.failed) == (1, 0, 0)
    rows = ops.get_chunks(store, spec.name, "default", "en.pdf")
    assert [r.text for r in rows] == ["A changed report about BM25."]


def test_docs_keep_blocks_and_joined_text() -> None:
    d = read_document(render_docx("T", ["a", "b"]), "x.docx", "id-1")
    assert isinstance(d, SourceDoc) and d.doc.id == "id-1"
    assert d.doc.text == "\n\n".join(b.text for b in d.blocks) == "a\n\nb"
