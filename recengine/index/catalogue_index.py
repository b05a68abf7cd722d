"""The catalogue's vector index: item ids, their category, and one FAISS partition per category.

Vectors must be L2-normalised by the caller for metric ``ip`` (cosine); the index checks norms rather than
normalising, because a wrong norm means the wrong embedding was passed and silent normalising would hide it.
An unknown category yields an empty (all -1) result, not an error: a category whose items were all removed is
indistinguishable from one never seen, and both are legitimate states of a shop.

Not thread-safe for mutation: ``IndexHandle`` serialises mutations against concurrent searches.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt

from recengine.errors import ConfigurationError, InvalidInputError
from recengine.index.factory import METRICS, Metric, Partition, build_partition, choose_factory, make_index
from recengine.index.filters import (
    ItemTable,
    check_categories,
    check_ids,
    check_vectors,
    listing,
    merge_top_k,
    search_partition,
    to_scores,
)
from recengine.index.gpu import to_device
from recengine.index.manifest import IndexIntegrityError, Manifest, read_index_dir, write_index_dir

Ids = npt.NDArray[np.int64]
Vectors = npt.NDArray[np.float32]


@dataclass(slots=True)  # not frozen: a frozen dataclass costs ~0.3 µs more per search, a tenth of the overhead
class SearchResult:
    """``ids`` (Q, k) best first, padded with -1; ``scores`` (Q, k), higher is better, padded with -inf."""

    ids: Ids
    scores: npt.NDArray[np.float32]


class CatalogueIndex:
    """Item vectors searchable by category, one FAISS partition per category.

    Filter design, measured by ``python -m benchmarks.filter_choice`` (44,477 clustered 64-d vectors, 40
    categories of 50 to 5,000 items, k=10, one query per call, one FAISS thread, median ms per query on the 2-core
    development machine, which was also training a model):

        | method                                    | all categories | <=200 items | >=2000 items |
        | Flat, no filter (reference)               | 0.407          |             |              |
        | IDSelectorBatch inside the search         | 0.195          | 0.155       | 0.373        |
        | IDSelectorBitmap inside the search        | 0.107          | 0.098       | 0.124        |
        | per-category sub-index (raw FAISS)        | 0.011          | 0.005       | 0.036        |
        | CatalogueIndex.search(categories=...)     | 0.026          | 0.020       | 0.052        |
        | CatalogueIndex.search, no filter (fan-out over 40) | 0.866 |          |              |
        | batch of 32 queries, 5,000-item category: selector 5.5 ms, sub-index 0.72 ms             |

    A selector still walks every vector of the index to test membership (and keeps FAISS off its BLAS path), so
    a category search costs a full scan; a sub-index costs only the category's own items: 10-18× faster here. So
    every category is its own partition, sized independently by ``choose_factory`` (small categories stay exact;
    only categories big enough to train get an IVF). The price is paid by unfiltered searches, which fan out over
    partitions and merge with ``faiss.merge_knn_results``: 2× a single Flat scan at 40 categories; retrieval here
    is nearly always per category (a generated design has a category). The only selector left is ``exclude_ids``
    (``IDSelectorNot(IDSelectorBatch)`` of the partition's excluded ids), applied inside the FAISS call;
    approximate partitions retry short rows with a wider search (``filters.search_partition``), so a request never
    gets fewer than k hits when k eligible items exist.
    """

    def __init__(self, *, dim: int, metric: Metric, embedder_version: str, factory: str | None,
                 names: list[str], parts: dict[int, Partition], ids: Ids,
                 codes: npt.NDArray[np.int32]) -> None:  # fmt: skip
        self.dim, self.metric, self.embedder_version, self.factory = dim, metric, embedder_version, factory
        self._params_cache: dict[int, faiss.SearchParametersIVF] = {}
        self._names, self._codes = names, {name: code for code, name in enumerate(names)}
        self._parts, self._table = parts, ItemTable(ids, codes)
        self._files: Manifest | None = None  # of the files last saved or loaded, while unchanged

    @classmethod
    def build(cls, ids: npt.ArrayLike, vectors: npt.ArrayLike, categories: Sequence[str], *,
              embedder_version: str, factory: str | None = None, metric: Metric = "ip",
              train_sample: int | None = None, memory_budget_bytes: int | None = None) -> CatalogueIndex:  # fmt: skip
        """Partition by category, choose (``factory=None``) or apply each partition's factory, train, add.

        A partition too small to train the requested factory is Flat. ``train_sample`` caps training vectors
        per partition (default: 64 per IVF list); sampling is seeded so a rebuild is reproducible.
        """
        if metric not in METRICS:
            raise ConfigurationError(f"unknown metric {metric!r}; expected one of {sorted(METRICS)}")
        id_array = check_ids(ids)
        x = check_vectors(vectors, id_array.size, None, unit_norm=metric == "ip", name="vectors")
        cats = check_categories(categories, id_array.size)
        names = sorted(set(cats))
        codes = np.searchsorted(np.array(names, dtype=str), np.array(cats, dtype=str)).astype(np.int32)
        parts: dict[int, Partition] = {}
        for code in range(len(names)):
            rows = np.flatnonzero(codes == code)
            share = None if memory_budget_bytes is None else memory_budget_bytes * rows.size // id_array.size
            wanted = factory or choose_factory(rows.size, x.shape[1], memory_budget_bytes=share)
            parts[code] = build_partition(wanted, x[rows], id_array[rows], metric=metric, train_sample=train_sample)
        return cls(dim=x.shape[1], metric=metric, embedder_version=embedder_version, factory=factory,
                   names=names, parts=parts, ids=id_array, codes=codes)  # fmt: skip

    # -- contents ---------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._table.ids.size)

    def __contains__(self, item_id: object) -> bool:
        if not isinstance(item_id, int | np.integer):
            return False
        return bool(self._table.codes_of(np.array([item_id], np.int64))[0] >= 0)

    def ids(self) -> Ids:
        """All item ids, ascending (a copy)."""
        return self._table.ids.copy()

    def contains(self, ids: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Membership of many ids at once (``in`` for one)."""
        return self._table.codes_of(check_ids(ids, unique=False)) >= 0

    def categories_of(self, ids: npt.ArrayLike) -> list[str | None]:
        return [self._names[c] if c >= 0 else None for c in self._table.codes_of(check_ids(ids, unique=False))]

    @property
    def manifest(self) -> Manifest:
        """What describes this index on disk; sha256 values and ``created_at`` are those of the files last
        saved or loaded, and ``None`` once the index has changed since (or was never saved)."""
        if self._files is not None:
            return self._files
        return Manifest(factory=self.factory or "auto", dim=self.dim, metric=self.metric,
                                 embedder_version=self.embedder_version, item_count=len(self),
                                 partitions=len(self._parts))  # fmt: skip

    def partitions(self) -> dict[str, tuple[str, int]]:
        """Category → (factory it was built with, items in it)."""
        return {self._names[c]: (p.factory, int(p.index.ntotal)) for c, p in self._parts.items()}

    # -- mutation ---------------------------------------------------------------------------------------------
    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike, categories: Sequence[str]) -> None:
        """Add new items; any id already present is an error and nothing is added."""
        id_array, x, cats = self._checked(ids, vectors, categories)
        present = id_array[self._table.codes_of(id_array) >= 0]
        if present.size:
            raise InvalidInputError(f"ids already in the index (use update): {listing(present)}")
        self._insert(id_array, x, cats)

    def remove(self, ids: npt.ArrayLike) -> int:
        """Remove items by id; ids not in the index are ignored, so the count returned can be below len(ids)."""
        id_array = np.unique(check_ids(ids, unique=False))
        codes = self._table.codes_of(id_array)
        self._check_removable(codes)
        removed = 0
        self._files = None
        for code in np.unique(codes[codes >= 0]):
            removed += self._parts[int(code)].index.remove_ids(faiss.IDSelectorBatch(id_array[codes == code]))
        self._table.delete(id_array[codes >= 0])
        return int(removed)

    def update(self, ids: npt.ArrayLike, vectors: npt.ArrayLike, categories: Sequence[str]) -> None:
        """Replace the vector and category of existing ids and add new ones (remove, then add)."""
        id_array, x, cats = self._checked(ids, vectors, categories)
        self._check_removable(self._table.codes_of(id_array))
        self.remove(id_array)
        self._insert(id_array, x, cats)

    def _checked(self, ids: npt.ArrayLike, vectors: npt.ArrayLike, categories: Sequence[str]
                 ) -> tuple[Ids, Vectors, list[str]]:  # fmt: skip
        id_array = check_ids(ids)
        x = check_vectors(vectors, id_array.size, self.dim, unit_norm=self.metric == "ip", name="vectors")
        return id_array, x, check_categories(categories, id_array.size)

    def _check_removable(self, codes: npt.NDArray[np.int32]) -> None:
        for code in np.unique(codes[codes >= 0]):
            part = self._parts[int(code)]
            if not part.removable:
                raise ConfigurationError(f"partition {self._names[code]!r} ({part.factory}) cannot remove items")

    def _insert(self, ids: Ids, x: Vectors, cats: list[str]) -> None:
        self._files = None
        for name in dict.fromkeys(cats):
            if name not in self._codes:  # a new category starts exact; a rebuild re-chooses its factory
                self._codes[name] = len(self._names)
                self._names.append(name)
                self._parts[self._codes[name]] = Partition.of("Flat", make_index("Flat", self.dim, self.metric))
        codes = np.array([self._codes[c] for c in cats], dtype=np.int32)
        for code in np.unique(codes):
            rows = np.flatnonzero(codes == code)
            self._parts[int(code)].index.add_with_ids(x[rows], ids[rows])
        self._table.insert(ids, codes)

    # -- search -----------------------------------------------------------------------------------------------
    def search(self, queries: npt.ArrayLike, k: int, *, categories: str | Sequence[str] | None = None,
               exclude_ids: Sequence[int] | npt.ArrayLike | None = None, nprobe: int | None = None,
               ef_search: int | None = None) -> SearchResult:  # fmt: skip
        """Top-k items per query row, restricted to ``categories`` and never any of ``exclude_ids``.

        Returns exactly k hits per row whenever k eligible items exist. ``nprobe`` / ``ef_search`` apply to
        this call only (IVF / HNSW partitions); the defaults were set at build time.
        """
        fast = self._fast_search(queries, k, categories, exclude_ids, nprobe, ef_search)
        if fast is not None:
            return fast
        q = check_vectors(queries, None, self.dim, unit_norm=False, name="queries")
        for name, value in (("k", k), ("nprobe", nprobe), ("ef_search", ef_search)):
            if (value is not None or name == "k") and (not isinstance(value, int | np.integer) or value <= 0):
                raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
        exclude = np.unique(check_ids(np.zeros(0, np.int64) if exclude_ids is None else exclude_ids, unique=False))
        excluded_codes = self._table.codes_of(exclude)
        results = []
        for code in self._selected_codes(categories):
            part, mine = self._parts[code], exclude[excluded_codes == code]  # only this partition's exclusions
            available = int(part.index.ntotal) - mine.size
            if available <= 0:
                continue
            d, i = search_partition(part, q, int(k), exclude=mine, expected=min(int(k), available),
                                    nprobe=nprobe, ef_search=ef_search)  # fmt: skip
            results.append((to_scores(d, i, part.index.metric_type), i))
        scores, labels = merge_top_k(results, q.shape[0], int(k))
        return SearchResult(ids=labels, scores=scores)

    def _fast_search(self, queries: npt.ArrayLike, k: int, categories: str | Sequence[str] | None, exclude_ids: object,
                     nprobe: int | None, ef_search: int | None) -> SearchResult | None:  # fmt: skip
        """The service's common call, one partition and no exclusions, with the fewest Python steps: the
        general path's set-up cost ~45 µs, as much as the FAISS search itself on an IVF partition (measured by
        ``benchmarks/index_bench.py``). None means: take the general path (which also reports bad input)."""
        if exclude_ids is not None or ef_search is not None or type(k) is not int or k <= 0:
            return None
        if not (type(queries) is np.ndarray and queries.dtype == np.float32 and queries.ndim == 2
                and queries.shape[1] == self.dim and queries.flags.c_contiguous):  # fmt: skip
            return None
        if categories is None:
            if len(self._parts) != 1:
                return None
            code = next(iter(self._parts))
        elif type(categories) is str and categories in self._codes:
            code = self._codes[categories]
        else:
            return None
        part = self._parts[code]
        if part.gpu or part.hnsw is not None or self.metric != "ip":
            return None
        params = None
        if part.ivf is not None:
            if nprobe is not None and (type(nprobe) is not int or nprobe <= 0):
                return None
            params = self._ivf_params(nprobe or part.ivf.nprobe)
        elif nprobe is not None:
            return None
        scores, ids = part.index.search(queries, k, params=params)
        # Short rows (a sparse probe, fewer than k items) and non-finite best scores (a NaN or infinite query
        # value poisons every inner product) both go to the general path, which decides or reports the input.
        if ids.shape[0] == 1:
            if ids[0, -1] < 0 or not math.isfinite(scores[0, 0]):
                return None
        elif ids[:, -1].min() < 0 or not np.isfinite(scores[:, 0]).all():
            return None
        return SearchResult(ids=ids, scores=scores)

    def _ivf_params(self, nprobe: int) -> faiss.SearchParametersIVF:
        """Shared, never-modified parameter objects per nprobe: FAISS only reads them in an IVF
        search (an IDMap2 wrapper would write into them, but IVF partitions hold their ids natively), and
        creating one costs a few µs of a ~60 µs search."""
        cache = self._params_cache
        params = cache.get(nprobe)
        if params is None:  # FAISS clamps nprobe to each index's nlist itself
            if len(cache) > 256:
                cache.clear()
            params = faiss.SearchParametersIVF()
            params.nprobe = nprobe
            cache[nprobe] = params
        return params

    def _selected_codes(self, categories: str | Sequence[str] | None) -> list[int]:
        if categories is None:
            return list(self._parts)
        wanted = [categories] if isinstance(categories, str) else list(categories)
        return sorted({self._codes[c] for c in wanted if c in self._codes})

    def to_device(self, use_gpu: bool | None) -> None:
        """Move every partition to the GPU(s) (see ``gpu.to_device``); ``save`` still writes CPU copies.
        FAISS's GPU indexes do not all support removal: mutate the CPU index and swap, or rebuild."""
        self._parts = {c: Partition.of(p.factory, to_device(p.index, use_gpu)) for c, p in self._parts.items()}

    # -- persistence ------------------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Write the index into ``directory`` (which must not exist) atomically; see ``manifest``."""
        order = sorted(self._parts)
        self._files = write_index_dir(
            Path(directory),
            partitions=[(self._parts[c].factory, self._parts[c].index) for c in order],
            arrays={"ids": self._table.ids, "codes": self._table.codes, "part_codes": np.array(order, np.int32)},
            names=self._names,
            manifest=self.manifest,
        )

    @classmethod
    def load(cls, directory: Path) -> CatalogueIndex:
        """Read and verify an index written by ``save`` (checksums, manifest, consistency)."""
        files = read_index_dir(Path(directory))
        info, arrays = files.manifest, files.arrays
        if info.metric not in METRICS:
            raise IndexIntegrityError(f"{directory}: unknown metric {info.metric!r}")
        parts = {int(c): Partition.of(*p) for c, p in zip(arrays["part_codes"], files.partitions, strict=True)}
        index = cls(dim=info.dim, metric=info.metric, embedder_version=info.embedder_version,  # type: ignore[arg-type]
                    factory=None if info.factory == "auto" else info.factory, names=files.names, parts=parts,
                    ids=arrays["ids"], codes=arrays["codes"])  # fmt: skip
        index._files = info
        return index
