"""What a search may return: checked inputs, the id → category table, exclusions inside FAISS, merged top-k.

Per-request settings (nprobe, efSearch, the selector) travel in a fresh ``SearchParameters`` object per call,
never through ``index.nprobe``: concurrent requests with different settings then cannot race. (FAISS's
``IndexIDMap2`` briefly swaps the selector inside the params object it is given, one more reason never to
share one between threads.)

An approximate index can return fewer than k hits although k eligible items exist: the probed IVF lists (or
the HNSW beam) may hold too few items that pass the selector. Short rows are searched again with 4× the
nprobe / efSearch; IVF ends exhaustive (nprobe = nlist), HNSW ends with an exact scan of its stored vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from recengine.errors import InvalidInputError
from recengine.index.factory import Partition
from recengine.index.gpu import GPU_MAX_K

Ids = npt.NDArray[np.int64]
Scores = npt.NDArray[np.float32]
Vectors = npt.NDArray[np.float32]
ESCALATION = 4
NORM_TOLERANCE = 1e-3


def listing(ids: npt.ArrayLike, limit: int = 10) -> str:
    values = np.asarray(ids).ravel()
    shown = ", ".join(str(int(i)) for i in values[:limit])
    return shown + (f", … ({values.size} in all)" if values.size > limit else "")


def check_ids(ids: npt.ArrayLike, *, unique: bool = True) -> Ids:
    array = np.asarray(ids)
    if array.ndim != 1 or not (array.size == 0 or np.issubdtype(array.dtype, np.integer)):
        raise InvalidInputError(f"ids must be a 1-D integer array, got shape {array.shape} dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    if (array < 0).any():
        raise InvalidInputError(f"ids must be >= 0 (-1 marks padding), got {listing(array[array < 0])}")
    if unique:
        values, counts = np.unique(array, return_counts=True)
        if (counts > 1).any():
            raise InvalidInputError(f"duplicate ids in one call: {listing(values[counts > 1])}")
    return array


def check_vectors(vectors: npt.ArrayLike, n: int | None, dim: int | None, *, unit_norm: bool, name: str) -> Vectors:
    array = np.asarray(vectors)
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.floating):
        raise InvalidInputError(f"{name} must be a 2-D float array (rows, dim), got shape {array.shape}")
    if n is not None and array.shape[0] != n:
        raise InvalidInputError(f"{name} has {array.shape[0]} rows but {n} ids were given")
    if dim is not None and array.shape[1] != dim:
        raise InvalidInputError(f"{name} have dimension {array.shape[1]}, the index has {dim}")
    array = np.ascontiguousarray(array, dtype=np.float32)
    bad = ~np.isfinite(array).all(axis=1)
    if bad.any():
        raise InvalidInputError(f"{name} rows {listing(np.flatnonzero(bad))} contain NaN or infinity")
    if unit_norm and array.size:
        off = np.abs(np.linalg.norm(array, axis=1) - 1.0) > NORM_TOLERANCE
        if off.any():
            raise InvalidInputError(f"{name} rows {listing(np.flatnonzero(off))} are not L2-normalised (metric ip)")
    return array


def check_categories(categories: Sequence[str], n: int) -> list[str]:
    if isinstance(categories, str) or len(categories) != n:
        raise InvalidInputError(f"categories must be a sequence of {n} strings (one per id)")
    return [str(c) for c in categories]


class ItemTable:
    """Sorted item ids with their category codes: a few bytes per item, unlike a dict's ~100."""

    def __init__(self, ids: Ids, codes: npt.NDArray[np.int32]) -> None:
        order = np.argsort(ids, kind="stable")
        self.ids, self.codes = ids[order], codes[order].astype(np.int32)

    def codes_of(self, ids: Ids) -> npt.NDArray[np.int32]:
        """Category code of each id, -1 for ids not in the index."""
        if self.ids.size == 0 or ids.size == 0:
            return np.full(ids.size, -1, np.int32)
        pos = np.minimum(np.searchsorted(self.ids, ids), self.ids.size - 1)
        return np.where(self.ids[pos] == ids, self.codes[pos], -1).astype(np.int32)

    def insert(self, ids: Ids, codes: npt.NDArray[np.int32]) -> None:
        order = np.argsort(ids)
        pos = np.searchsorted(self.ids, ids[order])
        self.ids, self.codes = np.insert(self.ids, pos, ids[order]), np.insert(self.codes, pos, codes[order])

    def delete(self, ids: Ids) -> None:
        keep = ~np.isin(self.ids, ids)
        self.ids, self.codes = self.ids[keep], self.codes[keep]


def exclusion_selector(exclude: Ids | None) -> tuple[faiss.IDSelector | None, list[Any]]:
    """Selector admitting every id not in ``exclude``, plus the objects that must outlive the search (SWIG
    selectors hold raw pointers to each other)."""
    if exclude is None or exclude.size == 0:
        return None, []
    batch = faiss.IDSelectorBatch(exclude)
    not_batch = faiss.IDSelectorNot(batch)
    return not_batch, [batch, not_batch]


