"""What a reader hands the chunker: a document's text as ordered blocks with their place.

A block is one run of text from one place of the source (a paragraph, a table row, a list item,
the text of a PDF page). Readers that know a file's structure (PDF, DOCX, HTML, Markdown) fill
`SourceDoc.blocks`; JSON Lines and plain text leave them empty and the chunker splits the text
on blank lines. The chunker never crosses a section boundary and keeps each chunk's heading path
and page range in its metadata.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Block:
    text: str
    #: heading path, outermost first ("Guide", "Install"); () before the first heading
    section: tuple[str, ...] = ()
    #: 1-based page number, for paged sources (PDF)
    page: int | None = None
