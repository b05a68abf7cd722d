"""Catalogue images as one uint8 array, decoded once from PostgreSQL and cached on disk for training.

Preparation (documented because every model depends on it): turn the photo upright by its EXIF orientation,
decode to RGB with transparent parts on white, pad to a square with white (the catalogue's background) keeping
the aspect ratio, resize to ``size`` x ``size`` (bilinear). Networks take ``to_tensor``'s output: (B, 3, H, W)
float32 in [-1, 1].
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image as PILImage
from PIL import ImageOps
from sqlalchemy import select
from sqlalchemy.orm import Session

from recengine.cache_files import load_array, prune_family, save_array
from recengine.errors import NotFoundError
from recengine.store.bulk import any_of
from recengine.store.models import Image, Item

_log = logging.getLogger(__name__)
Progress = Callable[[int, int | None], None]


#: Part of every cache key of prepared pixels: a change to :func:`prepare_image` must not serve old pixels.
PREPARE_VERSION = 2


def upright_rgb(img: PILImage.Image) -> PILImage.Image:
    """``img`` turned upright by its EXIF orientation, in RGB, transparent parts on white."""
    # A phone keeps a portrait photo sideways plus an orientation tag: without the turn, a shopper's photo is
    # embedded lying down. convert("RGB") keeps the colour stored under transparent pixels, mostly black, so a
    # PNG cut-out met the network on black where every catalogue photo is on white.
    upright = ImageOps.exif_transpose(img)
    if upright.mode.startswith("I;16") or (upright.mode == "I" and float(np.asarray(upright).max()) > 255):
        # 16-bit greyscale (scanners, some exports): convert("RGB") clips every value above 255 to white.
        upright = upright.convert("I").point(lambda value: value / 256).convert("L")
    if not upright.has_transparency_data:
        return upright.convert("RGB")
    rgba = upright.convert("RGBA")
    white = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
    return PILImage.alpha_composite(white, rgba).convert("RGB")


def prepare_image(data: bytes, size: int) -> NDArray[np.uint8]:
    """(size, size, 3) uint8: upright, transparency on white, padded to a white square, then resized."""
    with PILImage.open(io.BytesIO(data)) as img:
        rgb = upright_rgb(img)
    side = max(rgb.size)
    canvas = PILImage.new("RGB", (side, side), (255, 255, 255))
    canvas.paste(rgb, ((side - rgb.width) // 2, (side - rgb.height) // 2))
    return np.asarray(canvas.resize((size, size), PILImage.Resampling.BILINEAR), dtype=np.uint8)


def to_tensor(images: NDArray[np.uint8] | torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float32 in [-1, 1]."""
    if isinstance(images, np.ndarray) and not images.flags.writeable:
        images = np.array(images)  # a slice of the read-only memory-mapped cache: torch wants writable memory
    t = torch.as_tensor(images)
    return t.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def _key(shas: list[str], size: int) -> str:
    digest = hashlib.sha256(f"{size}:{PREPARE_VERSION}:".encode() + "\n".join(shas).encode()).hexdigest()
    return digest[:20]


def photo_shas(session: Session, item_ids: NDArray[np.int64]) -> list[str]:
    """The sha256 of each item's photo, in the order of ``item_ids``; :class:`NotFoundError` if one has none."""
    rows = dict(session.execute(select(Item.id, Item.image_sha256).where(any_of(Item.id, item_ids.tolist()))).all())
    missing = [int(i) for i in item_ids if rows.get(int(i)) is None]
    if missing:
        raise NotFoundError(f"items without an image: {missing[:5]}")
    return [str(rows[int(i)]) for i in item_ids]


def load_image_cache(*, session: Session, item_ids: NDArray[np.int64], size: int, cache_dir: Path,
                     progress: Progress | None = None) -> NDArray[np.uint8]:  # fmt: skip
    """(N, size, size, 3) uint8 images of ``item_ids`` in that order, from the cache or built and saved.

    The cache file is named by a hash of the image contents (their sha256s) and the size, so a changed photo
    or size never serves stale pixels.
    """
    shas = photo_shas(session, item_ids)
    path = cache_dir / f"{images_family(size)}{_key(shas, size)}.npy"
    cached = load_array(path, (len(shas), size, size, 3), mmap=True)
    if cached is not None:
        return cached
    out = np.empty((len(shas), size, size, 3), dtype=np.uint8)
    position = {sha: n for n, sha in enumerate(shas)}  # identical photos: decoded once, copied below
    done = 0
    for start in range(0, len(shas), 2000):
        chunk = list(dict.fromkeys(shas[start : start + 2000]))
        for image_sha, data in session.execute(select(Image.sha256, Image.data).where(Image.sha256.in_(chunk))):
            out[position[image_sha]] = prepare_image(data, size)
        done = min(start + 2000, len(shas))
        if progress is not None:
            progress(done, len(shas))
    for n, sha in enumerate(shas):
        if position[sha] != n:
            out[n] = out[position[sha]]
    save_array(path, out)
    _log.info("cached %d images at %s", len(out), path)
    prune_family(cache_dir, images_family(size))
    return out


def images_family(size: int) -> str:
    """The file name prefix of pixel caches at ``size``."""
    return f"images-{size}-"


def image_families(cache_dir: Path) -> list[str]:
    """The pixel cache families present in ``cache_dir``, one per image size."""
    sizes = {int(m.group(1)) for path in cache_dir.glob("images-*.npy") if (m := re.match(r"images-(\d+)-", path.name))}
    return [images_family(size) for size in sorted(sizes)]
