"""What the seed's Table 1 needs beyond :mod:`recengine.evaluation`: ℓ1 error in percent and per-bucket means.

SSIM, PSNR and the ℓ1 error itself are :mod:`recengine.evaluation.image_metrics`'s; IS/FID on our own features
are :mod:`recengine.evaluation.distribution_metrics`'s. Convert model outputs with
:func:`recengine.inpainting.arrays.to_uint8_images` first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recengine.errors import InvalidInputError
from recengine.evaluation.image_metrics import l1_error
from recengine.inpainting.masks import MASK_BUCKETS, MaskRatioBucket

__all__ = ["BucketStats", "by_bucket", "l1_percent"]


def l1_percent(a: npt.ArrayLike, b: npt.ArrayLike, masks: npt.ArrayLike | None = None) -> npt.NDArray[np.float64]:
    """Per-image mean ℓ1 error in percent of the [0, 1] range, the "ℓ1 %" of the seed's Table 1.

    Args:
        a: (N, H, W, C) images, uint8 or float in [0, 1] (see :func:`~recengine.evaluation.image_metrics.
            l1_error`).
        b: Images of the same shape.
        masks: None to average over the whole image (as the seed's table does, with the known pixels copied
            through), or (N, H, W) / (H, W) inpainting masks (1 = valid, 0 = hole) to average over the hole only.

    Returns:
        (N,) float64 errors in [0, 100].

    Raises:
        InvalidInputError: As :func:`~recengine.evaluation.image_metrics.l1_error`; a mask without a hole.
    """
    hole = None if masks is None else np.asarray(masks) == 0
    out: npt.NDArray[np.float64] = 100.0 * l1_error(a, b, hole)
    return out


@dataclass(frozen=True)
class BucketStats:
    """Summary of one bucket's values: count, mean and (population) standard deviation; NaN when empty."""

    count: int
    mean: float
    std: float


def by_bucket(
    values: npt.ArrayLike, ratios: npt.ArrayLike, buckets: tuple[MaskRatioBucket, ...] = MASK_BUCKETS
) -> dict[str, BucketStats]:
    """Group per-mask values by the hole-ratio bucket of their mask (the columns of the seed's Table 1).

    Args:
        values: (N,) numbers, e.g. per-image ℓ1 % or layer counts.
        ratios: (N,) hole ratios of the masks the values were measured with.
        buckets: Buckets to report, in order; the seed's b0/b1/b2 by default. Values whose ratio falls in no
            bucket are left out.

    Returns:
        Bucket name → :class:`BucketStats`, in the order of ``buckets``.

    Raises:
        InvalidInputError: ``values`` and ``ratios`` not both 1-D of the same length, or NaN in them.
    """
    vals = np.asarray(values, dtype=np.float64)
    rats = np.asarray(ratios, dtype=np.float64)
    if vals.ndim != 1 or vals.shape != rats.shape:
        raise InvalidInputError(f"values and ratios must be 1-D of one length, got {vals.shape} and {rats.shape}")
    if np.isnan(vals).any() or np.isnan(rats).any():
        raise InvalidInputError("values and ratios must not contain NaN")
    out: dict[str, BucketStats] = {}
    for bucket in buckets:
        upper = rats <= bucket.high if bucket.closed_high else rats < bucket.high
        chosen = vals[(rats >= bucket.low) & upper]
        if chosen.size == 0:
            out[bucket.name] = BucketStats(0, float("nan"), float("nan"))
        else:
            out[bucket.name] = BucketStats(int(chosen.size), float(chosen.mean()), float(chosen.std()))
    return out
