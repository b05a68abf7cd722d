"""Category filter inside FAISS: an IDSelector in the search call versus one sub-index per category (Flat).

Data: ~40k clustered, L2-normalised 64-d vectors in 40 categories whose sizes fall geometrically from 5,000 to
50 items (a shop's long tail). Every method is exact, so only latency is compared; each query asks k=10 items
of one category, cycling over all categories so small and large ones weigh the same. FAISS runs on one thread
(the index is served by several request threads, each single-threaded). Latencies are medians per query.

    .venv/bin/python -m benchmarks.filter_choice [--queries 400] [--batch 32]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from recengine.index import CatalogueIndex

Vectors = npt.NDArray[np.float32]
K = 10


def make_data(seed: int = 0) -> tuple[npt.NDArray[np.int64], Vectors, npt.NDArray[np.int64]]:
    """Clustered vectors whose category correlates loosely with the cluster, as visual embeddings do."""
    rng = np.random.default_rng(seed)
    sizes = np.geomspace(5000, 50, 40).astype(np.int64)
    cats = np.repeat(np.arange(sizes.size), sizes)
    n, d = cats.size, 64
    centres = rng.standard_normal((256, d)).astype(np.float32)
    cluster = (cats * 6 + rng.integers(0, 12, n)) % 256
    x = centres[cluster] + 0.5 * rng.standard_normal((n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = rng.permutation(n).astype(np.int64) + 1_000  # external ids, not positions
    return ids, x, cats


def idmap_flat(d: int, ids: npt.NDArray[np.int64], x: Vectors) -> faiss.Index:
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(d))
    index.add_with_ids(x, ids)
    return index


def _ignoring_index(fn: Callable[[], Any]) -> Callable[[int], Any]:
    return lambda _i: fn()


def median_ms(fn: Callable[[int], Any], n: int) -> float:
    times = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    ids, x, cats = make_data()
    n, d = x.shape
    n_cats = int(cats.max()) + 1
    rng = np.random.default_rng(1)
    queries = x[rng.integers(0, n, args.queries)] + 0.1 * rng.standard_normal((args.queries, d)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    members = [ids[cats == c] for c in range(n_cats)]
    sizes = np.array([m.size for m in members])

    full = idmap_flat(d, ids, x)
    subs = [idmap_flat(d, ids[cats == c], x[cats == c]) for c in range(n_cats)]
    masks = np.zeros((n_cats, int(ids.max()) + 1), dtype=bool)
    for c in range(n_cats):
        masks[c, members[c]] = True
    bitmaps = [np.packbits(m, bitorder="little") for m in masks]
    cat_names = [f"c{c}" for c in range(n_cats)]
    wrapped = CatalogueIndex.build(ids, x, [cat_names[c] for c in cats], factory="Flat", embedder_version="bench")

    def q(i: int) -> Vectors:
        row: Vectors = queries[i % args.queries : i % args.queries + 1]
        return row

    def selector_batch(i: int, c: int) -> tuple[Vectors, npt.NDArray[np.int64]]:
        params = faiss.SearchParameters()
        params.sel = faiss.IDSelectorBatch(members[c])
        return full.search(q(i), K, params=params)

    def selector_bitmap(i: int, c: int) -> tuple[Vectors, npt.NDArray[np.int64]]:
        params = faiss.SearchParameters()
        params.sel = faiss.IDSelectorBitmap(masks.shape[1], faiss.swig_ptr(bitmaps[c]))
        return full.search(q(i), K, params=params)

    def subindex(i: int, c: int) -> tuple[Vectors, npt.NDArray[np.int64]]:
        return subs[c].search(q(i), K)

    def catalogue(i: int, c: int) -> tuple[Vectors, npt.NDArray[np.int64]]:
        result = wrapped.search(q(i), K, categories=cat_names[c])
        return result.scores, result.ids

    methods = {
        "selector_batch": selector_batch,
        "selector_bitmap": selector_bitmap,
        "subindex": subindex,
        "CatalogueIndex": catalogue,
    }
    for c in range(n_cats):  # every method is exact: same ids
        for fn in methods.values():
            assert np.array_equal(fn(c, c)[1], subindex(c, c)[1])

    groups = {
        "all": list(range(n_cats)),
        "small": [c for c in range(n_cats) if sizes[c] <= 200],
        "large": [c for c in range(n_cats) if sizes[c] >= 2000],
    }
    print(f"n={n} d={d} categories={n_cats} sizes {sizes.min()}..{sizes.max()} k={K}, one query per call\n")
    print("| method | all categories ms | small (<=200 items) ms | large (>=2000 items) ms |")
    print("|---|---|---|---|")
    flat_ms = median_ms(lambda i: full.search(q(i), K), args.queries)
    print(f"| flat, no filter | {flat_ms:.3f} | | |")
    fanout_ms = median_ms(lambda i: wrapped.search(q(i), K), args.queries)
    print(f"| CatalogueIndex, no filter (fan-out over {n_cats} sub-indexes) | {fanout_ms:.3f} | | |")
    result: dict[str, float] = {}
    for name, fn in methods.items():
        row = {
            group: median_ms(lambda i, f=fn, cs=cats_: f(i, cs[i % len(cs)]), args.queries)  # type: ignore[misc]
            for group, cats_ in groups.items()
        }
        result[name] = row["all"]
        print(f"| {name} | {row['all']:.3f} | {row['small']:.3f} | {row['large']:.3f} |")

    b = args.batch
    batch_q = queries[:b]
    c_big = int(np.argmax(sizes))
    batch_params = faiss.SearchParameters()
    batch_params.sel = faiss.IDSelectorBatch(members[c_big])
    batch_rows = {
        "flat, no filter": lambda: full.search(batch_q, K),
        "selector_batch": lambda: full.search(batch_q, K, params=batch_params),
        "subindex": lambda: subs[c_big].search(batch_q, K),
    }
    print(f"\nbatch of {b} queries, largest category ({sizes[c_big]} items):\n")
    print("| method | ms per batch |")
    print("|---|---|")
    for name, fn0 in batch_rows.items():
        print(f"| {name} | {median_ms(_ignoring_index(fn0), 30):.3f} |")
    print(
        f"RESULT selector_ms={result['selector_batch']:.3f} bitmap_ms={result['selector_bitmap']:.3f} "
        f"subindex_ms={result['subindex']:.3f} catalogue_index_ms={result['CatalogueIndex']:.3f} "
        f"fanout_ms={fanout_ms:.3f} flat_full_ms={flat_ms:.3f}"
    )


if __name__ == "__main__":
    main()
