"""(d) Real-size CPU costs: randomly initialised models with BGE-M3's architecture (XLM-RoBERTa
large: 24 layers, hidden 1024, 16 heads, intermediate 4096, 8194 positions, vocabulary 250,002,
ColBERT head 1024 -> 1024, sparse head 1024 -> 1) and a reranker of the same shape with one
label, loaded through FlagEmbedding's `BGEM3FlagModel` and `FlagReranker`. Weight values do not
change the arithmetic, so the timings are the real model's. The tokenizer is the tiny models'
(its ids are a subset of the vocabulary); passages are cut to an exact token length.

(5) The reranker's CPU options are timed on the same model: FlagReranker.compute_score as is,
one forward pass per batch (`rerank_single_pass`), and int8 dynamic quantisation
(`rerank_quantize`); their score agreement is measured where scores mean something to compare.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hybrid_search.benchmarks.stats import ratio, summarize

VOCAB = 250_002
HIDDEN = 1024
HEADS = 16
INTERMEDIATE = 4096
POSITIONS = 8194
LAYERS = 24
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


@dataclass(frozen=True)
class RealSizeModels:
    embedding_model: Path
    reranker_model: Path
    layers: int


def build_real_size(root: Path, tiny_embedding: Path, *, layers: int = LAYERS) -> RealSizeModels:
    """Write (once; reused when complete) `root/bge-m3-L{layers}` and `root/reranker-L{layers}`."""
    import torch
    from transformers import (
        XLMRobertaConfig,
        XLMRobertaForSequenceClassification,
        XLMRobertaModel,
    )

    emb, rr = root / f"bge-m3-L{layers}", root / f"reranker-L{layers}"
    done = root / f".complete-L{layers}"
    if done.exists():
        return RealSizeModels(emb, rr, layers)

    def config(**extra: Any) -> Any:
        return XLMRobertaConfig(
            vocab_size=VOCAB,
            hidden_size=HIDDEN,
            num_hidden_layers=layers,
            num_attention_heads=HEADS,
            intermediate_size=INTERMEDIATE,
            max_position_embeddings=POSITIONS,
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
            type_vocab_size=1,
            **extra,
        )

    for d in (emb, rr):
        d.mkdir(parents=True, exist_ok=True)
        for name in _TOKENIZER_FILES:
            shutil.copyfile(tiny_embedding / name, d / name)
    torch.manual_seed(0)
    XLMRobertaModel(config(), add_pooling_layer=False).save_pretrained(emb)
    torch.save(torch.nn.Linear(HIDDEN, HIDDEN).state_dict(), emb / "colbert_linear.pt")
    torch.save(torch.nn.Linear(HIDDEN, 1).state_dict(), emb / "sparse_linear.pt")
    torch.manual_seed(1)
    XLMRobertaForSequenceClassification(config(num_labels=1)).save_pretrained(rr)
    done.write_text("ok\n")
    return RealSizeModels(emb, rr, layers)


def exact_length_texts(tokenizer: Any, words: list[str], n: int, tokens: int) -> list[str]:
    """`n` texts of exactly `tokens` tokens each (special tokens included), cut from `words`."""
    out = []
    step = max(1, len(words) // max(1, n))
    for i in range(n):
        text = " ".join(words[(i * step) % len(words) :] + words)[: tokens * 12]
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        end = enc["offset_mapping"][tokens - 3][1]
        out.append(text[:end])
    return out


#: forward passes and project encodes timed, in ABBA order, for the encode / forward ratio
PASS_REPS = 4


def _time_n(fn: Any, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return samples


def measure_encoder(model_dir: Path, passages: list[str], query: str, reps: int) -> dict[str, Any]:
    """Passage encode throughput (dense + sparse + ColBERT) of the project's encoder (one forward
    pass per batch), of `BGEM3FlagModel.encode`, and of one bare forward pass of the same model
    on the same padded batch; one-query latency."""
    import torch
    from FlagEmbedding.utils.tokenizer_compat import pad_with_compat

    from hybrid_search.encoders.bge_m3 import BGEM3Encoder

    enc = BGEM3Encoder(str(model_dir), device="cpu", max_passage_tokens=512)
    flag = enc.flag_model
    tok = flag.tokenizer
    lengths = [len(tok(p)["input_ids"]) for p in passages]
    tokens = sum(lengths)
    enc.encode_queries([query])  # warm up
    flag_s = _time_n(
        lambda: flag.encode(
            passages,
            batch_size=len(passages),
            max_length=512,
            return_dense=True,
            return_sparse=True,
            return_colbert_vecs=True,
        ),
        1,
    )[0]
    items = [tok(p, truncation=True, max_length=512) for p in passages]
    batch = pad_with_compat(tok, items, padding=True, return_tensors="pt")
    flag.model.eval()

    def forward() -> None:
        with torch.inference_mode():
            flag.model(batch, return_dense=True, return_sparse=True, return_colbert_vecs=True)

    # PASS_REPS of each in ABBA order, medians: one sample each, always in the same order, moved
    # the ratio between 0.91 and 1.15 from run to run (the CPU drifts over a minute)
    forwards: list[float] = []
    encodes: list[float] = []
    for i in range(PASS_REPS):
        pair = [(forwards, forward), (encodes, lambda: enc.encode_documents(passages))]
        for samples, fn in pair if i % 4 in (0, 3) else pair[::-1]:
            samples += _time_n(fn, 1)
    forward_s, encode_s = float(np.median(forwards)), float(np.median(encodes))
    q_tokens = len(tok(query)["input_ids"])
    query_s = _time_n(lambda: enc.encode_queries([query]), reps)
    return {
        "passages": len(passages),
        "passage_tokens": int(np.mean(lengths)),
        "encode_tokens_per_s": round(tokens / encode_s, 1),
        "flag_encode_tokens_per_s": round(tokens / flag_s, 1),
        "forward_tokens_per_s": round(tokens / forward_s, 1),
        "encode_vs_forward": ratio(encode_s, forward_s),
        "flag_encode_vs_forward": ratio(flag_s, forward_s),
        "query_tokens": q_tokens,
        "query_encode": summarize(query_s),
    }


def measure_reranker(
    model_dir: Path,
    query: str,
    passages: list[str],
    tops: dict[str, tuple[int, ...]],
    reps: dict[int, int],
) -> dict[str, Any]:
    """Rerank latency per CPU option (`tops`: option -> the top-N lists it is timed on) and the
    speed-ups over `compute_score` and of int8 over the single pass."""
    from hybrid_search.rerank.bge import BGEReranker

    options = {  # name -> (single_pass, quantize)
        "compute_score": (False, False),
        "single_pass": (True, False),
        "single_pass_int8": (True, True),
    }
    out: dict[str, Any] = {}
    scores: dict[str, list[float]] = {}
    longest = max(n for t in tops.values() for n in t)
    for name, (single_pass, quantize) in options.items():
        if not tops.get(name):
            continue
        rr = BGEReranker(str(model_dir), single_pass=single_pass, quantize=quantize)
        rr.score(query, passages[:2])  # load (and quantise) and warm up
        per_top = {}
        for top in tops[name]:
            samples = _time_n(lambda rr=rr, top=top: rr.score(query, passages[:top]), reps[top])
            per_top[f"top{top}"] = summarize(samples)
        scores[name] = rr.score(query, passages[: max(tops[name])])
        out[name] = per_top
        del rr  # free the model before loading the next
    speedup: dict[str, dict[str, float | None]] = {}
    for top in sorted({n for t in tops.values() for n in t}):
        key = f"top{top}"
        p50 = {n: out[n][key]["p50_ms"] for n in out if key in out[n]}
        speedup[key] = {
            "single_pass": _ratio_of(p50, "compute_score", "single_pass"),
            "single_pass_int8": _ratio_of(p50, "compute_score", "single_pass_int8"),
            "int8_over_single_pass": _ratio_of(p50, "single_pass", "single_pass_int8"),
        }
    out["speedup"] = speedup
    if "single_pass" in scores and "single_pass_int8" in scores:
        n = min(len(scores["single_pass"]), len(scores["single_pass_int8"]))
        out["agreement_int8"] = agreement(scores["single_pass"][:n], scores["single_pass_int8"][:n])
    if "compute_score" in scores and "single_pass" in scores:
        n = min(len(scores["compute_score"]), len(scores["single_pass"]))
        diff = np.abs(np.subtract(scores["compute_score"][:n], scores["single_pass"][:n]))
        out["single_pass_max_abs_diff"] = round(float(np.max(diff)), 6)
    out["longest_list"] = longest
    return out


def _ratio_of(p50: dict[str, float], base: str, other: str) -> float | None:
    if base not in p50 or other not in p50:
        return None
    return ratio(p50[base], p50[other])


def agreement(a: list[float], b: list[float], k: int = 10) -> dict[str, float]:
    """Spearman rank correlation and top-k overlap of two score lists over the same passages."""
    ra, rb = _ranks(a), _ranks(b)
    spearman = float(np.corrcoef(ra, rb)[0, 1]) if len(a) > 1 else 1.0
    k = min(k, len(a))
    top_a = set(np.argsort(-np.asarray(a))[:k])
    top_b = set(np.argsort(-np.asarray(b))[:k])
    return {"spearman": round(spearman, 4), f"top{k}_overlap": round(len(top_a & top_b) / k, 4)}


def _ranks(x: list[float]) -> Any:
    order = np.argsort(np.asarray(x))
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    return ranks
