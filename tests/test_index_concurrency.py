"""Concurrent searches against swaps and mutations, the readers-writer lock, and per-request parameters."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import faiss
import numpy as np
import numpy.typing as npt
import pytest

from recengine.index import CatalogueIndex, IndexHandle, ReadWriteLock

D = 16
NEW_BASE = 1_000_000  # the replacement index uses ids from here on: each result must lie on one side


@pytest.fixture(autouse=True)
def one_faiss_thread() -> Iterator[None]:
    """Request threads each run single-threaded FAISS, as in serving; avoids oversubscribing 2 cores."""
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(previous)


def unit(n: int, seed: int) -> npt.NDArray[np.float32]:
    x = np.random.default_rng(seed).standard_normal((n, D)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def build(base: int, seed: int, n: int = 1500, factory: str | None = None) -> CatalogueIndex:
    cats = ["tops", "shoes", "bags"] * (n // 3)
    return CatalogueIndex.build(base + np.arange(n), unit(n, seed), cats, factory=factory, embedder_version="t")


def test_searches_during_swaps_and_mutations_see_one_whole_index() -> None:
    handle = IndexHandle(build(0, seed=0))
    stop = threading.Event()
    errors: list[BaseException] = []
    searched = [0]
    q = unit(8, seed=99)

    def searcher(worker: int) -> None:
        rng = np.random.default_rng(worker)
        try:
            while not stop.is_set():
                category = ["tops", "shoes", "bags", None][rng.integers(4)]
                result = handle.search(q, 10, categories=category, exclude_ids=[3, NEW_BASE + 3])
                assert (result.ids >= 0).all(), "fewer than k although k exist"
                for row in result.ids:
                    assert (row < NEW_BASE).all() or (row >= NEW_BASE).all(), f"mixed indexes: {row}"
                searched[0] += 1
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=searcher, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 1.5
        round_ = 0
        while time.monotonic() < deadline and not errors:
            base = NEW_BASE if round_ % 2 == 0 else 0
            handle.swap(build(base, seed=round_ + 1))
            for j in range(5):  # mutations stay inside the live index's own id range
                new_id = base + 500_000 + 10 * round_ + j
                handle.add([new_id], unit(1, seed=j), ["tops"])
                handle.update([base + 10 + j], unit(1, seed=50 + j), ["shoes"])
                assert handle.remove([new_id, base + 20 + j]) == 2
            round_ += 1
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    if errors:
        raise errors[0]
    assert round_ >= 2 and searched[0] > 0


def test_a_search_in_flight_finishes_on_the_index_it_started_with() -> None:
    old, new = build(0, seed=0), build(NEW_BASE, seed=1)
    handle = IndexHandle(old)
    entered, release = threading.Event(), threading.Event()
    original = old.search

    def slow_search(*args: object, **kwargs: object) -> object:
        entered.set()
        release.wait(10)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    old.search = slow_search  # type: ignore[method-assign,assignment]
    results: list[npt.NDArray[np.int64]] = []
    t = threading.Thread(target=lambda: results.append(handle.search(unit(1, 5), 5).ids))
    t.start()
    assert entered.wait(10)
    assert handle.swap(new) is old  # does not wait for the search in flight
    assert (handle.search(unit(1, 5), 5).ids >= NEW_BASE).all()
    release.set()
    t.join(10)
    assert (results[0] < NEW_BASE).all()


def test_readers_share_the_lock_and_a_writer_excludes_them() -> None:
    lock = ReadWriteLock()
    both_inside = threading.Barrier(2, timeout=5)

    def reader() -> None:
        with lock.read():
            both_inside.wait()  # would time out if readers were serialised

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in readers:
        t.start()
    for t in readers:
        t.join(10)
    assert not both_inside.broken

    reader_in = threading.Event()
    with lock.write():
        t = threading.Thread(target=lambda: (lock.read().__enter__(), reader_in.set()))
        t.start()
        assert not reader_in.wait(0.2)  # blocked while the writer holds the lock
    assert reader_in.wait(5)
    t.join(5)


def test_concurrent_requests_with_different_nprobe_do_not_interfere() -> None:
    index = build(0, seed=3, n=3000, factory="IVF16,Flat")
    q = unit(40, seed=7)
    expected = {p: index.search(q, 10, nprobe=p).ids for p in (1, 16)}
    assert not np.array_equal(expected[1], expected[16])  # nprobe matters on this data
    handle = IndexHandle(index)
    mismatches: list[int] = []

    def run(nprobe: int) -> None:
        for _ in range(30):
            if not np.array_equal(handle.search(q, 10, nprobe=nprobe).ids, expected[nprobe]):
                mismatches.append(nprobe)

    threads = [threading.Thread(target=run, args=(p,)) for p in (1, 16, 1, 16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert mismatches == []
