"""(d) Encoder precision on CPU: speed per precision on the real-size model, and its quality guard
on real weights.

Speed: `BGEM3Encoder(precision=...)` on the real-size model (see `realsize`), one precision
loaded at a time: query encode latency and passage encode throughput (dense + sparse + ColBERT).

Guard: the only real-weight encoder here is all-MiniLM-L6-v2 (the minilm extra), run through the
project's dense encoder at each precision. Every document (title + text, cut at MiniLM's 256
tokens) and judged test query of a BEIR dataset is encoded; the dense route is exact cosine
search over the whole corpus, nDCG@10 by ranx against the judgements. Per precision: nDCG@10,
its relative loss against float32, and the mean (and minimum) cosine of each document and query
vector to its float32 vector. A precision passes when the loss is <= 1 % and the mean cosine
>= 0.99.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hybrid_search.benchmarks.stats import ratio, summarize
from hybrid_search.encoders.loading import Precision

PRECISIONS: tuple[Precision, ...] = ("float32", "bf16", "int8")
MAX_NDCG_LOSS = 0.01
MIN_COSINE = 0.99
MINILM_TOKENS = 256


def measure_speed(
    model_dir: Path, passages: list[str], query: str, reps: int, precisions: Sequence[Precision]
) -> dict[str, dict[str, Any]]:
    """Query encode latency (`reps` samples) and passage tokens/s (median of 2) per precision."""
    from hybrid_search.encoders.bge_m3 import BGEM3Encoder

    out: dict[str, dict[str, Any]] = {}
    for precision in precisions:
        enc = BGEM3Encoder(str(model_dir), precision=precision, max_passage_tokens=512)
        enc.encode_queries([query])  # load, set the precision, warm up
        queries = []
        for _ in range(reps):
            t = time.perf_counter()
            enc.encode_queries([query])
            queries.append(time.perf_counter() - t)
        runs = []
        for _ in range(2):
            t = time.perf_counter()
            tokens = sum(enc.encode_documents(passages).token_counts)
            runs.append(time.perf_counter() - t)
        out[precision] = {
            "query_encode": summarize(queries),
            "tokens_per_s": round(tokens / float(np.median(runs)), 1),
        }
        del enc
        gc.collect()  # one real-size model in memory at a time
    base = out.get("float32")
    for row in out.values():
        if base is not None:
            row["query_speedup"] = ratio(
                base["query_encode"]["p50_ms"], row["query_encode"]["p50_ms"]
            )
            row["tokens_per_s_ratio"] = ratio(row["tokens_per_s"], base["tokens_per_s"])
    return out


def measure_guard(
    dataset: Path,
    precisions: Sequence[Precision],
    *,
    queries: int | None = None,
    corpus_limit: int | None = None,
) -> dict[str, dict[str, Any]]:
    """MiniLM dense-route nDCG@10 and cosine to float32 per precision (see the module doc)."""
    from hybrid_search.benchmarks.maxsim_quality import _corpus
    from hybrid_search.encoders.dense import DenseEncoder
    from hybrid_search.evaluation.beir import load_beir
    from hybrid_search.evaluation.metrics import evaluate

    ds = load_beir(dataset, "test")
    qids = list(ds.queries)[:queries] if queries else list(ds.queries)
    qrels = {q: ds.qrels[q] for q in qids}
    docs = _corpus(dataset, {d for q in qids for d in ds.qrels[q]}, corpus_limit)
    ids = list(docs)
    order = sorted(range(len(ids)), key=lambda i: -len(docs[ids[i]]))
    vectors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    out: dict[str, dict[str, Any]] = {}
    todo: list[Precision] = ["float32", *[p for p in precisions if p != "float32"]]
    for precision in todo:
        enc = DenseEncoder(
            "minilm", pooling="mean", precision=precision, max_passage_tokens=MINILM_TOKENS
        )
        t = time.perf_counter()
        d = np.zeros((len(ids), enc.dense_dim), np.float32)
        for start in range(0, len(order), 64):  # similar lengths together: little padding
            rows = order[start : start + 64]
            dense = enc.encode_documents([docs[ids[i]] for i in rows]).dense
            assert dense is not None
            d[rows] = dense
        q = enc.encode_queries([ds.queries[x] for x in qids]).dense
        assert q is not None
        seconds = time.perf_counter() - t
        top = np.argsort(-(q @ d.T), axis=1)[:, :10]
        run = {
            qid: {ids[j]: float(10 - r) for r, j in enumerate(row)}
            for qid, row in zip(qids, top, strict=True)
        }
        ndcg = evaluate(qrels, run, ["ndcg@10"])["ndcg@10"]
        vectors[precision] = (d, q)
        ref_d, ref_q = vectors["float32"]
        cos = np.concatenate([np.sum(d * ref_d, axis=1), np.sum(q * ref_q, axis=1)])
        out[precision] = {"ndcg10": round(ndcg, 4), "encode_s": round(seconds, 1)}
        out[precision]["mean_cosine"] = round(float(np.mean(cos)), 5)
        out[precision]["min_cosine"] = round(float(np.min(cos)), 5)
    base = out["float32"]["ndcg10"]
    for row in out.values():
        row["ndcg_rel_loss"] = round((base - row["ndcg10"]) / base, 4) if base else None
        row["passes"] = bool(
            row["ndcg_rel_loss"] is not None
            and row["ndcg_rel_loss"] <= MAX_NDCG_LOSS
            and row["mean_cosine"] >= MIN_COSINE
        )
    meta = {"documents": len(ids), "queries": len(qids), "model": "all-MiniLM-L6-v2"}
    return {p: {**out[p], **meta} for p in out if p in precisions}


def pick(speed: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The fastest precision (query p50) whose guard (`speed[p]["guard"]`) passes; float32, the
    reference, always does."""
    passing = [p for p in speed if p == "float32" or speed[p]["guard"].get("passes")]
    best = min(passing, key=lambda p: speed[p]["query_encode"]["p50_ms"])
    return {
        "precision": best,
        "query_p50_ms": speed[best]["query_encode"]["p50_ms"],
        "query_speedup": speed[best].get("query_speedup"),
        "tokens_per_s_ratio": speed[best].get("tokens_per_s_ratio"),
        "goals": {"query_p50_ms": "<= 100", "tokens_per_s_ratio": ">= 2.0"},
    }


