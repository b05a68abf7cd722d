"""Inpainting masks: seeded free-form stroke masks by hole-ratio bucket, garment foreground, user mask checks.

Reference:
    Kınlı, Özcan, Kıraç. "A Benchmark for Inpainting of Clothing Images with Irregular Holes" (2020),
    Sec. 4.1 (masks that always erase part of the clothing; results by mask ratio [0, 0.2), [0.2, 0.4),
    [0.4, 0.6]). The strokes follow the free-form masks of Yu et al., "Free-Form Image Inpainting with Gated
    Convolution" (ICCV 2019): thick polylines with random turns, lengths and brush widths.

Mask convention (everywhere in :mod:`recengine.inpainting`): a mask is an (H, W) array with **1 = valid
(known) pixel, 0 = hole**, the mask a partial convolution takes (:class:`recengine.nets.partial_conv.
PartialConv2d`). Generated masks are uint8. The *hole ratio* is the fraction of 0 pixels.

Mask files use the other, common convention of inpainting tools (OpenCV's ``inpaint``, LaMa, Photoshop-style
brush masks): **white = hole**, black = keep; :func:`load_mask` converts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError
from scipy import ndimage

from recengine.errors import InvalidInputError

__all__ = [
    "B0",
    "B1",
    "B2",
    "FOREGROUND_THRESHOLD",
    "MASK_BUCKETS",
    "MIN_GARMENT_FRACTION",
    "MaskRatioBucket",
    "bucket_of",
    "garment_foreground",
    "hole_ratio",
    "load_mask",
    "random_stroke_mask",
    "random_stroke_masks",
    "validate_mask",
]

MaskArray: TypeAlias = npt.NDArray[np.uint8]
BoolArray: TypeAlias = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class MaskRatioBucket:
    """A half-open range ``[low, high)`` of hole ratios (closed, ``[low, high]``, when ``closed_high``)."""

    name: str
    low: float
    high: float
    closed_high: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.low < self.high <= 1.0:
            raise InvalidInputError(f"bucket {self.name!r} needs 0 <= low < high <= 1, got [{self.low}, {self.high}]")

    def contains(self, ratio: float) -> bool:
        """Whether a hole ratio falls inside the bucket."""
        return self.low <= ratio < self.high or (self.closed_high and ratio == self.high)


# The seed's Table 1 columns. The last bucket is closed so that 0.6 itself belongs somewhere.
B0 = MaskRatioBucket("b0", 0.0, 0.2)
B1 = MaskRatioBucket("b1", 0.2, 0.4)
B2 = MaskRatioBucket("b2", 0.4, 0.6, closed_high=True)
MASK_BUCKETS: tuple[MaskRatioBucket, ...] = (B0, B1, B2)

# Foreground = pixels whose largest channel difference from the background colour exceeds this (0..255 scale).
# JPEG ringing on Myntra's white backgrounds stays below ~15; a white sneaker's shading on white reaches ~25+.
FOREGROUND_THRESHOLD = 24
# Connected foreground blobs smaller than this fraction of the image are JPEG specks, not garment.
_MIN_BLOB_FRACTION = 0.002
# The seed erases "at least a small portion of the clothing": this fraction of the garment pixels must be hole.
MIN_GARMENT_FRACTION = 0.02

# Stroke shape, as fractions of min(H, W) (Yu et al.'s free-form masks, scaled to any image size).
_MAX_VERTICES = 6
_WIDTH_RANGE = (0.03, 0.12)
_LENGTH_RANGE = (0.08, 0.3)
_MAX_TURN = math.pi / 2
# When a stroke would overshoot the bucket it is undone and the next one drawn this much smaller.
_SHRINK = 0.6
_MIN_SCALE = 0.05
_MAX_STROKES = 400
_MAX_RESTARTS = 50
_MIN_SIDE = 8


def hole_ratio(mask: npt.ArrayLike) -> float:
    """Fraction of hole (0) pixels of a mask in the 1 = valid convention."""
    arr = np.asarray(mask)
    return float(np.count_nonzero(arr == 0)) / float(arr.size)


def bucket_of(ratio: float, buckets: tuple[MaskRatioBucket, ...] = MASK_BUCKETS) -> MaskRatioBucket:
    """The bucket holding ``ratio``; InvalidInputError when none does (e.g. a ratio above 0.6)."""
    for bucket in buckets:
        if bucket.contains(ratio):
            return bucket
    raise InvalidInputError(f"hole ratio {ratio:.4f} falls in none of the buckets {[b.name for b in buckets]}")


def _size(size: tuple[int, int]) -> tuple[int, int]:
    height, width = (int(v) for v in size)
    if min(height, width) < _MIN_SIDE:
        raise InvalidInputError(f"mask size must be at least {_MIN_SIDE}x{_MIN_SIDE} (H, W), got {size}")
    return height, width


def _draw_stroke(mask: MaskArray, rng: np.random.Generator, scale: float, start: tuple[int, int] | None) -> None:
    """Paint one free-form stroke of holes (0) into ``mask`` in place; ``start`` is (y, x) or random."""
    height, width = mask.shape
    side = min(height, width)
    y, x = start if start is not None else (int(rng.integers(height)), int(rng.integers(width)))
    thickness = max(1, round(rng.uniform(*_WIDTH_RANGE) * side * scale))
    angle = rng.uniform(0.0, 2.0 * math.pi)
    for _ in range(int(rng.integers(1, _MAX_VERTICES + 1))):
        angle += rng.uniform(-_MAX_TURN, _MAX_TURN)
        length = rng.uniform(*_LENGTH_RANGE) * side * scale
        nx = int(np.clip(round(x + length * math.cos(angle)), 0, width - 1))
        ny = int(np.clip(round(y + length * math.sin(angle)), 0, height - 1))
        cv2.line(mask, (x, y), (nx, ny), 0, thickness=thickness)
        # Round joints, as Yu et al. draw them: no notches where two segments meet at a sharp angle.
        cv2.circle(mask, (nx, ny), thickness // 2, 0, thickness=-1)
        x, y = nx, ny


def _garment_start(rng: np.random.Generator, garment_pixels: npt.NDArray[np.intp]) -> tuple[int, int]:
    index = int(rng.integers(garment_pixels.shape[0]))
    return int(garment_pixels[index, 0]), int(garment_pixels[index, 1])


def _grow(
    size: tuple[int, int],
    bucket: MaskRatioBucket,
    rng: np.random.Generator,
    garment: BoolArray | None,
    garment_pixels: npt.NDArray[np.intp] | None,
    min_garment_fraction: float,
) -> MaskArray | None:
    """One attempt: add strokes until the ratio reaches a target drawn uniformly in the bucket; None on failure."""
    target = rng.uniform(bucket.low, bucket.high)
    mask = np.ones(size, dtype=np.uint8)
    scale = 1.0
    need_garment = garment is not None
    for _ in range(_MAX_STROKES):
        start = _garment_start(rng, garment_pixels) if need_garment and garment_pixels is not None else None
        candidate = mask.copy()
        _draw_stroke(candidate, rng, scale, start)
        ratio = hole_ratio(candidate)
        if ratio > bucket.high or (ratio == bucket.high and not bucket.closed_high):
            # Overshoot: undo and try a smaller stroke (growing, not rejecting, keeps narrow buckets cheap).
            scale *= _SHRINK
            if scale < _MIN_SCALE:
                return None
            continue
        mask = candidate
        if garment is not None:
            covered = int(np.count_nonzero(garment & (mask == 0)))
            need_garment = covered < min_garment_fraction * int(np.count_nonzero(garment))
        if ratio >= target and bucket.contains(ratio) and not need_garment:
            return mask
    return None


def random_stroke_mask(
    size: tuple[int, int],
    bucket: MaskRatioBucket,
    rng: np.random.Generator,
    *,
    garment: npt.ArrayLike | None = None,
    min_garment_fraction: float = MIN_GARMENT_FRACTION,
) -> MaskArray:
    """One free-form stroke mask whose hole ratio lies in ``bucket``.

    A target ratio is drawn uniformly in the bucket and strokes are added until the ratio reaches it; a stroke
    that would overshoot the bucket is undone and redrawn smaller. With a ``garment`` foreground, the first
    stroke (and every later one until the condition holds) starts on a garment pixel, and the mask is returned
    only once at least ``min_garment_fraction`` of the garment pixels are holes (the seed's guarantee that
    every mask erases part of the clothing). Deterministic for a given generator state.

    Args:
        size: (H, W), each at least 8.
        bucket: Hole-ratio range, e.g. :data:`B0`, :data:`B1`, :data:`B2` or any :class:`MaskRatioBucket`.
        rng: Source of randomness (``np.random.default_rng(seed)``); advanced in place.
        garment: Optional (H, W) boolean foreground, e.g. from :func:`garment_foreground`.
        min_garment_fraction: Fraction of the garment pixels that must fall in the hole, in (0, 1].

    Returns:
        (H, W) uint8 mask, 1 = valid, 0 = hole, with at least one hole pixel.

    Raises:
        InvalidInputError: Size below 8x8, a garment of another shape or without any pixel, a fraction outside
            (0, 1], or no mask found in ``bucket`` within the attempt budget (a bucket too narrow for the size).
    """
    shape = _size(size)
    garment_arr: BoolArray | None = None
    garment_pixels: npt.NDArray[np.intp] | None = None
    if garment is not None:
        garment_arr = np.asarray(garment).astype(bool)
        if garment_arr.shape != shape:
            raise InvalidInputError(f"garment must have shape {shape} (H, W), got {garment_arr.shape}")
        garment_pixels = np.argwhere(garment_arr)
        if garment_pixels.shape[0] == 0:
            raise InvalidInputError("garment foreground is empty: nothing for the mask to cover")
        if not 0.0 < min_garment_fraction <= 1.0:
            raise InvalidInputError(f"min_garment_fraction must lie in (0, 1], got {min_garment_fraction}")
    for _ in range(_MAX_RESTARTS):
        mask = _grow(shape, bucket, rng, garment_arr, garment_pixels, min_garment_fraction)
        if mask is not None:
            return mask
    raise InvalidInputError(
        f"no stroke mask of size {shape} found in bucket {bucket.name} [{bucket.low}, {bucket.high}] "
        f"after {_MAX_RESTARTS} attempts"
    )


def random_stroke_masks(
    n: int, size: tuple[int, int], bucket: MaskRatioBucket, seed: int | np.random.Generator
) -> MaskArray:
    """``n`` masks of :func:`random_stroke_mask` (no garment), reproducible from ``seed``.

    Returns:
        (n, H, W) uint8 masks, 1 = valid, 0 = hole.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    shape = _size(size)
    out = np.empty((n, *shape), dtype=np.uint8)
    for i in range(n):
        out[i] = random_stroke_mask(shape, bucket, rng)
    return out


