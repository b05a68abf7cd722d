"""Stroke masks by hole-ratio bucket, garment coverage on real Myntra photos, and user-mask checks."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from recengine.errors import InvalidInputError
from recengine.inpainting.masks import (
    B0,
    B1,
    B2,
    MASK_BUCKETS,
    MIN_GARMENT_FRACTION,
    MaskRatioBucket,
    bucket_of,
    garment_foreground,
    hole_ratio,
    load_mask,
    random_stroke_mask,
    random_stroke_masks,
    validate_mask,
)
from tests.conftest import MYNTRA, require

SIZE = (64, 64)
# Real photos of different kinds: a jersey, a white sneaker, a hoodie on a model, a shoe on grey, a dress on a model.
PHOTOS = ("1163", "1654", "1895", "2399", "3966", "2939")


@pytest.fixture(scope="module")
def stats() -> dict[str, np.ndarray]:
    """Hole ratios of 300 seeded masks per bucket (the masks themselves are checked in the test below)."""
    out = {}
    for bucket in MASK_BUCKETS:
        masks = random_stroke_masks(300, SIZE, bucket, seed=11)
        assert masks.shape == (300, *SIZE) and masks.dtype == np.uint8
        assert set(np.unique(masks)) <= {0, 1}
        out[bucket.name] = np.array([hole_ratio(m) for m in masks])
    return out


@pytest.mark.parametrize("bucket", MASK_BUCKETS, ids=lambda b: b.name)
def test_every_mask_falls_in_its_bucket(stats: dict[str, np.ndarray], bucket: MaskRatioBucket) -> None:
    ratios = stats[bucket.name]
    assert ratios.min() > 0.0  # never an empty hole, also in b0 = [0, 0.2)
    assert all(bucket.contains(r) for r in ratios)
    assert all(bucket_of(r) is bucket for r in ratios)


@pytest.mark.parametrize("bucket", MASK_BUCKETS, ids=lambda b: b.name)
def test_ratios_spread_over_the_bucket(stats: dict[str, np.ndarray], bucket: MaskRatioBucket) -> None:
    ratios = stats[bucket.name]
    middle, width = (bucket.low + bucket.high) / 2, bucket.high - bucket.low
    # A target is drawn uniformly in the bucket, so the mean sits near the middle, not at the lower edge.
    assert abs(ratios.mean() - middle) < 0.2 * width
    assert ratios.std() > 0.15 * width


def test_buckets_are_the_seeds() -> None:
    assert [(b.name, b.low, b.high) for b in MASK_BUCKETS] == [("b0", 0.0, 0.2), ("b1", 0.2, 0.4), ("b2", 0.4, 0.6)]
    assert B2.contains(0.6) and not B1.contains(0.4) and B2.contains(0.4) and B0.contains(0.0)
    with pytest.raises(InvalidInputError, match="none of the buckets"):
        bucket_of(0.61)
    with pytest.raises(InvalidInputError, match="low < high"):
        MaskRatioBucket("bad", 0.5, 0.2)


def test_masks_are_deterministic_by_seed_and_differ_across_seeds() -> None:
    first = random_stroke_masks(20, SIZE, B1, seed=7)
    assert np.array_equal(first, random_stroke_masks(20, SIZE, B1, seed=7))
    other = random_stroke_masks(20, SIZE, B1, seed=8)
    assert not any(np.array_equal(a, b) for a, b in zip(first, other, strict=True))
    flat = first.reshape(20, -1)
    assert len({row.tobytes() for row in flat}) == 20  # no two masks of one run alike


def test_mask_size_is_checked() -> None:
    with pytest.raises(InvalidInputError, match="at least 8x8"):
        random_stroke_mask((4, 64), B0, np.random.default_rng(0))


# --- garment foreground and coverage ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    """A few real catalogue photos, read straight from the shared zip (never copied into the repository)."""
    with zipfile.ZipFile(require(MYNTRA) / "images.zip") as zf:
        return {
            name: np.asarray(Image.open(io.BytesIO(zf.read(f"images/{name}.jpg"))).convert("RGB")) for name in PHOTOS
        }


def test_foreground_of_real_photos(photos: dict[str, np.ndarray]) -> None:
    for name, image in photos.items():
        fg = garment_foreground(image)
        assert fg.shape == image.shape[:2] and fg.dtype == np.bool_
        assert 0.05 < fg.mean() < 0.9, name
        # The background colour is taken at the border, so the corners are background.
        assert not fg[0, 0] and not fg[0, -1], name
        centre = fg[fg.shape[0] // 3 : 2 * fg.shape[0] // 3, fg.shape[1] // 3 : 2 * fg.shape[1] // 3]
        # Product shots are centred; the white sneaker on white (1654) is only partly found (0.45).
        assert centre.mean() > 0.4, name


@pytest.mark.parametrize("bucket", MASK_BUCKETS, ids=lambda b: b.name)
def test_every_mask_erases_part_of_the_garment(photos: dict[str, np.ndarray], bucket: MaskRatioBucket) -> None:
    rng = np.random.default_rng(3)
    for name, image in photos.items():
        fg = garment_foreground(image)
        for _ in range(5):
            mask = random_stroke_mask(fg.shape, bucket, rng, garment=fg)
            assert bucket.contains(hole_ratio(mask)), name
            covered = np.count_nonzero(fg & (mask == 0)) / np.count_nonzero(fg)
            assert covered >= MIN_GARMENT_FRACTION, name


def test_foreground_cleanup_on_a_drawn_photo() -> None:
    image = np.full((60, 60, 3), 255, dtype=np.uint8)
    image[10:50, 10:50] = (20, 40, 200)  # a blue garment ...
    image[20:40, 20:40] = 255  # ... with a white print inside its outline
    image[2, 55] = 0  # a one-pixel JPEG speck
    image[55, 2] = 245  # background noise below the threshold
    fg = garment_foreground(image)
    expected = np.zeros((60, 60), dtype=bool)
    expected[10:50, 10:50] = True
    assert np.array_equal(fg, expected)


def test_garment_inputs_are_checked() -> None:
    with pytest.raises(InvalidInputError, match=r"\(H, W, 3\) uint8"):
        garment_foreground(np.zeros((8, 8, 3), dtype=np.float32))
    assert not garment_foreground(np.full((16, 16, 3), 255, np.uint8)).any()
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidInputError, match="empty"):
        random_stroke_mask((16, 16), B1, rng, garment=np.zeros((16, 16), bool))
    with pytest.raises(InvalidInputError, match="shape"):
        random_stroke_mask((16, 16), B1, rng, garment=np.ones((8, 8), bool))


# --- user masks -------------------------------------------------------------------------------------------------


def _mask(size: tuple[int, int] = (8, 8)) -> np.ndarray:
    mask = np.ones(size, dtype=np.uint8)
    mask[2:4, 3:6] = 0
    return mask


def test_validate_mask_accepts_0_1_arrays_of_any_dtype() -> None:
    mask = _mask()
    for arr in (mask, mask.astype(bool), mask.astype(np.float32), mask.astype(np.int64)):
        out = validate_mask(arr, (8, 8))
        assert out.dtype == np.uint8 and np.array_equal(out, mask)


@pytest.mark.parametrize(
    ("mask", "match"),
    [
        (_mask((8, 9)), r"size \(8, 8\).*got \(8, 9\)"),
        (np.repeat(_mask()[..., None], 3, axis=2), "single-channel"),
        (_mask()[None, None], "2-D"),
        (_mask() * 255, "0/255 image"),
        (_mask().astype(np.float32) * 0.5 + 0.25, "only 0 \\(hole\\) and 1"),
        (_mask().astype(str), "dtype"),
        (np.ones((8, 8), np.uint8), "no hole"),
        (np.zeros((8, 8), np.uint8), "all hole"),
        ([[1, 0], [1]], "not an array"),
    ],
    ids=["size", "channels", "ndim", "0-255", "soft", "dtype", "no-hole", "all-hole", "ragged"],
)
def test_validate_mask_names_the_problem(mask: object, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        validate_mask(mask, (8, 8))  # type: ignore[arg-type]


def test_load_mask_reads_white_as_hole(tmp_path: Path) -> None:
    drawn = np.zeros((20, 30), dtype=np.uint8)
    drawn[5:10, 5:20] = 255  # the brush stroke: to be filled
    drawn[12, 5] = 200  # an anti-aliased edge, more than half white: hole
    drawn[12, 6] = 60  # less than half white: keep
    path = tmp_path / "mask.png"
    Image.fromarray(drawn).convert("RGB").save(path)
    mask = load_mask(path, (20, 30))
    assert mask.dtype == np.uint8 and mask.shape == (20, 30)
    assert (mask[5:10, 5:20] == 0).all() and mask[12, 5] == 0 and mask[12, 6] == 1
    assert np.count_nonzero(mask == 0) == 5 * 15 + 1


def test_load_mask_resizes_to_the_image(tmp_path: Path) -> None:
    drawn = np.zeros((40, 60), dtype=np.uint8)
    drawn[:20, :30] = 255
    path = tmp_path / "big.png"
    Image.fromarray(drawn).save(path)
    mask = load_mask(path, (20, 30))
    assert mask.shape == (20, 30)
    assert (mask[:10, :15] == 0).all() and (mask[10:, :] == 1).all() and (mask[:, 15:] == 1).all()


def test_load_mask_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="cannot be read"):
        load_mask(tmp_path / "missing.png", (8, 8))
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a png")
    with pytest.raises(InvalidInputError, match="cannot be read"):
        load_mask(junk, (8, 8))
    black = tmp_path / "black.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(black)
    with pytest.raises(InvalidInputError, match="no hole"):
        load_mask(black, (8, 8))
