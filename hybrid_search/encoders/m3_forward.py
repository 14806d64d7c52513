"""One forward pass of BGE-M3 for a batch, with FlagEmbedding's own model and heads.

`BGEM3FlagModel.encode` (FlagEmbedding 1.4) runs its longest batch once to probe for out-of-memory
errors before its loop, so a one-batch call costs two passes. This is what
`M3Embedder.encode_single_device` does for one batch, minus the probe: the same tokenizer call,
padding, forward and post-processing, so outputs equal `encode`'s (tests/encoders).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hybrid_search.encoders.base import EncodedBatch, SparseVector
from hybrid_search.encoders.loading import TokenizerPool


def place(flag: Any) -> None:
    """Put the model where `encode_single_device` puts it: float32 on CPU, on its device, eval."""
    device = flag.target_devices[0]
    if device == "cpu":
        flag.model.float()
    flag.model.to(device)
    flag.model.eval()


def special_ids(tokenizer: Any) -> np.ndarray:
    """The token ids FlagEmbedding leaves out of lexical weights (cls, eos, pad, unk)."""
    ids = [
        tokenizer.convert_tokens_to_ids(tokenizer.special_tokens_map[name])
        for name in ("cls_token", "eos_token", "pad_token", "unk_token")
        if name in tokenizer.special_tokens_map
    ]
    return np.asarray(ids, dtype=np.int64)


def forward_m3(
    flag: Any, texts: Sequence[str], max_length: int, tokenizers: TokenizerPool
) -> EncodedBatch:
    """Dense, lexical weights and ColBERT vectors of `texts` from one forward pass, on a model
    placed once (`place`); passes may run concurrently, each with a tokenizer of its own."""
    import torch
    from FlagEmbedding.utils.tokenizer_compat import pad_with_compat

    device = flag.target_devices[0]
    with tokenizers.use() as tok:
        enc = tok(list(texts), truncation=True, max_length=max_length)
        items = [{k: enc[k][i] for k in enc} for i in range(len(texts))]
        batch = pad_with_compat(tok, items, padding=True, return_tensors="pt").to(device)
    with torch.inference_mode():
        out = flag.model(
            batch,
            return_dense=True,
            return_sparse=True,
            return_colbert_vecs=True,
            truncate_dim=flag.truncate_dim,
        )
    dense = _numpy(out["dense_vecs"])
    weights = _numpy(out["sparse_vecs"].squeeze(-1))
    colbert = _numpy(out["colbert_vecs"])
    ids = batch["input_ids"].cpu().numpy()
    lengths = batch["attention_mask"].cpu().numpy().sum(axis=1)
    skip = special_ids(flag.tokenizer)
    tokens = [np.ascontiguousarray(c[: int(n) - 1]) for c, n in zip(colbert, lengths, strict=True)]
    return EncodedBatch(
        dense=dense.reshape(len(texts), -1),
        sparse=[_lexical(w, i, skip) for w, i in zip(weights, ids, strict=True)],
        colbert=tokens,
        token_counts=[len(c) + 1 for c in tokens],
    )


def _numpy(t: Any) -> np.ndarray:
    return np.asarray(t.detach().float().cpu().numpy(), dtype=np.float32)


def _lexical(weights: np.ndarray, ids: np.ndarray, skip: np.ndarray) -> SparseVector:
    """Token id -> its largest weight (> 0), special tokens out: `_process_token_weights`."""
    keep = (weights > 0) & ~np.isin(ids, skip)
    w, i = weights[keep], ids[keep]
    order = np.argsort(w, kind="stable")  # ascending: the largest weight of an id is set last
    return dict(zip(i[order].tolist(), w[order].tolist(), strict=True))
