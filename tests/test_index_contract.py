"""Contract of the catalogue index: factory choice, validation, mutation by id, filters, recall, shards, GPU."""

from __future__ import annotations

import itertools

import faiss
import numpy as np
import numpy.typing as npt
import pytest

from recengine.devices import faiss_gpu_count
from recengine.errors import ConfigurationError, InvalidInputError
from recengine.index import CatalogueIndex, ShardedIndex, choose_factory, to_cpu, to_device
from recengine.index.factory import MIN_POINTS_PER_CENTROID, build_partition

D = 16


def clustered(n: int, *, d: int = D, clusters: int = 20, seed: int = 0) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)] + 0.35 * rng.standard_normal((n, d)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def near(x: npt.NDArray[np.float32], seed: int = 1) -> npt.NDArray[np.float32]:
    """Queries near catalogue vectors, normalised."""
    q = x + 0.05 * np.random.default_rng(seed).standard_normal(x.shape).astype(np.float32)
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def catalogue(sizes: dict[str, int], seed: int = 0) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], list[str]]:
    n = sum(sizes.values())
    ids = np.random.default_rng(seed).permutation(np.arange(100, 100 + 3 * n, 3)).astype(np.int64)
    cats = [name for name, size in sizes.items() for _ in range(size)]
    return ids, clustered(n, seed=seed), cats


SIZES = {"tops": 1200, "shoes": 700, "hats": 5}


