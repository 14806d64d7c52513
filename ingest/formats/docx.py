"""Word .docx: paragraphs in order, headings as the section path, each table row one block."""

from __future__ import annotations

import io
import zipfile

from docx import Document as open_docx
from docx.oxml.ns import qn
from docx.table import Table
from docx.text.paragraph import Paragraph

from hybrid_search.errors import IngestError
from ingest.blocks import Block

#: what the parts of one .docx may expand to: more is a zip bomb, not a document
MAX_UNZIPPED_BYTES = 256 * 1024 * 1024


def read(data: bytes, name: str) -> tuple[str, list[Block]]:
    try:
        parts = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except zipfile.BadZipFile:
        raise IngestError(
            "not a .docx: not a zip archive (truncated, or a legacy .doc?)", source=name
        ) from None
    size = sum(p.file_size for p in parts)
    if size > MAX_UNZIPPED_BYTES:
        raise IngestError(
            f"expands to {size} bytes, over the limit of {MAX_UNZIPPED_BYTES} (zip bomb?)",
            source=name,
        )
    if "word/document.xml" not in {p.filename for p in parts}:
        raise IngestError("not a Word document: no word/document.xml part", source=name)
    doc = open_docx(io.BytesIO(data))
    title, path, blocks = doc.core_properties.title or "", [(0, "")], []
    for el in doc.element.body.iterchildren():
        section = tuple(h for _, h in path[1:])
        if el.tag == qn("w:tbl"):
            for row in Table(el, doc).rows:
                cells = list(dict.fromkeys(c.text.strip() for c in row.cells))  # merged cells
                if text := " | ".join(c for c in cells if c):
                    blocks.append(Block(text, section))
            continue
        if el.tag != qn("w:p"):
            continue
        para = Paragraph(el, doc)
        text = para.text.strip()
        style = para.style.name if para.style is not None else ""
        if not text:
            continue
        if style == "Title" and title in ("", text):
            title = text
            continue
        if style.startswith("Heading ") and style[8:].isdigit():
            level = int(style[8:])
            path = [p for p in path if p[0] < level] + [(level, text)]
            section = tuple(h for _, h in path[1:])
        blocks.append(Block(text, section))
    return title, blocks
