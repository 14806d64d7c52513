"""PDF text layer, page by page (pdfium): each page is one block carrying its page number."""

from __future__ import annotations

import re

import pypdfium2 as pdfium

from hybrid_search.errors import IngestError
from ingest.blocks import Block

#: a wrapped line joins the next with a space, or with nothing between two CJK characters;
#: a line ending a sentence keeps its line break
_WRAP = re.compile(r"(?<=[^.!?:。！？：\n])\n(?=.)")
_CJK_WRAP = re.compile(r"(?<=[\u2e80-\u9fff\uff00-\uffef]) (?=[\u2e80-\u9fff\uff00-\uffef])")


def read(data: bytes, name: str) -> tuple[str, list[Block]]:
    if b"%%EOF" not in data[-2048:]:
        raise IngestError("truncated PDF: no %%EOF end marker", source=name)
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise IngestError(
                "encrypted PDF: it needs a password to open; ingest a decrypted copy", source=name
            ) from None
        raise IngestError(f"damaged PDF: {exc}", source=name) from None
    blocks = []
    try:
        title = " ".join(str(pdf.get_metadata_value("Title") or "").split())
        for i in range(len(pdf)):
            page = pdf[i]
            try:
                textpage = page.get_textpage()
                raw = textpage.get_text_bounded()
                textpage.close()
            except pdfium.PdfiumError as exc:
                raise IngestError(f"page {i + 1}: unreadable ({exc})", source=name) from None
            finally:
                page.close()
            text = _CJK_WRAP.sub("", _WRAP.sub(" ", raw.replace("\r\n", "\n").strip()))
            if text.strip():
                blocks.append(Block(text, page=i + 1))
    finally:
        pdf.close()
    if not blocks:
        raise IngestError(
            "no text layer: scanned pages need OCR, which is not supported", source=name
        )
    return title, blocks
