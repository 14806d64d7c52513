"""Markdown by its heading structure; the first `# Title` is the title, not part of the text."""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token

from ingest.blocks import Block
from ingest.formats.text import decode

_PARSER = MarkdownIt("commonmark").enable("table")


_BREAKS = {"softbreak": " ", "hardbreak": "\n"}


def _plain(tok: Token) -> str:
    return "".join(_BREAKS.get(c.type, c.content) for c in tok.children or []).strip()


def read(data: bytes, name: str) -> tuple[str, list[Block]]:
    tokens = _PARSER.parse(decode(data, name))
    title, path, blocks, row = "", [(0, "")], [], []
    for i, tok in enumerate(tokens):
        section = tuple(h for _, h in path[1:])
        if tok.type == "inline":
            text, opener = _plain(tok), tokens[i - 1]
            if opener.type == "heading_open":
                level = int(opener.tag[1])
                if level == 1 and not title:
                    title = text
                    continue
                path = [p for p in path if p[0] < level] + [(level, text)]
                section = tuple(h for _, h in path[1:])
            if opener.type in ("th_open", "td_open"):
                row.append(text)
            elif text:
                blocks.append(Block(text, section))
        elif tok.type == "tr_close":
            blocks.append(Block(" | ".join(row), section))
            row = []
        elif tok.type in ("fence", "code_block", "html_block") and tok.content.strip():
            blocks.append(Block(tok.content.strip("\n"), section))
    return title, blocks
