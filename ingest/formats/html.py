"""HTML: the main content, its title and headings; scripts, navigation and boilerplate dropped."""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser, LexborNode

from hybrid_search.errors import IngestError
from ingest.blocks import Block
from ingest.formats.text import decode

_DROP = frozenset(
    str.split("script style nav header footer aside noscript template form iframe svg head button")
)
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_BLOCKS = frozenset(
    str.split(
        "p div li pre blockquote tr dt dd section article main table ul ol dl figure figcaption "
        "caption address details summary body"
    )
)


class _Walker:
    def __init__(self, title: str) -> None:
        self.title, self.path = title, [(0, "")]
        self.blocks: list[Block] = []
        self.buf: list[str] = []
        self.had_h1 = False

    def flush(self) -> None:
        text = " ".join("".join(self.buf).split()).removesuffix(" |")
        self.buf = []
        if text:
            self.blocks.append(Block(text, tuple(h for _, h in self.path[1:])))

    def walk(self, node: LexborNode) -> None:
        for child in node.iter(include_text=True):
            tag = child.tag or ""
            if tag == "-text":
                self.buf.append(child.text_content or "")
            elif tag in _DROP or tag.startswith("#") or tag == "-comment":
                continue
            elif tag in _HEADINGS:
                self.flush()
                text = " ".join(child.text(separator=" ").split())
                level = _HEADINGS[tag]
                if level == 1 and not self.had_h1 and self.title in ("", text):
                    self.had_h1, self.title = True, self.title or text
                    continue
                self.path = [p for p in self.path if p[0] < level] + [(level, text)]
                self.buf.append(text)
                self.flush()
            elif tag == "br":
                self.buf.append("\n")
            elif tag in ("td", "th"):
                self.walk(child)
                self.buf.append(" | ")
            elif tag in _BLOCKS:
                self.flush()
                self.walk(child)
                self.flush()
            else:
                self.walk(child)


def read(data: bytes, name: str) -> tuple[str, list[Block]]:
    tree = LexborHTMLParser(decode(data, name))
    node = tree.css_first("title")
    title = " ".join(node.text().split()) if node is not None else ""
    root = tree.css_first("main") or tree.css_first("article") or tree.body
    if root is None:
        raise IngestError("no <body> in the HTML", source=name)
    walker = _Walker(title)
    walker.walk(root)
    walker.flush()
    return walker.title, walker.blocks