def garment_foreground(image: npt.ArrayLike, *, threshold: int = FOREGROUND_THRESHOLD) -> BoolArray:
    """Foreground (garment, or garment and wearer) of a product photo on a plain, usually white, background.

    The background colour is the per-channel median of the border pixels (white for almost all Myntra photos;
    this also handles the few shot on light grey). A pixel is foreground when one of its channels differs
    from that colour by more than ``threshold``. Clean-up: blobs smaller than 0.2 % of the image (JPEG specks)
    are dropped, then enclosed background-coloured regions (a white shirt's body inside its outline) filled.

    Args:
        image: (H, W, 3) uint8 RGB photo.
        threshold: Largest channel difference (0..255) still counted as background; see
            :data:`FOREGROUND_THRESHOLD`.

    Returns:
        (H, W) bool, True on the foreground. May be empty (a blank photo).

    Raises:
        InvalidInputError: Not an (H, W, 3) uint8 image.
    """
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise InvalidInputError(f"image must be (H, W, 3) uint8 RGB, got shape {arr.shape} dtype {arr.dtype}")
    pixels = arr.astype(np.int16)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    background = np.median(border, axis=0)
    foreground: BoolArray = (np.abs(pixels - background).max(axis=2) > threshold).astype(bool)
    labels, count = ndimage.label(foreground)
    if count:
        sizes = np.bincount(labels.ravel())
        keep = sizes >= _MIN_BLOB_FRACTION * foreground.size
        keep[0] = False
        foreground = keep[labels]
    filled: BoolArray = ndimage.binary_fill_holes(foreground)
    return filled


