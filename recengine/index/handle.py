"""The live index of a serving process: concurrent searches, exclusive mutations, build-then-swap.

FAISS releases the GIL while it searches, so concurrent searches on one index run in parallel and must not
queue behind a mutex; but ``add``/``remove_ids`` reallocate storage a concurrent search may be reading. Each
live index therefore gets its own readers-writer lock: any number of searches, or one mutation.

A swap replaces the (index, lock) pair in one reference assignment. A search holds the pair it started with,
so it finishes on the old index; the next search sees the new one; nobody waits for the swap. Rebuilds happen
off to the side (``CatalogueIndex.build`` or ``IndexStore.load_current``), then ``swap``. Mutations applied
to the old index while the new one was being built are not carried over: replay them (e.g. from the
catalogue's change log since the build's snapshot) after the swap.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy.typing as npt

from recengine.index.catalogue_index import SearchResult

logger = logging.getLogger(__name__)


class MutableIndex(Protocol):
    """What a handle serves: ``CatalogueIndex`` and ``ShardedIndex`` both qualify."""

    def search(self, queries: npt.ArrayLike, k: int, *, categories: str | Sequence[str] | None = None,
               exclude_ids: Sequence[int] | npt.ArrayLike | None = None, nprobe: int | None = None,
               ef_search: int | None = None) -> SearchResult: ...  # fmt: skip
    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike, categories: Sequence[str]) -> None: ...
    def remove(self, ids: npt.ArrayLike) -> int: ...
    def update(self, ids: npt.ArrayLike, vectors: npt.ArrayLike, categories: Sequence[str]) -> None: ...
    def __len__(self) -> int: ...


class ReadWriteLock:
    """Many readers or one writer; a waiting writer blocks new readers, so a stream of searches cannot starve
    a mutation."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer and self._writers_waiting == 0)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                self._cond.wait_for(lambda: not self._writer and self._readers == 0)
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


@dataclass(frozen=True)
class _Live:
    index: MutableIndex
    lock: ReadWriteLock = field(default_factory=ReadWriteLock)


class IndexHandle:
    """Holds the live index; safe to share between request threads."""

    def __init__(self, index: MutableIndex) -> None:
        self._live = _Live(index)
        self._mutation = threading.Lock()  # mutations and swaps, one at a time

    @property
    def index(self) -> MutableIndex:
        """The live index now (for inspection; mutate it only through the handle)."""
        return self._live.index

    def search(self, queries: npt.ArrayLike, k: int, *, categories: str | Sequence[str] | None = None,
               exclude_ids: Sequence[int] | npt.ArrayLike | None = None, nprobe: int | None = None,
               ef_search: int | None = None) -> SearchResult:  # fmt: skip
        """``CatalogueIndex.search`` on the index live when the call starts."""
        live = self._live
        with live.lock.read():
            return live.index.search(queries, k, categories=categories, exclude_ids=exclude_ids, nprobe=nprobe,
                                     ef_search=ef_search)  # fmt: skip

    def swap(self, new_index: MutableIndex) -> MutableIndex:
        """Make ``new_index`` live and return the old one (still serving the searches that started on it)."""
        with self._mutation:
            old, self._live = self._live, _Live(new_index)
        logger.info("index swapped: %d items live (was %d)", len(new_index), len(old.index))
        return old.index

    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike, categories: Sequence[str]) -> None:
        with self._mutation, self._live.lock.write():
            self._live.index.add(ids, vectors, categories)

    def remove(self, ids: npt.ArrayLike) -> int:
        with self._mutation, self._live.lock.write():
            return self._live.index.remove(ids)

    def update(self, ids: npt.ArrayLike, vectors: npt.ArrayLike, categories: Sequence[str]) -> None:
        with self._mutation, self._live.lock.write():
            self._live.index.update(ids, vectors, categories)

    def __len__(self) -> int:
        return len(self._live.index)
