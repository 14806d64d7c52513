"""Render a document (title + paragraphs) as PDF, DOCX, HTML or Markdown bytes: what the
format-invariance benchmark and the reader tests ingest. Chinese PDFs use reportlab's built-in
CID font STSong-Light, so no font file is needed."""

from __future__ import annotations

import html
import io
import re
from typing import Any

_CJK = re.compile(r"[\u2e80-\u9fff\uff00-\uffef]")


def render_pdf(title: str, paragraphs: list[str], **canvas: Any) -> bytes:
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    style = getSampleStyleSheet()["BodyText"]
    if _CJK.search(title + "".join(paragraphs)):
        if "STSong-Light" not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
        style.fontName, style.wordWrap = "STSong-Light", "CJK"
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, title=title, **canvas)
    doc.build([Paragraph(html.escape(p), style) for p in paragraphs])
    return buf.getvalue()


def render_docx(title: str, paragraphs: list[str], headings: dict[int, str] | None = None) -> bytes:
    """`headings`: paragraph index -> a level-1 heading placed before it."""
    import docx

    d = docx.Document()
    if title:
        d.add_heading(title, 0)
    for i, p in enumerate(paragraphs):
        if headings and i in headings:
            d.add_heading(headings[i], 1)
        d.add_paragraph(p)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def render_html(title: str, paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{html.escape(p)}</p>\n" for p in paragraphs)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<script>var x = 'not text';</script><style>p {color: red}</style></head><body>"
        "<nav><a href='/'>Home</a> | <a href='/about'>About</a></nav>"
        f"<main><h1>{html.escape(title)}</h1>\n{body}</main>"
        "<footer>Copyright nobody</footer></body></html>"
    ).encode()


def render_markdown(title: str, paragraphs: list[str]) -> bytes:
    # escape what Markdown would read as markup, so the text comes back as it went in
    esc = [re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", p) for p in paragraphs]
    head = f"# {title}\n\n" if title else ""
    return (head + "\n\n".join(esc) + "\n").encode()


RENDERERS = {
    ".pdf": render_pdf,
    ".docx": render_docx,
    ".html": render_html,
    ".md": render_markdown,
}
