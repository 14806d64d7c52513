"""Plain text in whatever encoding it came in: BOM first, then UTF-8, then detection."""

from __future__ import annotations

from charset_normalizer import from_bytes

from hybrid_search.errors import IngestError
from ingest.blocks import Block

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def decode(data: bytes, name: str) -> str:
    """UTF-8/16 by BOM, else UTF-8, else the best guess (GB18030, GBK, Big5, Shift-JIS...)."""
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(enc)
            except UnicodeDecodeError as exc:
                raise IngestError(
                    f"not valid {enc} after its byte-order mark (byte {exc.start + len(bom)})",
                    source=name,
                ) from None
            break
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            best = from_bytes(data).best()
            if best is None:
                raise IngestError(
                    "undecodable: not UTF-8 and no known text encoding fits (binary file?)",
                    source=name,
                ) from None
            text = str(best)
    if (nul := text.find("\x00")) >= 0:
        raise IngestError(
            "contains a NUL character (binary file, or UTF-16 without a byte-order mark?)",
            source=name,
            line=text.count("\n", 0, nul) + 1,
        )
    return text.replace("\r\n", "\n")


def read(data: bytes, name: str) -> tuple[str, list[Block]]:
    return "", [Block(decode(data, name))]
