"""Importer for Fashion-MNIST IDX files (Xiao et al. 2017; Debian package ``dataset-fashion-mnist``).

Reads ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``; each 28x28 grayscale image becomes an item
with a PNG image and its class as article type (mapped onto Myntra-like master/sub categories). The source
names no gender, so items are recorded as ``Unisex``: outfits for either gender may use them, which is what lets
the main job simulate users and outfits on this fallback catalogue (its classes are in ``category_map.csv``).
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image as PILImage
from sqlalchemy.orm import Session

from recengine.datasets.importers.base import CatalogueWriter
from recengine.datasets.importers.records import ImportReport, ItemRecord, ProgressCallback
from recengine.errors import InvalidInputError

SOURCE = "fashion-mnist"
DEFAULT_PATH = Path("/usr/share/datasets/fashion-mnist")
#: class index -> (article type, master category, sub category)
CLASSES = (
    ("T-shirt/top", "Apparel", "Topwear"),
    ("Trouser", "Apparel", "Bottomwear"),
    ("Pullover", "Apparel", "Topwear"),
    ("Dress", "Apparel", "Dress"),
    ("Coat", "Apparel", "Topwear"),
    ("Sandal", "Footwear", "Sandal"),
    ("Shirt", "Apparel", "Topwear"),
    ("Sneaker", "Footwear", "Shoes"),
    ("Bag", "Accessories", "Bags"),
    ("Ankle boot", "Footwear", "Shoes"),
)
_IDX_UBYTE = 0x08


def _open(path: Path) -> bytes:
    for candidate in (path, path.with_name(path.name + ".gz")):
        if candidate.exists():
            try:
                raw = candidate.read_bytes()
                return gzip.decompress(raw) if candidate.suffix == ".gz" else raw
            except (OSError, EOFError) as exc:
                raise InvalidInputError(f"{candidate}: cannot read ({exc})") from exc
    raise InvalidInputError(f"{path}[.gz]: file not found")


def read_idx(path: Path) -> NDArray[np.uint8]:
    """Parse an IDX file of unsigned bytes; raise :class:`InvalidInputError` on a bad header or size."""
    data = _open(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != _IDX_UBYTE:
        raise InvalidInputError(f"{path}: not an IDX file of unsigned bytes (magic {data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise InvalidInputError(f"{path}: truncated header")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise InvalidInputError(f"{path}: {len(data)} bytes, the header {shape} needs {expected} (truncated?)")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _png(pixels: NDArray[np.uint8]) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(pixels, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def import_fashion_mnist(
    path: Path = DEFAULT_PATH,
    *,
    session: Session,
    splits: tuple[str, ...] = ("train", "t10k"),
    progress: ProgressCallback | None = None,
    limit: int | None = None,
) -> ImportReport:
    """Import the IDX files under ``path``; ``limit`` caps the items taken from each split."""
    loaded = []
    for split in splits:
        images = read_idx(path / f"{split}-images-idx3-ubyte")
        labels = read_idx(path / f"{split}-labels-idx1-ubyte")
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise InvalidInputError(f"{path}: {split} images {images.shape} and labels {labels.shape} disagree")
        if labels.max(initial=0) >= len(CLASSES):
            raise InvalidInputError(f"{path}: {split} labels hold class {labels.max()}, expected 0-9")
        n = len(labels) if limit is None else min(limit, len(labels))
        loaded.append((split, images[:n], labels[:n]))
    total = sum(len(labels) for _, _, labels in loaded)
    report = ImportReport(source=SOURCE)
    done = 0
    with CatalogueWriter(session=session, report=report) as writer:
        for split, images, labels in loaded:
            for i, (pixels, label) in enumerate(zip(images, labels, strict=True)):
                article, master, sub = CLASSES[int(label)]
                writer.add(
                    ItemRecord(
                        external_id=f"fashion-mnist:{split}:{i:05d}", source=SOURCE, ref=f"{split}[{i}]",
                        name=f"Fashion-MNIST {split} #{i} ({article})", article_type=article, gender="Unisex",
                        master_category=master, sub_category=sub, image_source=f"{split}-images-idx3-ubyte[{i}]",
                        load_image=lambda p=pixels: _png(p),  # type: ignore[misc]
                    )
                )  # fmt: skip
                done += 1
                if progress is not None and done % 1000 == 0:
                    progress(done, total)
    if progress is not None:
        progress(total, total)
    return report
