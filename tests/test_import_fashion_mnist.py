from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from recengine.datasets.importers.fashion_mnist import CLASSES, import_fashion_mnist, read_idx
from recengine.errors import InvalidInputError
from recengine.store.images import open_image
from recengine.store.models import Image, Item
from tests.conftest import FASHION_MNIST, require


def test_debian_fashion_mnist_imports_all_70000(session) -> None:
    path = require(FASHION_MNIST)
    labels = read_idx(path / "t10k-labels-idx1-ubyte")
    report = import_fashion_mnist(path, session=session)
    assert report.items.added == 70000 and report.skipped == []
    article = CLASSES[int(labels[7])][0]
    item = session.scalars(select(Item).where(Item.external_id == "fashion-mnist:t10k:00007")).one()
    assert item.article_type == article
    pixels = read_idx(path / "t10k-images-idx3-ubyte")[7]
    data = session.scalar(select(Image.data).where(Image.sha256 == item.image_sha256))
    assert np.array_equal(np.asarray(open_image(data).convert("L")), pixels)
    assert session.scalar(select(func.count()).select_from(Item).where(Item.source == "fashion-mnist")) == 70000


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_small_idx_files_reimport_idempotently(session, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 255, (5, 28, 28)))
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.array([0, 1, 2, 8, 9]))
    first = import_fashion_mnist(tmp_path, session=session, splits=("train",))
    again = import_fashion_mnist(tmp_path, session=session, splits=("train",))
    assert (first.items.added, again.items.added, again.items.unchanged) == (5, 0, 5)
    bags = session.scalar(select(func.count()).select_from(Item).where(Item.article_type == "Bag"))
    assert bags == 1


def test_truncated_and_mismatched_idx_files_are_rejected(tmp_path: Path) -> None:
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((3, 28, 28)))
    raw = gzip.decompress((tmp_path / "train-images-idx3-ubyte.gz").read_bytes())
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw[:-10]))
    with pytest.raises(InvalidInputError, match="truncated"):
        read_idx(tmp_path / "train-images-idx3-ubyte")
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((3, 28, 28)))
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(4))
    with pytest.raises(InvalidInputError, match="disagree"):
        import_fashion_mnist(tmp_path, session=None, splits=("train",))  # type: ignore[arg-type]
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x0d\x01"))
    with pytest.raises(InvalidInputError, match="not an IDX file"):
        read_idx(tmp_path / "train-labels-idx1-ubyte")