# --- user masks -------------------------------------------------------------------------------------------------


def validate_mask(mask: npt.ArrayLike, size: tuple[int, int]) -> MaskArray:
    """Check a caller's mask and return it as (H, W) uint8 in the 1 = valid, 0 = hole convention.

    Args:
        mask: (H, W) array of bool, integers or floats holding only 0 and 1 (1 = valid, 0 = hole).
        size: Expected (H, W).

    Returns:
        A new (H, W) uint8 array of 0 and 1.

    Raises:
        InvalidInputError: Naming the first problem: not an array, wrong dtype, channels (H, W, C) or another
            number of dimensions, wrong size, values other than 0/1 (a 0/255 image is called out), no hole at
            all, or nothing valid left.
    """
    try:
        arr: npt.NDArray[Any] = np.asarray(mask)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"mask is not an array: {exc}") from exc
    if arr.dtype.kind not in "biuf":
        raise InvalidInputError(f"mask must be bool, integer or float, got dtype {arr.dtype}")
    if arr.ndim == 3:
        raise InvalidInputError(
            f"mask must be single-channel (H, W), got shape {arr.shape} with channels; convert to one channel"
        )
    if arr.ndim != 2:
        raise InvalidInputError(f"mask must be 2-D (H, W), got shape {arr.shape}")
    expected = (int(size[0]), int(size[1]))
    if arr.shape != expected:
        raise InvalidInputError(f"mask must have size {expected} (H, W), got {arr.shape}")
    if arr.dtype.kind != "b" and not np.isin(arr, (0, 1)).all():
        hint = " (looks like a 0/255 image: white = hole files go through load_mask)" if arr.max() == 255 else ""
        raise InvalidInputError(f"mask must hold only 0 (hole) and 1 (valid){hint}")
    out = arr.astype(np.uint8)
    holes = int(np.count_nonzero(out == 0))
    if holes == 0:
        raise InvalidInputError("mask has no hole (every pixel is 1 = valid): nothing to inpaint")
    if holes == out.size:
        raise InvalidInputError("mask is all hole (no pixel is 1 = valid): nothing to inpaint from")
    return out


