"""Saving and loading: identical results after a round trip, corruption detected, crash-safe version switching."""

from __future__ import annotations

import json
import os
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt
import pytest

from recengine.errors import ConfigurationError, NotFoundError
from recengine.index import CatalogueIndex, IndexIntegrityError, IndexStore
from recengine.index import manifest as manifest_module


def make_index(n: int = 900, seed: int = 0, factory: str | None = "IVF8,Flat") -> CatalogueIndex:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    cats = ["tops" if i % 3 else "shoes" for i in range(n)]
    cats[:4] = ["hats"] * 4
    ids = np.arange(n, dtype=np.int64) * 11 + 7 + seed * 100_000
    return CatalogueIndex.build(ids, x, cats, factory=factory, embedder_version=f"emb-{seed}")


def queries(n: int = 25) -> npt.NDArray[np.float32]:
    q = np.random.default_rng(9).standard_normal((n, 16)).astype(np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def same_results(a: CatalogueIndex, b: CatalogueIndex) -> bool:
    q = queries()
    for options in ({}, {"categories": "shoes", "nprobe": 2}, {"categories": ["hats", "tops"], "exclude_ids": [18]}):
        ra, rb = a.search(q, 10, **options), b.search(q, 10, **options)  # type: ignore[arg-type]
        if not (np.array_equal(ra.ids, rb.ids) and np.array_equal(ra.scores, rb.scores)):
            return False
    return True


def loaded(store: IndexStore) -> CatalogueIndex:
    index = store.load_current()
    assert index is not None
    return index


def test_round_trip_gives_identical_results_and_a_complete_manifest(tmp_path: Path) -> None:
    index = make_index()
    index.remove([7, 18])
    index.add([5], queries(1), ["socks"])
    index.save(tmp_path / "idx")
    loaded = CatalogueIndex.load(tmp_path / "idx")
    assert same_results(index, loaded)
    assert loaded.partitions() == index.partitions() and np.array_equal(loaded.ids(), index.ids())
    assert (loaded.dim, loaded.metric, loaded.embedder_version, loaded.factory) == (16, "ip", "emb-0", "IVF8,Flat")
    info = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert info["item_count"] == len(index) == 899 and info["faiss_version"] == faiss.__version__
    assert {"format_version", "index_sha256", "meta_sha256", "created_at", "dim", "metric"} <= set(info)
    assert loaded.manifest == index.manifest and index.manifest.sha256 == info["index_sha256"]
    assert index.manifest.factory == "IVF8,Flat" and index.manifest.embedder_version == "emb-0"
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == ["index.faiss", "manifest.json", "meta.npz"]
    loaded.add([6], queries(1), ["tops"])  # a loaded index stays mutable; its files no longer describe it
    assert loaded.manifest.sha256 is None and loaded.manifest.item_count == 900
    assert make_index(factory=None).manifest.factory == "auto"
    with pytest.raises(ConfigurationError, match="already exists"):
        index.save(tmp_path / "idx")


@pytest.mark.parametrize("name", ["index.faiss", "meta.npz"])
def test_a_flipped_byte_is_a_clear_error(tmp_path: Path, name: str) -> None:
    make_index(factory=None).save(tmp_path / "idx")
    path = tmp_path / "idx" / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IndexIntegrityError, match=f"{name} .*sha256"):
        CatalogueIndex.load(tmp_path / "idx")


def test_bad_manifest_and_missing_directory_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        CatalogueIndex.load(tmp_path / "nothing")
    make_index().save(tmp_path / "idx")
    manifest = tmp_path / "idx" / "manifest.json"
    info = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**info, "format_version": 99}))
    with pytest.raises(IndexIntegrityError, match="format 99"):
        CatalogueIndex.load(tmp_path / "idx")
    manifest.write_text(json.dumps({**info, "item_count": 5}))
    with pytest.raises(IndexIntegrityError, match="item counts"):
        CatalogueIndex.load(tmp_path / "idx")
    manifest.write_text("{not json")
    with pytest.raises(IndexIntegrityError, match="not valid JSON"):
        CatalogueIndex.load(tmp_path / "idx")


def test_store_versions_current_and_prune(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "store")
    assert store.load_current() is None  # a new shop: nothing saved yet
    assert store.current_version() is None and store.list_versions() == []
    first = make_index(seed=0)
    assert store.save_version(first) == ("v000001", tmp_path / "store" / "v000001")
    for seed in (1, 2, 3):
        store.save_version(make_index(seed=seed))
    assert store.current_version() == "v000004"
    current = store.load_current()
    assert current is not None and current.embedder_version == "emb-3"
    assert same_results(store.load_version("v000001"), first)
    assert store.prune(keep=2) == ["v000001", "v000002"]
    assert store.list_versions() == ["v000003", "v000004"]


def test_crash_before_current_switch_leaves_previous_version_loadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = IndexStore(tmp_path)
    good = make_index(seed=0)
    store.save_version(good)

    # crash after the new version directory is in place but before CURRENT is replaced
    def crash(src: object, dst: object) -> None:
        raise OSError("simulated power loss")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power loss"):
        store.save_version(make_index(seed=1))
    monkeypatch.undo()
    assert store.current_version() == "v000001" and same_results(loaded(store), good)
    assert store.list_versions() == ["v000001", "v000002"]  # complete but never made current

    # failure in the middle of writing the files: the temp directory is removed, nothing else changes
    def crash_meta(path: Path, data: bytes) -> str:
        raise OSError("simulated crash while writing")

    monkeypatch.setattr(manifest_module, "_write_file", crash_meta)
    with pytest.raises(OSError, match="while writing"):
        store.save_version(make_index(seed=2))
    monkeypatch.undo()
    assert store.current_version() == "v000001" and same_results(loaded(store), good)
    assert store.list_versions() == ["v000001", "v000002"]

    (tmp_path / ".v000009.tmp-dead").mkdir()  # as a killed process would leave it (no cleanup ran)
    (tmp_path / ".CURRENT.tmp-dead").write_text("v000009\n")
    assert store.prune(keep=1) == []  # v000002 is newest, v000001 is current: both kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT", "v000001", "v000002"]
    name, _ = store.save_version(make_index(seed=3))
    assert name == "v000003" and loaded(store).embedder_version == "emb-3"
