"""Token pooling: merge near-duplicate document tokens before storing them.

Clavié, "A little pooling goes a long way for multi-vector representations" (Answer.AI, 2024):
cluster a document's token vectors hierarchically (Ward linkage on cosine distance) into
n // pool_factor groups and store each group's mean, re-normalised (scipy, installed with ranx).
The quality cost is measured by `hybrid_search.benchmarks.maxsim_quality`."""

from __future__ import annotations

import numpy as np

from hybrid_search.tokens.codec import FloatArray
from hybrid_search.tokens.maxsim import one_blas_thread


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
    from scipy.spatial.distance import squareform  # type: ignore[import-untyped]

    # Ward needs Euclidean distances (on unit vectors, in cosine order): from the Gram matrix on
    # one BLAS thread (ingest encodes in others), a quarter of scipy's pdist CPU (docs/design.md)
    x64 = x.astype(np.float64)
    with one_blas_thread():
        dist = x64 @ x64.T
    sq = np.diag(dist).copy()
    dist *= -2.0
    dist += sq[:, None]
    dist += sq[None, :]
    np.sqrt(np.maximum(dist, 0.0, out=dist), out=dist)
    np.fill_diagonal(dist, 0.0)
    tree = linkage(squareform(dist, checks=False), method="ward")
    labels = fcluster(tree, t=clusters, criterion="maxclust") - 1
    # clusters numbered by their first token (deterministic, in the text's order); sums as one
    # product with the membership matrix (np.add.reduceat took half of the whole call)
    first = np.full(int(labels.max()) + 1, n, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(n))
    rank = np.empty_like(first)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    member = np.zeros((len(first), n), dtype=np.float32)
    member[rank[labels], np.arange(n)] = 1.0
    with one_blas_thread():
        sums = member @ x
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.where(norms > 0, norms, 1.0)).astype(np.float32)
