"""The pixel cache on real photos: one file per set of photos and size, the last few kept per size."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from recengine.cache_files import KEEP, save_array
from recengine.cli import app
from recengine.datasets.image_cache import image_families, load_image_cache
from recengine.datasets.importers.fashion_mnist import import_fashion_mnist
from recengine.store.models import Item
from tests.conftest import FASHION_MNIST, require


def _cached(directory: Path, size: int) -> list[str]:
    return sorted(p.name for p in directory.glob(f"images-{size}-*.npy"))


def test_pixel_caches_of_one_size_are_kept_to_the_last_few_used(session: Session, tmp_path: Path) -> None:
    """Each training set (and before 2026-12-07 each newcomer fit's dataset) wrote a file nothing deleted."""
    import_fashion_mnist(require(FASHION_MNIST), session=session, limit=3)
    ids = np.array(session.scalars(select(Item.id).order_by(Item.id)).all(), dtype=np.int64)
    sets = [ids[: n + 2] for n in range(KEEP + 2)]
    other_size = load_image_cache(session=session, item_ids=ids, size=12, cache_dir=tmp_path)

    first = load_image_cache(session=session, item_ids=sets[0], size=8, cache_dir=tmp_path)
    (first_file,) = _cached(tmp_path, 8)
    for subset in sets[1:KEEP]:
        load_image_cache(session=session, item_ids=subset, size=8, cache_dir=tmp_path)
    again = load_image_cache(session=session, item_ids=sets[0], size=8, cache_dir=tmp_path)  # read: now the newest
    assert np.array_equal(again, first) and len(_cached(tmp_path, 8)) == KEEP
    for subset in sets[KEEP:]:
        last = load_image_cache(session=session, item_ids=subset, size=8, cache_dir=tmp_path)

    kept = _cached(tmp_path, 8)
    assert len(kept) == KEEP and first_file in kept
    assert last.shape == (len(sets[-1]), 8, 8, 3)
    assert len(_cached(tmp_path, 12)) == 1 and other_size.shape == (len(ids), 12, 12, 3)
    assert image_families(tmp_path) == ["images-8-", "images-12-"]


def test_cache_prune_command_frees_the_files_no_process_reads(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    for n in range(4):
        save_array(cache / f"images-64-{n:020x}.npy", np.zeros((n + 1, 2), np.uint8))
        os.utime(cache / f"images-64-{n:020x}.npy", (1000.0 + n, 1000.0 + n))
    save_array(cache / "embeddings-0123-4567.npy", np.zeros(3, np.float32))  # an earlier version's encoder cache
    save_array(cache / "designer-latents-aa-bb.npy", np.zeros(3, np.float32))
    env = {"RECENGINE_DATA_DIR": str(tmp_path)}

    result = CliRunner().invoke(app, ["cache", "prune", "--keep", "2"], env=env)

    assert result.exit_code == 0, result.output
    assert "deleted 3 cache files" in result.output
    assert sorted(p.name for p in cache.iterdir()) == ["designer-latents-aa-bb.npy", f"images-64-{2:020x}.npy",
                                                       f"images-64-{3:020x}.npy"]  # fmt: skip
    assert CliRunner().invoke(app, ["cache", "prune"], env=env).output.startswith("deleted 0 cache files")
    bad = CliRunner().invoke(app, ["cache", "prune", "--keep", "0"], env=env)
    assert bad.exit_code == 2 and "--keep" in bad.output


@pytest.mark.parametrize("name", ["images-64-abc.npy", "images-x-abc.npy"])
def test_image_families_reads_sizes_from_file_names(tmp_path: Path, name: str) -> None:
    save_array(tmp_path / name, np.zeros(1, np.uint8))
    assert image_families(tmp_path) == (["images-64-"] if "64" in name else [])
