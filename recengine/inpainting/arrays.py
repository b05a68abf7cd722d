"""Array conventions of the inpainting code, and conversions to and from the ones photos and metrics use.

*Model convention* (the learned inpainting model, :func:`recengine.inpainting.baselines.opencv_inpaint`):

* images: (B, 3, H, W) float32 RGB in [-1, 1] (a tanh generator's range);
* masks: (B, 1, H, W) float32, 1 = valid pixel, 0 = hole (what :class:`~recengine.nets.partial_conv.
  PartialConv2d` takes).

*Photo convention* (PIL, OpenCV, and :mod:`recengine.evaluation.image_metrics`): (B, H, W, 3) uint8 RGB.

Conversions are exact up to the one rounding of float to uint8: ``to_model_images(to_uint8_images(x))`` differs
from ``x`` by at most 1/255, and ``to_uint8_images(to_model_images(u))`` equals ``u``.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from recengine.errors import InvalidInputError

__all__ = ["to_model_images", "to_model_masks", "to_uint8_images"]

Float32Array: TypeAlias = npt.NDArray[np.float32]
Uint8Array: TypeAlias = npt.NDArray[np.uint8]


def _array(values: object, name: str) -> npt.NDArray[Any]:
    try:
        # np.asarray reads CPU torch tensors too, so callers may pass a model's output directly.
        return np.asarray(values)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InvalidInputError(f"{name} is not an array (a CUDA tensor needs .cpu() first): {exc}") from exc


def to_model_images(images: npt.ArrayLike) -> Float32Array:
    """(B, H, W, 3) uint8 photos → (B, 3, H, W) float32 in [-1, 1].

    Raises:
        InvalidInputError: Not a (B, H, W, 3) uint8 array.
    """
    arr = _array(images, "images")
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise InvalidInputError(f"images must be (B, H, W, 3) uint8, got shape {arr.shape} dtype {arr.dtype}")
    out: Float32Array = arr.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    return out


def model_images(images: npt.ArrayLike, name: str = "images") -> Float32Array:
    """Check (B, 3, H, W) float images in [-1, 1] (NaN refused) and return them as float32."""
    arr = _array(images, name)
    if arr.ndim != 4 or arr.shape[1] != 3 or arr.dtype.kind != "f":
        raise InvalidInputError(
            f"{name} must be (B, 3, H, W) float in [-1, 1], got shape {arr.shape} dtype {arr.dtype}"
        )
    out = arr.astype(np.float32)
    if out.size and not (np.isfinite(out).all() and out.min() >= -1.0 and out.max() <= 1.0):
        raise InvalidInputError(f"{name} must be finite and lie in [-1, 1] (map uint8 with to_model_images)")
    return out


def to_uint8_images(images: npt.ArrayLike) -> Uint8Array:
    """(B, 3, H, W) float in [-1, 1] → (B, H, W, 3) uint8, rounded to the nearest level.

    Raises:
        InvalidInputError: Not (B, 3, H, W) float, or values outside [-1, 1] or NaN.
    """
    arr = model_images(images)
    levels = np.rint((arr + np.float32(1.0)) * np.float32(127.5))
    out: Uint8Array = np.clip(levels, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(out)


def to_model_masks(masks: npt.ArrayLike) -> Float32Array:
    """(B, H, W) or (B, 1, H, W) masks of 0/1 (bool, int or float; 1 = valid) → (B, 1, H, W) float32.

    Raises:
        InvalidInputError: Another shape, or values other than 0 and 1.
    """
    arr = _array(masks, "masks")
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 3 or arr.dtype.kind not in "biuf":
        raise InvalidInputError(f"masks must be (B, H, W) or (B, 1, H, W) 0/1 arrays, got shape {arr.shape}")
    if arr.dtype.kind != "b" and not np.isin(arr, (0, 1)).all():
        raise InvalidInputError("masks must hold only 0 (hole) and 1 (valid)")
    out: Float32Array = arr.astype(np.float32)[:, None]
    return out
