"""Token pooling: merge near-duplicate document tokens before storing them.

Clavié, "A little pooling goes a long way for multi-vector representations" (Answer.AI, 2024):
cluster a document's token vectors hierarchically (Ward linkage on cosine distance) into
n // pool_factor groups and store each group's mean, re-normalised. Pool factor 2 halves the
stored tokens (and the MaxSim work) with little loss; measured here by the quality bench
(`hybrid_search.benchmarks.maxsim_quality`). Uses scipy's clustering (installed with ranx).
"""

from __future__ import annotations

import numpy as np

from hybrid_search.tokens.codec import FloatArray


def pool_tokens(tokens: FloatArray, pool_factor: int) -> FloatArray:
    """`tokens` (n, dim), L2-normalised, reduced to max(1, n // pool_factor) cluster means."""
    if pool_factor < 1:
        raise ValueError(f"pool_factor must be >= 1, got {pool_factor}")
    x = np.ascontiguousarray(tokens, dtype=np.float32)
    n = len(x)
    clusters = max(1, n // pool_factor)
    if pool_factor == 1 or n <= 2 or clusters >= n:
        return x
    from scipy.cluster.hierarchy import fcluster, linkage  # type: ignore[import-untyped]

    # Ward needs Euclidean input; on unit vectors Euclidean order is cosine order
    labels = fcluster(
        linkage(x.astype(np.float64), method="ward"), t=clusters, criterion="maxclust"
    )
    k = int(labels.max())
    sums = np.zeros((k, x.shape[1]), dtype=np.float64)
    np.add.at(sums, labels - 1, x)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    pooled = sums / np.where(norms > 0, norms, 1.0)
    # keep the clusters in the order of their first token, so pooling is deterministic
    first = np.full(k, n, dtype=np.int64)
    np.minimum.at(first, labels - 1, np.arange(n))
    return pooled[np.argsort(first, kind="stable")].astype(np.float32)
