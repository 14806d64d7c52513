"""What a reader hands the chunker: a document's text as ordered blocks (a paragraph, a table
row, a PDF page's text) with their place. Readers without structure (JSON Lines, plain text)
leave `SourceDoc.blocks` empty and the chunker splits the text on blank lines."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Block:
    text: str
    #: heading path, outermost first ("Guide", "Install"); () before the first heading
    section: tuple[str, ...] = ()
    #: 1-based page number, for paged sources (PDF)
    page: int | None = None
