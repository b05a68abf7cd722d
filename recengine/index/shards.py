"""A catalogue split into N shards by item id, searched by fan-out and merged top-k.

Here all shards live in one process and are searched from a thread pool (FAISS releases the GIL, so shards
search in parallel). The same shape scales out across machines:

  * shard-per-worker: worker ``s`` owns the items with ``id % N == s``, builds and saves its shard with its
    own ``IndexStore`` and serves it behind an ``IndexHandle``; memory and build time per worker fall by N;
  * fan-out: a router sends each request (queries, k, filters) to every shard worker in parallel; the filter
    goes along, so each worker returns its own exact-or-approximate top-k, never a post-filtered list;
  * merge: the router merges the N sorted (scores, ids) lists with ``faiss.merge_knn_results``; latency is
    the slowest shard's, so replicas of each shard (any of which may answer) cut tail latency and add
    throughput, while more shards add capacity;
  * mutations are routed by ``id % N`` to one shard; a rebuild happens per shard, swapped independently.

``id % N`` is stable for a fixed N; changing N means rebuilding every shard (consistent hashing would move
only 1/N of the items, but a rebuild from the catalogue is cheap enough at the sizes a shard holds).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

from recengine.errors import InvalidInputError
from recengine.index.catalogue_index import CatalogueIndex, SearchResult
from recengine.index.filters import check_categories, check_ids, check_vectors, merge_top_k


class ShardedIndex:
    """N ``CatalogueIndex`` shards behind the same search and mutation API as one of them."""

    def __init__(self, shards: Sequence[CatalogueIndex]) -> None:
        if not shards:
            raise InvalidInputError("a sharded index needs at least one shard")
        if len({(s.dim, s.metric) for s in shards}) != 1:
            raise InvalidInputError("shards must share dimension and metric")
        self.shards = list(shards)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @classmethod
    def build(cls, n_shards: int, ids: npt.ArrayLike, vectors: npt.ArrayLike, categories: Sequence[str],
              **build_options: Any) -> ShardedIndex:  # fmt: skip
        """Route items by ``id % n_shards`` and build every shard with ``CatalogueIndex.build`` options."""
        if n_shards < 1:
            raise InvalidInputError(f"n_shards must be >= 1, got {n_shards}")
        id_array = check_ids(ids)
        x, cats = np.asarray(vectors), check_categories(categories, id_array.size)
        shards = []
        for s in range(n_shards):
            rows = np.flatnonzero(id_array % n_shards == s)
            shards.append(CatalogueIndex.build(id_array[rows], x[rows], [cats[r] for r in rows], **build_options))
        return cls(shards)

    @property
    def dim(self) -> int:
        return self.shards[0].dim

    def _routes(self, ids: npt.NDArray[np.int64]) -> Iterator[tuple[CatalogueIndex, npt.NDArray[np.intp]]]:
        owner = ids % len(self.shards)
        for s, shard in enumerate(self.shards):
            rows = np.flatnonzero(owner == s)
            if rows.size:
                yield shard, rows

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(len(self.shards), thread_name_prefix="index-shard")
            return self._pool

    def close(self) -> None:
        """Stop the search threads (a later search starts new ones)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def __len__(self) -> int:
        return sum(len(s) for s in self.shards)

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, int | np.integer) and item_id in self.shards[int(item_id) % len(self.shards)]

    def ids(self) -> npt.NDArray[np.int64]:
        return np.sort(np.concatenate([s.ids() for s in self.shards]))

    def search(self, queries: npt.ArrayLike, k: int, *, categories: str | Sequence[str] | None = None,
               exclude_ids: Sequence[int] | npt.ArrayLike | None = None, nprobe: int | None = None,
               ef_search: int | None = None) -> SearchResult:  # fmt: skip
        """Every shard's top-k (in parallel), merged; filters and parameters go to each shard."""
        q = check_vectors(queries, None, self.dim, unit_norm=False, name="queries")

        def one(shard: CatalogueIndex) -> SearchResult:
            return shard.search(q, k, categories=categories, exclude_ids=exclude_ids, nprobe=nprobe,
                                ef_search=ef_search)  # fmt: skip

        if len(self.shards) == 1:
            return one(self.shards[0])
        futures = [self._executor().submit(one, s) for s in self.shards]
        parts = [(r.scores, r.ids) for r in (f.result() for f in futures)]
        scores, ids = merge_top_k(parts, q.shape[0], k)
        return SearchResult(ids=ids, scores=scores)

    def _checked(self, ids: npt.ArrayLike, vectors: npt.ArrayLike, categories: Sequence[str]
                 ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], list[str]]:  # fmt: skip
        """Validate the whole call before any shard changes, so a bad row cannot leave a partial update."""
        first = self.shards[0]
        id_array = check_ids(ids)
        x = check_vectors(vectors, id_array.size, first.dim, unit_norm=first.metric == "ip", name="vectors")
        return id_array, x, check_categories(categories, id_array.size)

    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike, categories: Sequence[str]) -> None:
        id_array, x, cats = self._checked(ids, vectors, categories)
        found = [rows[shard.contains(id_array[rows])] for shard, rows in self._routes(id_array)]
        present = np.concatenate([np.zeros(0, np.intp), *found])
        if present.size:
            raise InvalidInputError(f"ids already in the index (use update): {sorted(id_array[present])[:10]}")
        for shard, rows in self._routes(id_array):
            shard.add(id_array[rows], x[rows], [cats[r] for r in rows])

    def remove(self, ids: npt.ArrayLike) -> int:
        id_array = check_ids(ids, unique=False)
        return sum(shard.remove(id_array[rows]) for shard, rows in self._routes(id_array))

    def update(self, ids: npt.ArrayLike, vectors: npt.ArrayLike, categories: Sequence[str]) -> None:
        id_array, x, cats = self._checked(ids, vectors, categories)
        for shard, rows in self._routes(id_array):
            shard.update(id_array[rows], x[rows], [cats[r] for r in rows])