@pytest.fixture(scope="module", params=["Flat", "IVF16,Flat"])
def built(request: pytest.FixtureRequest) -> tuple[CatalogueIndex, npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    ids, x, cats = catalogue(SIZES)
    return CatalogueIndex.build(ids, x, cats, factory=request.param, embedder_version="t"), ids, x


# -- factory ------------------------------------------------------------------------------------------------------
def test_choose_factory_by_size_and_budget() -> None:
    assert choose_factory(50_000, 64) == "Flat"
    assert choose_factory(200_000, 64) == "IVF2048,Flat"
    assert choose_factory(1_000_000, 64) == "IVF4096,Flat"
    assert choose_factory(10_000_000, 64) == "IVF16384,PQ16"
    assert choose_factory(50_000, 64, memory_budget_bytes=1_000_000) == "IVF1024,PQ8"
    for n in (100_000, 150_000, 3_000_000, 20_000_000):
        nlist = int(choose_factory(n, 64).split(",")[0][3:])
        assert nlist & (nlist - 1) == 0 and n / nlist >= MIN_POINTS_PER_CENTROID
    with pytest.raises(ConfigurationError, match="do not fit"):
        choose_factory(1_000_000, 64, memory_budget_bytes=1000)


def test_auto_build_gives_small_categories_exact_partitions() -> None:
    ids, x, cats = catalogue({"a": 300, "b": 20})
    index = CatalogueIndex.build(ids, x, cats, embedder_version="t")
    assert index.partitions() == {"a": ("Flat", 300), "b": ("Flat", 20)}
    ivf = CatalogueIndex.build(ids, x, cats, factory="IVF32,Flat", embedder_version="t")
    assert ivf.partitions() == {"a": ("IVF32,Flat", 300), "b": ("Flat", 20)}  # too small to train 32 lists


# -- validation ---------------------------------------------------------------------------------------------------
def test_invalid_inputs_are_refused_with_clear_errors() -> None:
    ids, x, cats = catalogue({"a": 50})
    index = CatalogueIndex.build(ids, x, cats, embedder_version="t")
    new_ids = np.array([1, 2], np.int64)
    cases = [
        (lambda: index.add(new_ids, x[:2, :8], ["a", "a"]), "dimension 8"),
        (lambda: index.add(new_ids, np.full((2, D), np.nan, np.float32), ["a", "a"]), "NaN"),
        (lambda: index.add(new_ids, x[:3], ["a", "a"]), "3 rows but 2 ids"),
        (lambda: index.add(np.array([7, 7]), x[:2], ["a", "a"]), "duplicate ids in one call: 7"),
        (lambda: index.add(new_ids, 2 * x[:2], ["a", "a"]), "not L2-normalised"),
        (lambda: index.add(new_ids, x[:2], "ab"), "sequence of 2 strings"),
        (lambda: index.add(np.array([-3, 1]), x[:2], ["a", "a"]), ">= 0"),
        (lambda: index.search(x[:1], 0), "k must be a positive integer"),
        (lambda: index.search(x[:1], 5, nprobe=0), "nprobe"),
        (lambda: index.search(x[0], 5), "2-D"),
        (lambda: index.search(x[:1, :4], 5), "dimension 4"),
    ]
    for call, message in cases:
        with pytest.raises(InvalidInputError, match=message):
            call()
    assert len(index) == 50


def test_unknown_category_gives_an_empty_result() -> None:
    ids, x, cats = catalogue({"a": 50})
    result = CatalogueIndex.build(ids, x, cats, embedder_version="t").search(x[:2], 3, categories="nope")
    assert (result.ids == -1).all() and np.isneginf(result.scores).all() and result.ids.shape == (2, 3)


# -- mutation by id -----------------------------------------------------------------------------------------------
def test_add_remove_update_by_id() -> None:
    ids, x, cats = catalogue({"a": 300, "b": 200})
    index = CatalogueIndex.build(ids, x, cats, factory="IVF4,Flat", embedder_version="t")
    gone = ids[:40]
    assert index.remove(np.concatenate([gone, [1, 2]])) == 40  # unknown ids ignored, not counted as removed
    assert len(index) == 460 and int(gone[0]) not in index
    everything = index.search(x[:40], 500, nprobe=1)
    assert not np.isin(everything.ids, gone).any()
    assert ((everything.ids >= 0).sum(axis=1) == 460).all()

    # update: an existing id moves to a new vector (and category); a new id is added
    target, fresh = int(ids[100]), 5
    spot = clustered(1, seed=42)  # a vector no item has
    index.update([target, fresh], np.vstack([spot, x[451:452]]), ["b", "a"])
    hit = index.search(spot, 1, categories="b")
    assert hit.ids[0, 0] == target and hit.scores[0, 0] == pytest.approx(1.0, abs=1e-5)
    assert index.categories_of([target, fresh]) == ["b", "a"] and len(index) == 461

    before = index.search(x[:5], 10)
    with pytest.raises(InvalidInputError, match=f"already in the index.*{target}"):
        index.add([999_999, target], x[:2], ["a", "a"])
    after = index.search(x[:5], 10)
    assert 999_999 not in index and len(index) == 461 and np.array_equal(before.ids, after.ids)

    index.add([777], x[460:461], ["new-category"])
    assert index.search(x[460:461], 3, categories="new-category").ids[0].tolist() == [777, -1, -1]


# -- filters ------------------------------------------------------------------------------------------------------
def test_category_filter_returns_exactly_k_from_that_category(built: tuple) -> None:  # type: ignore[type-arg]
    index, _ids, x = built
    queries = near(x[:30])
    for category in ("tops", "shoes"):
        result = index.search(queries, 10, categories=category, nprobe=1)
        assert ((result.ids >= 0).sum(axis=1) == 10).all()
        assert all(c == category for c in index.categories_of(result.ids.ravel()))
        assert (np.diff(result.scores, axis=1) <= 1e-6).all()  # best first
    few = index.search(queries, 10, categories="hats")
    assert ((few.ids >= 0).sum(axis=1) == 5).all() and (few.ids[:, 5:] == -1).all()
    assert np.isneginf(few.scores[:, 5:]).all()
    both = index.search(queries, 10, categories=["hats", "shoes"])
    assert set(index.categories_of(both.ids.ravel())) <= {"hats", "shoes"}


@pytest.mark.parametrize("nprobe", [None, 1, 4])
def test_fast_path_equals_the_general_path(built: tuple, nprobe: int | None) -> None:  # type: ignore[type-arg]
    index, _ids, x = built
    queries = near(x[:40], seed=3)
    fast = index.search(queries, 7, categories="tops", nprobe=nprobe)  # one category, no exclusions
    general = index.search(queries.astype(np.float64), 7, categories=["tops"], nprobe=nprobe)
    np.testing.assert_array_equal(fast.ids, general.ids)
    np.testing.assert_allclose(fast.scores, general.scores, rtol=1e-6)
    with pytest.raises(InvalidInputError):  # bad input still gets the general path's clear error
        index.search(np.full((1, D), np.nan, np.float32), 3, categories="tops")


def test_exclude_ids_is_honoured(built: tuple) -> None:  # type: ignore[type-arg]
    index, ids, x = built
    queries = near(x[:10])
    first = index.search(queries, 10, categories="tops", nprobe=1)
    excluded = np.unique(first.ids)
    again = index.search(queries, 10, categories="tops", exclude_ids=excluded, nprobe=1)
    assert ((again.ids >= 0).sum(axis=1) == 10).all() and not np.isin(again.ids, excluded).any()
    hats = ids[-5:]
    assert (index.search(queries, 3, categories="hats", exclude_ids=hats).ids == -1).all()


def test_ivf_with_small_nprobe_still_returns_k_when_k_exist() -> None:
    """64 lists over 600 items hold ~9 each: at nprobe=1 raw FAISS returns short rows; the index must not."""
    ids, x, cats = catalogue({"skirts": 600})
    index = CatalogueIndex.build(ids, x, cats, factory="IVF64,Flat", embedder_version="t")
    queries = near(x[:100])
    raw = build_partition("IVF64,Flat", x, ids, metric="ip", train_sample=None)  # the same seeded build
    params = faiss.SearchParametersIVF()
    params.nprobe = 1
    raw_ids = raw.index.search(queries, 20, params=params)[1]
    assert ((raw_ids >= 0).sum(axis=1) < 20).any()  # the situation under test occurs
    result = index.search(queries, 20, categories="skirts", nprobe=1)
    assert ((result.ids >= 0).sum(axis=1) == 20).all()
    # exclusions can empty the probed lists too
    excluded = ids[np.isin(ids, raw_ids[0])]
    result = index.search(queries[:1], 20, nprobe=1, exclude_ids=excluded)
    assert (result.ids >= 0).sum() == 20 and not np.isin(result.ids, excluded).any()


def test_ivf_recall_against_flat_grows_with_nprobe() -> None:
    ids, x, cats = catalogue({"all": 4000})
    queries = near(x[::40], seed=3)
    truth = CatalogueIndex.build(ids, x, cats, factory="Flat", embedder_version="t").search(queries, 10).ids
    ivf = CatalogueIndex.build(ids, x, cats, factory="IVF32,Flat", embedder_version="t")
    recalls = []
    for nprobe in (1, 2, 4, 8, 32):
        found = ivf.search(queries, 10, nprobe=nprobe).ids
        recalls.append(np.mean([np.isin(found[i], truth[i]).mean() for i in range(len(queries))]))
    assert all(b >= a for a, b in itertools.pairwise(recalls)), recalls
    assert recalls[0] < 1.0 and recalls[2] >= 0.9 and recalls[-1] == 1.0, recalls  # approximate, then good


def test_hnsw_partitions_search_and_refuse_removal() -> None:
    ids, x, cats = catalogue({"a": 400})
    index = CatalogueIndex.build(ids, x, cats, factory="HNSW16", embedder_version="t")
    exclude = index.search(x[:1], 30).ids[0]
    result = index.search(x[:1], 10, exclude_ids=exclude, ef_search=16)
    assert (result.ids >= 0).sum() == 10 and not np.isin(result.ids, exclude).any()
    with pytest.raises(ConfigurationError, match="cannot remove"):
        index.remove(ids[:1])
    assert len(index) == 400


# -- shards -------------------------------------------------------------------------------------------------------
def test_sharded_search_equals_single_index_search() -> None:
    ids, x, cats = catalogue({"tops": 500, "shoes": 300, "hats": 7})
    single = CatalogueIndex.build(ids, x, cats, embedder_version="t")
    sharded = ShardedIndex.build(3, ids, x, cats, embedder_version="t")
    try:
        queries = near(x[:12])
        for options in ({}, {"categories": "shoes"}, {"categories": ["hats", "tops"], "exclude_ids": ids[:50]}):
            a, b = single.search(queries, 10, **options), sharded.search(queries, 10, **options)
            assert np.array_equal(a.ids, b.ids) and np.allclose(a.scores, b.scores)
        sharded.update(ids[:5], x[5:10], ["hats"] * 5)
        single.update(ids[:5], x[5:10], ["hats"] * 5)
        assert sharded.remove(ids[10:20]) == single.remove(ids[10:20]) == 10
        assert np.array_equal(sharded.ids(), single.ids()) and len(sharded) == len(single)
        assert np.array_equal(sharded.search(queries, 10).ids, single.search(queries, 10).ids)
        with pytest.raises(InvalidInputError, match="already in the index"):
            sharded.add(ids[30:32], x[:2], ["a", "a"])
    finally:
        sharded.close()


# -- GPU ----------------------------------------------------------------------------------------------------------
@pytest.mark.skipif(faiss_gpu_count() > 0, reason="FAISS has a GPU here")
def test_gpu_is_a_no_op_without_gpus_and_an_error_when_demanded() -> None:
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(D))
    assert to_device(index, None) is index and to_device(index, False) is index and to_cpu(index) is index
    with pytest.raises(ConfigurationError, match="no GPU"):
        to_device(index, True)
    ids, x, cats = catalogue({"a": 30})
    catalogue_index = CatalogueIndex.build(ids, x, cats, embedder_version="t")
    catalogue_index.to_device(None)
    assert catalogue_index.search(x[:1], 1).ids[0, 0] == ids[0]


@pytest.mark.skipif(faiss_gpu_count() == 0, reason="FAISS has no GPU")
def test_gpu_search_matches_cpu() -> None:  # pragma: no cover - needs faiss-gpu
    ids, x, cats = catalogue({"a": 500, "b": 100})
    cpu = CatalogueIndex.build(ids, x, cats, embedder_version="t")
    gpu = CatalogueIndex.build(ids, x, cats, embedder_version="t")
    gpu.to_device(True)
    queries = near(x[:20])
    a = cpu.search(queries, 10, exclude_ids=ids[:30])
    b = gpu.search(queries, 10, exclude_ids=ids[:30])
    assert np.array_equal(a.ids, b.ids) and np.allclose(a.scores, b.scores, atol=1e-4)
