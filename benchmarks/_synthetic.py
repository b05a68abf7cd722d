"""Synthetic embeddings for the index benchmark: a seeded mixture of Gaussians on the unit sphere.

Isotropic noise is the worst case for every ANN index (no structure to exploit) and not what real embeddings
look like; a mixture of clusters of unequal sizes is. Each point is a unit-norm cluster centre plus Gaussian noise
of expected norm ``spread``, then L2-normalised, so inner product is cosine similarity. The centres and cluster
weights depend on ``(seed, n_clusters, dim)`` only, so ``queries_like`` draws held-out queries from the same mixture
(from a different random stream than the base set: queries are never copies of base vectors).

``DEFAULT_SPREAD`` = 1.2 was picked by measuring faiss IndexIVFFlat (inner product) recall@10 over 1000 queries:

    n=100k, nlist=1024:  nprobe 1: 0.79   4: 0.90   8: 0.92   16: 0.94   32: 0.96   64: 0.97
    n=1M,   nlist=4096:  nprobe 1: 0.48   4: 0.89   8: 0.97   16: 0.98   32: 0.99   64: 0.99

(spread 1.0 is easier: 0.90 at nprobe 1 on 100k; 1.5 is hard: 0.87 at nprobe 64.) pgvector at 100k-300k needs
hnsw.ef_search ~15-25 for recall 0.90 and ~220-320 for 0.99. Generating 1M x 64 takes ~1.5 s and 256 MB;
``ground_truth`` for 1000 queries against 1M takes ~20 s on the 2-core box (~1 s at 100k-300k).
"""

from __future__ import annotations

import faiss
import numpy as np
from numpy.typing import NDArray

DEFAULT_SPREAD = 1.2
_CHUNK = 1 << 16  # rows per generation step: 16 MB of float32 noise at dim 64


def _mixture(dim: int, n_clusters: int, seed: int) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
    """Unit-norm centres and their (unequal, log-normal) sampling weights."""
    rng = np.random.default_rng([seed, 0])
    centres = rng.standard_normal((n_clusters, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    weights = rng.lognormal(0.0, 0.5, n_clusters)
    return centres, weights / weights.sum()


def _draw(n: int, dim: int, n_clusters: int, spread: float, seed: int, stream: int) -> NDArray[np.float32]:
    centres, weights = _mixture(dim, n_clusters, seed)
    rng = np.random.default_rng([seed, stream])
    out = np.empty((n, dim), dtype=np.float32)
    scale = np.float32(spread / np.sqrt(dim))
    for start in range(0, n, _CHUNK):
        block = out[start : start + _CHUNK]
        rng.standard_normal(block.shape, dtype=np.float32, out=block)
        block *= scale
        block += centres[rng.choice(n_clusters, size=len(block), p=weights)]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
    return out


def clustered_vectors(
    n: int, dim: int = 64, *, n_clusters: int = 1000, spread: float = DEFAULT_SPREAD, seed: int = 0
) -> NDArray[np.float32]:
    """``n`` L2-normalised float32 vectors (C-contiguous, ``(n, dim)``) from the seeded mixture."""
    return _draw(n, dim, n_clusters, spread, seed, stream=1)


def queries_like(
    n: int, dim: int = 64, *, n_clusters: int = 1000, spread: float = DEFAULT_SPREAD, seed: int = 0
) -> NDArray[np.float32]:
    """Held-out queries from the same mixture as ``clustered_vectors`` with the same arguments."""
    return _draw(n, dim, n_clusters, spread, seed, stream=2)


def ground_truth(base: NDArray[np.float32], queries: NDArray[np.float32], k: int) -> NDArray[np.int64]:
    """Exact top-``k`` row indices of ``base`` by inner product for each query (faiss.IndexFlatIP), ``(Q, k)``."""
    index = faiss.IndexFlatIP(base.shape[1])
    index.add(np.ascontiguousarray(base, dtype=np.float32))
    _, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return ids.astype(np.int64, copy=False)


def recall_at_k(found: NDArray[np.int64], truth: NDArray[np.int64], k: int = 10) -> float:
    """Mean fraction of the true top-``k`` found among the first ``k`` results of each query."""
    hits = sum(len(np.intersect1d(f[:k], t[:k])) for f, t in zip(found, truth, strict=True))
    return hits / (len(truth) * k)