def render(encoder: dict[str, Any]) -> list[str]:
    """The precision table of bench (d) in markdown."""
    rows, best = encoder.get("precisions"), encoder.get("precision_pick", {})
    if not rows:
        return []
    out = [
        "",
        f"Encoder precision, real-size BGE-M3 on CPU ({encoder.get('query_tokens')}-token query, "
        f"{encoder.get('passages')} × {encoder.get('passage_tokens')}-token passages); guard: "
        "all-MiniLM-L6-v2 dense route, exact search, float32 the reference:",
        "",
        "| precision | query p50 / p95 ms | passage tokens/s | × float32 (query / passages) "
        "| guard nDCG@10 (loss) | mean cosine | passes |",
        "|---|---|---:|---|---|---:|---|",
    ]
    for name, r in rows.items():
        g, q = r.get("guard", {}), r["query_encode"]
        quality = (
            f"{g['ndcg10']:.4f} ({100 * g['ndcg_rel_loss']:.2f} %)"
            if "ndcg10" in g
            else g.get("skipped", "n/a")
        )
        out.append(
            f"| {name} | {q['p50_ms']:.0f} / {q['p95_ms']:.0f} | {r['tokens_per_s']:.1f} | "
            f"{r.get('query_speedup')} / {r.get('tokens_per_s_ratio')} | {quality} | "
            f"{g.get('mean_cosine', 'n/a')} | {g.get('passes', 'n/a')} |"
        )
    out += [
        "",
        f"Fastest precision whose guard passes: **{best.get('precision')}**, query p50 "
        f"{best.get('query_p50_ms')} ms (goal ≤ 100), passages {best.get('tokens_per_s_ratio')}× "
        "float32's tokens/s (goal ≥ 2).",
    ]
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """This part alone, without the rest of bench (d): `python -m
    hybrid_search.benchmarks.precision --layers 24 --guard-queries 100 --guard-corpus 300`."""
    import argparse
    import json

    from transformers import AutoTokenizer

    from hybrid_search.benchmarks.corpus import _words
    from hybrid_search.benchmarks.realsize import build_real_size, exact_length_texts
    from hybrid_search.encoders.tiny import build_tiny_models

    ap = argparse.ArgumentParser(prog="python -m hybrid_search.benchmarks.precision")
    ap.add_argument("--models-dir", type=Path, default=Path("models"))
    ap.add_argument("--layers", type=int, default=24)
    ap.add_argument("--reps", type=int, default=10, help="query encodes timed")
    ap.add_argument("--passages", type=int, default=8, help="256-token passages per batch")
    ap.add_argument("--dataset", type=Path, default=Path("../shared/datasets/scifact"))
    ap.add_argument("--guard-queries", type=int, default=None, help="default: every test query")
    ap.add_argument("--guard-corpus", type=int, default=None, help="default: every document")
    args = ap.parse_args(argv)
    tiny = build_tiny_models(args.models_dir / "tiny")
    models = build_real_size(
        args.models_dir / "real-size", tiny.embedding_model, layers=args.layers
    )
    tok = AutoTokenizer.from_pretrained(str(models.embedding_model))
    passages = exact_length_texts(tok, _words(), args.passages, 256)
    query = "does vitamin D supplementation reduce the risk of bone fractures in older adults"
    rows = measure_speed(models.embedding_model, passages, query, args.reps, PRECISIONS)
    guard = measure_guard(
        args.dataset, PRECISIONS, queries=args.guard_queries, corpus_limit=args.guard_corpus
    )
    for name, row in rows.items():
        row["guard"] = guard[name]
    encoder: dict[str, Any] = {
        "query_tokens": len(tok(query)["input_ids"]),
        "passages": len(passages),
        "passage_tokens": 256,
        "precisions": rows,
        "precision_pick": pick(rows),
    }
    report = json.dumps({"layers": args.layers, "encoder": encoder}, indent=1)
    sys.stdout.write(report + "\n" + "\n".join(render(encoder)) + "\n")


if __name__ == "__main__":
    main()
