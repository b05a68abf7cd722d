"""OpenCV inpainting baselines, the model/photo array conversions, ℓ1 % and per-bucket aggregation."""

from __future__ import annotations

import numpy as np
import pytest

from recengine.errors import InvalidInputError
from recengine.evaluation.image_metrics import l1_error
from recengine.inpainting import (
    MaskRatioBucket,
    by_bucket,
    l1_percent,
    opencv_inpaint,
    to_model_images,
    to_model_masks,
    to_uint8_images,
)


def _gradient(batch: int = 2, size: int = 32) -> np.ndarray:
    """(B, 3, H, W) float32 smooth ramps in [-1, 1], different per channel and image."""
    ys, xs = np.mgrid[0:size, 0:size] / (size - 1)
    images = np.empty((batch, 3, size, size), dtype=np.float32)
    for b in range(batch):
        images[b, 0] = -0.8 + 1.6 * xs
        images[b, 1] = 0.6 - 1.2 * ys
        images[b, 2] = -0.5 + 0.5 * (xs + ys) + 0.1 * b
    return images


def _masks(batch: int = 2, size: int = 32) -> np.ndarray:
    masks = np.ones((batch, 1, size, size), dtype=np.float32)
    masks[:, :, 10:20, 12:22] = 0
    return masks


@pytest.mark.parametrize("method", ["telea", "ns"])
def test_hole_in_a_gradient_is_filled_close_to_the_truth(method: str) -> None:
    truth, masks = _gradient(), _masks()
    damaged = np.where(masks == 1, truth, -1.0).astype(np.float32)  # hole painted black
    out = opencv_inpaint(damaged, masks, method)  # type: ignore[arg-type]
    assert out.shape == truth.shape and out.dtype == np.float32
    hole = np.broadcast_to(masks == 0, truth.shape)
    filled_error = np.abs(out - truth)[hole].mean()
    black_error = np.abs(damaged - truth)[hole].mean()
    # Measured: Telea 0.047, Navier-Stokes 0.034 on the [-1, 1] scale (black fill: 1.05).
    assert filled_error < 0.08
    assert filled_error < 0.1 * black_error
    # Valid pixels come back bit for bit, not through a uint8 round trip.
    assert np.array_equal(out[~hole], damaged[~hole])


def test_masks_may_drop_the_channel_axis_and_be_bool() -> None:
    truth, masks = _gradient(1), _masks(1)
    a = opencv_inpaint(truth, masks)
    b = opencv_inpaint(truth, masks[:, 0].astype(bool))
    assert np.array_equal(a, b)


@pytest.mark.parametrize(
    ("images", "masks", "kwargs", "match"),
    [
        (_gradient(1), _masks(2), {}, "do not match"),
        ((_gradient(1) + 1) * 127.5, _masks(1), {}, r"\[-1, 1\]"),
        (to_uint8_images(_gradient(1)), _masks(1), {}, r"\(B, 3, H, W\) float"),
        (_gradient(1), _masks(1) * 0.5, {}, "only 0"),
        (_gradient(1), _masks(1), {"method": "patchmatch"}, "method"),
        (_gradient(1), _masks(1), {"radius": 0}, "radius"),
    ],
    ids=["batch", "range", "uint8", "soft-mask", "method", "radius"],
)
def test_bad_input_is_refused(images: np.ndarray, masks: np.ndarray, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        opencv_inpaint(images, masks, **kwargs)  # type: ignore[arg-type]


def test_conversions_round_trip() -> None:
    photos = np.random.default_rng(0).integers(0, 256, size=(2, 5, 7, 3), dtype=np.uint8)
    model = to_model_images(photos)
    assert model.shape == (2, 3, 5, 7) and model.dtype == np.float32
    assert model.min() >= -1.0 and model.max() <= 1.0
    assert np.array_equal(to_uint8_images(model), photos)
    x = _gradient(1)
    assert np.abs(to_model_images(to_uint8_images(x)) - x).max() <= 1.0 / 255 + 1e-6
    assert to_model_masks(np.ones((2, 5, 7), bool)).shape == (2, 1, 5, 7)


def test_l1_percent_over_image_and_hole() -> None:
    a = np.zeros((1, 4, 4, 3), dtype=np.uint8)
    b = a.copy()
    b[0, 0, :2] = 255  # two pixels fully wrong
    masks = np.ones((1, 4, 4), dtype=np.uint8)
    masks[0, 0, :4] = 0  # the hole: the top row, half of it wrong
    assert l1_percent(a, b)[0] == pytest.approx(100 * 2 / 16)
    assert l1_percent(a, b)[0] == pytest.approx(100 * l1_error(a, b)[0])
    assert l1_percent(a, b, masks)[0] == pytest.approx(50.0)


def test_by_bucket_groups_by_hole_ratio() -> None:
    values = [1.0, 3.0, 10.0, 20.0, 7.0, 99.0]
    ratios = [0.05, 0.15, 0.2, 0.39, 0.6, 0.7]  # 0.2 opens b1, 0.6 closes b2, 0.7 is in no bucket
    stats = by_bucket(values, ratios)
    assert list(stats) == ["b0", "b1", "b2"]
    assert (stats["b0"].count, stats["b0"].mean, stats["b0"].std) == (2, 2.0, 1.0)
    assert (stats["b1"].count, stats["b1"].mean) == (2, 15.0)
    assert (stats["b2"].count, stats["b2"].mean, stats["b2"].std) == (1, 7.0, 0.0)
    empty = by_bucket([1.0], [0.05], (MaskRatioBucket("x", 0.5, 0.6),))["x"]
    assert empty.count == 0 and np.isnan(empty.mean)
    with pytest.raises(InvalidInputError, match="one length"):
        by_bucket([1.0, 2.0], [0.1])
