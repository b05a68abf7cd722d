"""Which FAISS index a catalogue (partition) gets, and making, training and describing it.

Every index here stores stable int64 item ids: Flat and HNSW sit in an ``IndexIDMap2`` (they number vectors by
position, which shifts on removal), IVF indexes take ids natively through ``add_with_ids``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

import faiss
import numpy as np
import numpy.typing as npt

from recengine.errors import ConfigurationError, InvalidInputError
from recengine.index.gpu import is_gpu_index

logger = logging.getLogger(__name__)

Metric = Literal["ip", "l2"]
METRICS: dict[str, int] = {"ip": faiss.METRIC_INNER_PRODUCT, "l2": faiss.METRIC_L2}

#: Below this many items search is exact. Measured on the development machine (one thread, 64-d): a Flat scan
#: of 44k vectors took 0.4 ms a query, so 100k is ~1 ms, well under one generator forward pass per request;
#: an IVF below that saves a fraction of a millisecond and costs recall, training and retraining.
FLAT_MAX_ITEMS = 100_000
#: Above this many items (or when flat float32 vectors exceed a memory budget) vectors are PQ-compressed:
#: 5M × 64-d float32 is 1.3 GB per copy, and the IVF lists' raw vectors dominate memory, not speed.
PQ_MIN_ITEMS = 5_000_000
#: faiss's k-means warns below 39 training points per centroid; we keep every IVF at least that well trained.
MIN_POINTS_PER_CENTROID = 39
#: Training sample per centroid when none is given: between faiss's 39 (minimum) and 256 (it subsamples above).
DEFAULT_POINTS_PER_CENTROID = 64
ID_BYTES = 8


def _pow2_near(x: float) -> int:
    return int(2 ** round(math.log2(max(x, 1.0))))


def _pow2_floor(x: float) -> int:
    return int(2 ** math.floor(math.log2(max(x, 1.0))))


def ivf_nlist(n_items: int) -> int:
    """≈ 4·√n lists (faiss's guideline for this range), rounded to a power of two and capped so every centroid
    has at least 39 training points."""
    return max(1, min(_pow2_near(4 * math.sqrt(n_items)), _pow2_floor(n_items / MIN_POINTS_PER_CENTROID)))


def _pq_m(dim: int, n_items: int, memory_budget_bytes: int | None) -> int:
    """Sub-quantizers (bytes per vector): d/4 by default (4 dims each keeps distance error small for
    normalised embeddings), fewer when the budget demands; ``m`` must divide ``dim``."""
    divisors = [m for m in range(1, dim + 1) if dim % m == 0 and m <= max(1, dim // 4)]
    if memory_budget_bytes is None:
        return divisors[-1]
    fitting = [m for m in divisors if n_items * (m + ID_BYTES) <= memory_budget_bytes]
    if not fitting:
        raise ConfigurationError(
            f"{n_items} items do not fit in {memory_budget_bytes} bytes even at 1 byte per vector plus its id"
        )
    return fitting[-1]


def choose_factory(n_items: int, dim: int, *, memory_budget_bytes: int | None = None) -> str:
    """FAISS factory string (inner index, no id map) for ``n_items`` vectors of ``dim`` dimensions.

    ``Flat`` (exact) below ``FLAT_MAX_ITEMS``; ``IVF{nlist},Flat`` up to ``PQ_MIN_ITEMS``; ``IVF{nlist},PQ{m}``
    above that or when the raw float32 vectors would not fit ``memory_budget_bytes``. Never HNSW: it cannot
    remove items, and a shop catalogue changes every day.
    """
    if n_items < 0 or dim <= 0:
        raise InvalidInputError(f"need n_items >= 0 and dim > 0, got n_items={n_items}, dim={dim}")
    raw_bytes = n_items * (dim * 4 + ID_BYTES)
    over_budget = memory_budget_bytes is not None and raw_bytes > memory_budget_bytes
    if n_items < FLAT_MAX_ITEMS and not over_budget:
        return "Flat"
    nlist = ivf_nlist(n_items)
    if n_items < PQ_MIN_ITEMS and not over_budget:
        return f"IVF{nlist},Flat"
    return f"IVF{nlist},PQ{_pq_m(dim, n_items, memory_budget_bytes)}"


def hnsw_of(index: faiss.Index) -> faiss.IndexHNSW | None:
    """The HNSW graph index inside ``index``, if that is what it is."""
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
    return inner if isinstance(inner, faiss.IndexHNSW) else None


def is_hnsw(index: faiss.Index) -> bool:
    return hnsw_of(index) is not None


@dataclass(frozen=True)
class Partition:
    """One category's index and what kind it is, looked up once: FAISS's type introspection costs a few µs
    per call, which added up to most of an unfiltered search's time over 40 partitions."""

    factory: str
    index: faiss.Index
    ivf: faiss.IndexIVF | None
    hnsw: faiss.IndexHNSW | None
    gpu: bool

    @classmethod
    def of(cls, factory: str, index: faiss.Index) -> Partition:
        gpu = is_gpu_index(index)
        ivf = None if gpu else faiss.try_extract_index_ivf(index)
        return cls(factory, index, ivf, None if gpu else hnsw_of(index), gpu)

    @property
    def removable(self) -> bool:
        """HNSW graphs cannot drop nodes; everything else we build can."""
        return self.hnsw is None


def make_index(factory: str, dim: int, metric: Metric) -> faiss.Index:
    """An empty index for ``factory``, wrapped so that it stores external int64 ids."""
    if metric not in METRICS:
        raise ConfigurationError(f"unknown metric {metric!r}; expected one of {sorted(METRICS)}")
    try:
        index = faiss.index_factory(dim, factory, METRICS[metric])
    except RuntimeError as exc:
        raise ConfigurationError(f"FAISS cannot build factory {factory!r} for dim {dim}: {exc}") from exc
    if faiss.try_extract_index_ivf(index) is not None:
        return index
    if isinstance(index, faiss.IndexIDMap):
        raise ConfigurationError(f"factory {factory!r} must name the inner index; ids are mapped by recengine")
    return faiss.IndexIDMap2(index)


def training_points_needed(index: faiss.Index) -> int:
    """The fewest vectors FAISS will train ``index`` on (0 when it needs no training)."""
    if index.is_trained:
        return 0
    ivf = faiss.try_extract_index_ivf(index)
    needed = ivf.nlist if ivf is not None else 1
    pq = getattr(faiss.downcast_index(ivf), "pq", None) if ivf is not None else None
    if pq is not None:
        needed = max(needed, int(pq.ksub))
    return int(needed)


def default_train_sample(index: faiss.Index, n_items: int) -> int:
    ivf = faiss.try_extract_index_ivf(index)
    per = DEFAULT_POINTS_PER_CENTROID * (ivf.nlist if ivf is not None else 1)
    return min(n_items, max(per, training_points_needed(index)))


def default_nprobe(nlist: int) -> int:
    """≈ √nlist lists: a common starting point (recall@10 ≥ 0.97 on the tests' clustered data with 32 lists);
    a request that needs more recall passes its own ``nprobe``."""
    return max(1, min(nlist, round(math.sqrt(nlist))))


def build_partition(
    factory: str,
    vectors: npt.NDArray[np.float32],
    ids: npt.NDArray[np.int64],
    *,
    metric: Metric,
    train_sample: int | None,
    seed: int = 0,
) -> Partition:
    """A filled index for one partition; a factory the partition is too small to train becomes Flat (exact, and
    at that size also the fastest)."""
    dim = vectors.shape[1]
    index = make_index(factory, dim, metric)
    needed = training_points_needed(index)
    if needed > len(ids):
        logger.info("partition of %d items is too small to train %s; using Flat", len(ids), factory)
        factory, index = "Flat", make_index("Flat", dim, metric)
    if not index.is_trained:
        sample = default_train_sample(index, len(ids)) if train_sample is None else min(train_sample, len(ids))
        if sample < needed:
            raise ConfigurationError(f"train_sample={train_sample} is below the {needed} points {factory} needs")
        rows = np.random.default_rng(seed).choice(len(ids), size=sample, replace=False)
        index.train(vectors[np.sort(rows)])
        ivf = faiss.try_extract_index_ivf(index)
        if ivf is not None:
            ivf.nprobe = default_nprobe(ivf.nlist)
    index.add_with_ids(vectors, ids)
    return Partition.of(factory, index)