def _params(part: Partition, sel: faiss.IDSelector | None, nprobe: int | None, ef: int | None
            ) -> faiss.SearchParameters | None:  # fmt: skip
    """A fresh parameters object per call (attributes set one by one: FAISS's stubs lack the kwargs form)."""
    params: faiss.SearchParameters
    if part.ivf is not None:
        ivf_params = faiss.SearchParametersIVF()
        ivf_params.nprobe = min(part.ivf.nlist, nprobe or part.ivf.nprobe)
        params = ivf_params
    elif part.hnsw is not None:
        hnsw_params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        hnsw_params.efSearch = ef or part.hnsw.hnsw.efSearch
        params = hnsw_params
    elif sel is None:
        return None
    else:
        params = faiss.SearchParameters()
    params.sel = sel
    return params


def _raw_search(
    part: Partition, queries: Scores, k: int, sel: faiss.IDSelector | None, nprobe: int | None, ef: int | None
) -> tuple[Scores, Ids]:
    distances, labels = part.index.search(queries, k, params=_params(part, sel, nprobe, ef))
    return distances, labels


def _exact_scan(part: Partition, queries: Scores, k: int, exclude: Ids | None) -> tuple[Scores, Ids]:
    """Brute force over the vectors an IDMap2-wrapped graph index stores: the last resort that is never short."""
    index, graph = part.index, part.hnsw
    assert isinstance(index, faiss.IndexIDMap2) and graph is not None
    flat = Partition.of("Flat", faiss.IndexIDMap(faiss.IndexFlat(index.d, index.metric_type)))
    flat.index.add_with_ids(graph.reconstruct_n(0, graph.ntotal), faiss.vector_to_array(index.id_map))
    sel, _keep = exclusion_selector(exclude)
    return _raw_search(flat, queries, k, sel, None, None)


def _search_gpu(part: Partition, queries: Scores, k: int, exclude: Ids | None, nprobe: int | None
                ) -> tuple[Scores, Ids]:  # fmt: skip
    """GPU indexes take no selector: fetch k + |exclude| and drop the excluded ids (exact for exact indexes)."""
    extra = 0 if exclude is None else exclude.size
    fetch = min(GPU_MAX_K, k + extra, max(part.index.ntotal, 1))
    params = None
    if nprobe and "IVF" in part.factory:
        params = faiss.SearchParametersIVF()
        params.nprobe = nprobe
    distances, labels = part.index.search(queries, fetch, params=params)
    if exclude is not None and extra:
        labels = np.where(np.isin(labels, exclude), -1, labels)
    order = np.argsort(labels < 0, axis=1, kind="stable")[:, :k]  # valid hits first, rank order kept
    distances, labels = np.take_along_axis(distances, order, 1), np.take_along_axis(labels, order, 1)
    if labels.shape[1] < k:
        pad = k - labels.shape[1]
        distances = np.pad(distances, ((0, 0), (0, pad)), constant_values=np.nan)
        labels = np.pad(labels, ((0, 0), (0, pad)), constant_values=-1)
    return distances, labels


def search_partition(
    part: Partition,
    queries: Scores,
    k: int,
    *,
    exclude: Ids | None,
    expected: int,
    nprobe: int | None = None,
    ef_search: int | None = None,
) -> tuple[Scores, Ids]:
    """Top-k of one partition: ``expected`` = min(k, items in it that pass ``exclude``) hits per row, always."""
    if part.gpu:
        return _search_gpu(part, queries, k, exclude, nprobe)
    sel, _keep = exclusion_selector(exclude)
    distances, labels = _raw_search(part, queries, k, sel, nprobe, ef_search)
    if part.ivf is None and part.hnsw is None:
        return distances, labels  # exhaustive: never short
    probe = min(part.ivf.nlist, nprobe or part.ivf.nprobe) if part.ivf is not None else 0
    ef = (ef_search or part.hnsw.hnsw.efSearch) if part.hnsw is not None else 0
    scanned = False
    while not scanned:
        short = np.flatnonzero((labels >= 0).sum(axis=1) < expected)
        if short.size == 0:
            break
        if part.ivf is not None and probe < part.ivf.nlist:
            probe = min(part.ivf.nlist, probe * ESCALATION)
            d, i = _raw_search(part, queries[short], k, sel, probe, None)
        elif part.hnsw is not None and ef < part.index.ntotal:
            ef *= ESCALATION
            d, i = _raw_search(part, queries[short], k, sel, None, ef)
        elif part.hnsw is not None:
            d, i = _exact_scan(part, queries[short], k, exclude)
            scanned = True
        else:  # IVF at nprobe = nlist is exhaustive: nothing more exists
            break
        distances[short], labels[short] = d, i
    return distances, labels


def to_scores(distances: Scores, labels: Ids, metric_type: int) -> Scores:
    """Higher is better for every metric (L2 distances are negated); padding is -inf."""
    scores = -distances if metric_type == faiss.METRIC_L2 else distances.copy()
    scores[labels < 0] = -np.inf
    return scores.astype(np.float32, copy=False)


def merge_top_k(parts: list[tuple[Scores, Ids]], n_queries: int, k: int) -> tuple[Scores, Ids]:
    """Merge per-partition (or per-shard) top-k lists with FAISS's own k-way merge."""
    if not parts:
        return np.full((n_queries, k), -np.inf, dtype=np.float32), np.full((n_queries, k), -1, dtype=np.int64)
    if len(parts) == 1:
        return parts[0]
    all_scores = np.ascontiguousarray(np.stack([p[0] for p in parts]), dtype=np.float32)
    all_ids = np.ascontiguousarray(np.stack([p[1] for p in parts]), dtype=np.int64)
    scores, ids = faiss.merge_knn_results(all_scores, all_ids, keep_max=True)
    return scores, ids