def load_mask(path: str | Path, size: tuple[int, int]) -> MaskArray:
    """Read a mask image file (white = hole, black = keep) as an (H, W) uint8 mask, 1 = valid, 0 = hole.

    The file is read as greyscale (colour and alpha are ignored), resized to ``size`` with nearest-neighbour
    sampling when it differs (the photo is resized to the model's size the same way), and binarised at 128 so
    that anti-aliased brush edges count as hole when at least half white.

    Args:
        path: PNG (or any format PIL reads) mask file.
        size: (H, W) of the image the mask belongs to.

    Returns:
        (H, W) uint8 mask of 0 and 1, checked by :func:`validate_mask`.

    Raises:
        InvalidInputError: The file is missing or not an image, or the mask has no hole or no valid pixel.
    """
    height, width = (int(v) for v in size)
    try:
        with Image.open(path) as img:
            grey = img.convert("L")
    except (FileNotFoundError, IsADirectoryError, UnidentifiedImageError, OSError) as exc:
        raise InvalidInputError(f"mask file {str(path)!r} cannot be read as an image: {exc}") from exc
    if grey.size != (width, height):
        grey = grey.resize((width, height), Image.Resampling.NEAREST)
    white = np.asarray(grey) >= 128
    return validate_mask((~white).astype(np.uint8), (height, width))
