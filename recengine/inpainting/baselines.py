"""Classical (non-learned) inpainting baselines: OpenCV's Telea and Navier–Stokes methods.

Reference:
    Telea, "An Image Inpainting Technique Based on the Fast Marching Method", J. Graphics Tools 9 (2004);
    Bertalmío, Bertozzi, Sapiro, "Navier–Stokes, Fluid Dynamics, and Image and Video Inpainting", CVPR 2001.
    The seed (Kınlı et al. 2020) compares against PatchMatch as its non-learned method; these two play that
    role here because they ship with OpenCV.

Arrays follow the model convention of :mod:`recengine.inpainting.arrays`, so a baseline and the learned model
are called and scored the same way.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from recengine.errors import InvalidInputError
from recengine.inpainting.arrays import Float32Array, model_images, to_model_masks, to_uint8_images

__all__ = ["OPENCV_METHODS", "opencv_inpaint"]

OpencvMethod = Literal["telea", "ns"]
OPENCV_METHODS: dict[str, int] = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}


def opencv_inpaint(
    images: npt.ArrayLike, masks: npt.ArrayLike, method: OpencvMethod = "telea", *, radius: int = 3
) -> Float32Array:
    """Fill the holes of each image with ``cv2.inpaint`` (Telea's fast marching or Navier–Stokes).

    OpenCV works on 8-bit images, so each image is rounded to uint8, inpainted, and mapped back; the valid
    pixels of the result are then copied from the input, so they come back bit for bit unchanged (only the
    filled hole carries the 1/255 quantisation).

    Args:
        images: (B, 3, H, W) float in [-1, 1] (numpy or CPU torch tensor); hole pixels may hold anything
            in range.
        masks: (B, 1, H, W) or (B, H, W) of 0/1, 1 = valid, 0 = hole.
        method: ``"telea"`` (cv2.INPAINT_TELEA) or ``"ns"`` (cv2.INPAINT_NS).
        radius: Neighbourhood radius in pixels each method draws on, >= 1 (OpenCV's ``inpaintRadius``).

    Returns:
        (B, 3, H, W) float32 in [-1, 1]: the input where the mask is 1, the method's fill where it is 0.

    Raises:
        InvalidInputError: Arrays of the wrong shape, dtype or range, masks not matching the images, an
            unknown method, or a radius below 1.
    """
    if method not in OPENCV_METHODS:
        raise InvalidInputError(f"method must be one of {sorted(OPENCV_METHODS)}, got {method!r}")
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 1:
        raise InvalidInputError(f"radius must be an integer >= 1, got {radius!r}")
    x = model_images(images)
    valid = to_model_masks(masks)
    if valid.shape[0] != x.shape[0] or valid.shape[2:] != x.shape[2:]:
        raise InvalidInputError(f"masks {valid.shape} do not match images {x.shape} (B, 1, H, W)")
    photos = to_uint8_images(x)
    # OpenCV's inpaint mask marks the pixels to fill with non-zero values: the hole.
    holes = (valid[:, 0] == 0).astype(np.uint8) * np.uint8(255)
    filled = np.empty_like(photos)
    for i in range(photos.shape[0]):
        filled[i] = cv2.inpaint(photos[i], holes[i], float(radius), OPENCV_METHODS[method])
    result = filled.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    out: Float32Array = np.where(valid == 1, x, result).astype(np.float32)
    return out
