"""Image-quality metrics of the generator work (personalised designer, inpainting), in numpy and scipy.

* :func:`ssim`: per-image mean structural similarity (Wang et al. 2004), Gaussian window.
* :func:`psnr`: per-image peak signal-to-noise ratio in dB.
* :func:`l1_error`: per-image mean absolute error, optionally over a mask (the hole of an inpainting).
* :func:`mean_pairwise_ssim` and :func:`diversity`: how different the designs generated for one input are.

Distribution metrics over whole image sets (FID, Inception Score) are in
:mod:`recengine.evaluation.distribution_metrics`.

Image convention: every function works on float64 images in [0, 1], channels last, shape (N, H, W, C) with
C = 3 (RGB) or C = 1 (grey, e.g. Fashion-MNIST). Both usual encodings are accepted and converted: uint8 (and
any other integer dtype holding 0..255) is divided by 255, floats must already lie in [0, 1]. Floats outside
[0, 1] are refused rather than clipped or rescaled, because silently guessing between [0, 1], [-1, 1] and
[0, 255] is how image metrics end up off by a constant factor; map a tanh generator's output with (x + 1) / 2
first. C is restricted to 1 or 3 so that a channels-first (N, 3, H, W) batch is caught instead of being read
as 3-pixel-high images. Bad input raises :class:`~recengine.errors.InvalidInputError`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from recengine.errors import InvalidInputError
from recengine.evaluation.metrics import FloatArray, _as_array, _positive_int

# Wang et al. 2004, section III-C: K1 = 0.01, K2 = 0.03, an 11 x 11 circular-symmetric Gaussian of sigma 1.5.
SSIM_K1 = 0.01
SSIM_K2 = 0.03
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5

_CHANNELS = (1, 3)
# SSIM is computed this many images (or image pairs) at a time: its seven full-size float64 maps would
# otherwise need ~60 bytes per input byte of a uint8 batch.
_SSIM_CHUNK = 32


# --- input checks -----------------------------------------------------------------------------------------------


def _image_stack(values: object, name: str, lead: str) -> npt.NDArray[Any]:
    """The raw array of a stack of channels-last images, shape (*lead, H, W, C); its values are not yet checked.

    ``lead`` names the leading axes ("N" or "G, N"); each must be non-empty, like H and W.
    """
    arr = _as_array(values, name)
    n_lead = len(lead.split(", "))
    layout = f"({lead}, H, W, C)"
    if arr.ndim != n_lead + 3:
        raise InvalidInputError(f"{name} must be {n_lead + 3}-D {layout} images, got shape {arr.shape}")
    if arr.dtype.kind not in "iuf":
        raise InvalidInputError(f"{name} must be uint8 (0..255) or float ([0, 1]) images, got dtype {arr.dtype}")
    if arr.shape[-1] not in _CHANNELS:
        raise InvalidInputError(
            f"{name} must have 1 or 3 channels last {layout}, got shape {arr.shape} (channels first?)"
        )
    if 0 in arr.shape:
        raise InvalidInputError(f"{name} is empty: shape {arr.shape} {layout}")
    return arr


def _unit_float(arr: npt.NDArray[Any], name: str, dtype: type[np.floating[Any]] = np.float64) -> npt.NDArray[Any]:
    """Images of :func:`_image_stack` as floats in [0, 1]: integers divided by 255, floats range-checked."""
    if arr.dtype.kind in "iu":
        low, high = int(arr.min()), int(arr.max())
        if low < 0 or high > 255:
            raise InvalidInputError(f"{name} holds integer values {low}..{high}; 8-bit images must be 0..255")
        scaled: npt.NDArray[Any] = arr.astype(dtype) / dtype(255.0)
        return scaled
    out = arr.astype(dtype)
    nan = np.isnan(out)
    if nan.any():
        raise InvalidInputError(f"{name} contains {int(nan.sum())} NaN value(s)")
    low_f, high_f = float(out.min()), float(out.max())
    if low_f < 0.0 or high_f > 1.0:
        raise InvalidInputError(
            f"{name} holds float values in [{low_f:g}, {high_f:g}]; float images must lie in [0, 1] "
            "(map [-1, 1] output with (x + 1) / 2, or pass uint8)"
        )
    return out


def _images(values: object, name: str, lead: str = "N") -> FloatArray:
    """Validated float64 images in [0, 1], shape (*lead, H, W, C)."""
    out: FloatArray = _unit_float(_image_stack(values, name, lead), name)
    return out


def _image_pair(a: object, b: object) -> tuple[FloatArray, FloatArray]:
    """Two same-shape (N, H, W, C) batches compared image by image."""
    first, second = _images(a, "a"), _images(b, "b")
    if first.shape != second.shape:
        raise InvalidInputError(f"a and b must have the same shape, got {first.shape} and {second.shape}")
    return first, second


def _positive_float(value: object, name: str) -> float:
    """A finite float > 0 (bools refused, as in :func:`~recengine.evaluation.metrics._positive_int`)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidInputError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number <= 0.0:
        raise InvalidInputError(f"{name} must be a finite number > 0, got {number}")
    return number


def _window(window: object, height: int, width: int) -> int:
    """An odd window size >= 3 that fits in an H x W image (SSIM is taken over the fully covered positions)."""
    size = _positive_int(window, "window")
    if size < 3 or size % 2 == 0:
        raise InvalidInputError(f"window must be an odd integer >= 3, got {size}")
    if size > min(height, width):
        raise InvalidInputError(f"window {size} does not fit in {height}x{width} images; pass a smaller window")
    return size


# --- SSIM -------------------------------------------------------------------------------------------------------


def _gaussian_weights(size: int, sigma: float) -> FloatArray:
    """1-D Gaussian of ``size`` taps, normalised to sum 1; its outer product is Wang et al.'s 2-D window."""
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    weights: FloatArray = np.exp(-(offsets**2) / (2.0 * sigma**2))
    normalised: FloatArray = weights / weights.sum()
    return normalised


def _local_mean(images: FloatArray, weights: FloatArray) -> FloatArray:
    """Gaussian-weighted local means at every position where the window lies fully inside the image.

    The 2-D Gaussian is separable, so two 1-D passes (over H, then W) give the same sums as the 2-D window
    at O(window) instead of O(window²) cost. The border the window overhangs is cropped, which makes the
    padding mode irrelevant and equals the 'valid' filtering of Wang et al.'s reference code.
    """
    radius = (weights.size - 1) // 2
    out = images
    for axis in (1, 2):
        out = ndimage.correlate1d(out, weights, axis=axis, mode="nearest")
        keep = [slice(None)] * out.ndim
        keep[axis] = slice(radius, out.shape[axis] - radius)
        out = out[tuple(keep)]
    return out


def _ssim_values(a: FloatArray, b: FloatArray, weights: FloatArray, data_range: float) -> FloatArray:
    """(N,) mean SSIM of validated, same-shape (N, H, W, C) float batches, computed in chunks."""
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    out = np.empty(a.shape[0], dtype=np.float64)
    for start in range(0, a.shape[0], _SSIM_CHUNK):
        x, y = a[start : start + _SSIM_CHUNK], b[start : start + _SSIM_CHUNK]
        mu_x, mu_y = _local_mean(x, weights), _local_mean(y, weights)
        # Weighted (population) moments, Wang et al. eqs. (14)-(16): E[xy] - E[x]E[y] under the window.
        var_x = _local_mean(x * x, weights) - mu_x * mu_x
        var_y = _local_mean(y * y, weights) - mu_y * mu_y
        cov_xy = _local_mean(x * y, weights) - mu_x * mu_y
        # Eq. (13). Every term is symmetric in x and y, so ssim(a, b) == ssim(b, a) exactly, and for x == y
        # the numerator and denominator are the same floats, so the ratio is exactly 1.
        numerator = (2.0 * mu_x * mu_y + c1) * (2.0 * cov_xy + c2)
        denominator = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
        ssim_map = numerator / denominator
        out[start : start + x.shape[0]] = ssim_map.reshape(x.shape[0], -1).mean(axis=1)
    return out


def ssim(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    window: int = SSIM_WINDOW,
    sigma: float = SSIM_SIGMA,
    data_range: float = 1.0,
) -> FloatArray:
    """Mean structural similarity of each image pair (Wang, Bovik, Sheikh, Simoncelli, IEEE TIP 13(4), 2004).

    SSIM(x, y) = ((2 μx μy + C1)(2 σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2)) with C1 = (K1 L)²,
    C2 = (K2 L)², K1 = 0.01, K2 = 0.03 and L = ``data_range``; the local statistics are weighted by a
    ``window`` x ``window`` Gaussian of standard deviation ``sigma`` (the paper's 11 and 1.5 by default), with
    population (not sample) moments. The SSIM map is evaluated only where the window lies fully inside the
    image, and averaged over those positions and over the channels (each RGB channel scored on its own, as
    skimage's ``channel_axis`` does). The filtering is scipy.ndimage's separable ``correlate1d`` in float64:
    exact enough for SSIM(x, x) = 1 and symmetry to hold bit for bit, and no torch import or device needed.
    This is the definition skimage's ``structural_similarity(..., gaussian_weights=True,
    use_sample_covariance=False, data_range=1)`` implements (not cross-checked: skimage is not a dependency;
    the tests check it against a direct 2-D window computation instead).

    Args:
        a: (N, H, W, C) images, uint8 or float in [0, 1] (see the module docstring), C = 1 or 3.
        b: Images of the same shape as ``a``.
        window: Odd window size >= 3, at most min(H, W); 7 suits small (e.g. 28 x 28) images.
        sigma: Standard deviation of the Gaussian window in pixels, > 0.
        data_range: L, the dynamic range of the converted images; 1.0 is right for the [0, 1] convention and
            another value only reproduces numbers computed with a different nominal range.

    Returns:
        (N,) float64 array of SSIM values in [-1, 1], 1 for identical images.

    Raises:
        InvalidInputError: Shapes differ or are not (N, H, W, 1 or 3); values outside 0..255 / [0, 1] or NaN;
            the window is even, below 3 or larger than the images; sigma or data_range not a positive number.
    """
    first, second = _image_pair(a, b)
    size = _window(window, first.shape[1], first.shape[2])
    weights = _gaussian_weights(size, _positive_float(sigma, "sigma"))
    return _ssim_values(first, second, weights, _positive_float(data_range, "data_range"))


def psnr(a: npt.ArrayLike, b: npt.ArrayLike, *, data_range: float = 1.0) -> FloatArray:
    """Peak signal-to-noise ratio of each image pair: 10 log10(L² / MSE), in dB.

    MSE is the mean squared difference over all pixels and channels of one image, on the [0, 1] scale, so a
    uint8 pair gives the same PSNR as with L = 255 on 0..255 values. Identical images have MSE 0 and PSNR
    ``inf``, returned as is rather than capped at an arbitrary ceiling: a capped value would be averaged as if
    it were a measurement. Callers that average over a batch should decide what an exact copy means for them
    (e.g. ``np.minimum(values, 100.0)``, or report the count of exact copies).

    Args:
        a: (N, H, W, C) images, uint8 or float in [0, 1], C = 1 or 3.
        b: Images of the same shape as ``a``.
        data_range: L, the peak value on the converted scale; keep 1.0 for the [0, 1] convention.

    Returns:
        (N,) float64 array of PSNR values in dB, ``inf`` where the two images are identical.

    Raises:
        InvalidInputError: Shapes differ or are not (N, H, W, 1 or 3); values out of range or NaN;
            data_range not a positive number.
    """
    first, second = _image_pair(a, b)
    peak = _positive_float(data_range, "data_range")
    mse = ((first - second) ** 2).reshape(first.shape[0], -1).mean(axis=1)
    out = np.full(mse.shape, np.inf)
    nonzero = mse > 0.0
    out[nonzero] = 10.0 * np.log10(peak**2 / mse[nonzero])
    return out


# --- L1 ---------------------------------------------------------------------------------------------------------


def _pixel_mask(mask: object, shape: tuple[int, ...]) -> npt.NDArray[np.bool_]:
    """(N, H, W) boolean mask from a bool or 0/1 array of shape (N, H, W) or (H, W) (shared by all images)."""
    arr = _as_array(mask, "mask")
    n, height, width = shape[:3]
    if arr.shape == (height, width):
        arr = np.broadcast_to(arr, (n, height, width))
    if arr.shape != (n, height, width):
        raise InvalidInputError(
            f"mask must have shape ({n}, {height}, {width}) or ({height}, {width}), got {arr.shape}"
        )
    if arr.dtype.kind == "b":
        return arr
    if arr.dtype.kind not in "iuf":
        raise InvalidInputError(f"mask must be boolean or 0/1, got dtype {arr.dtype}")
    # Soft masks (0.5 at a blurred edge) are refused: which pixels count must not depend on a threshold here.
    if not np.isin(arr, (0, 1)).all():
        raise InvalidInputError("mask must hold only 0 and 1 (or booleans)")
    out: npt.NDArray[np.bool_] = arr == 1
    return out


def l1_error(a: npt.ArrayLike, b: npt.ArrayLike, mask: npt.ArrayLike | None = None) -> FloatArray:
    """Mean absolute error of each image pair on the [0, 1] scale, over all pixels or only the masked ones.

    The inpainting papers (e.g. Yu et al. 2018, contextual attention; Liu et al. 2018, partial convolutions)
    report this mean ℓ1 error in percent: multiply by 100. A mask selects pixels, and every channel of a
    selected pixel counts, so the value is sum |a - b| over selected pixels and channels divided by their
    number: with the hole as mask it scores only what the model filled in, not the copied-through context.

    Args:
        a: (N, H, W, C) images, uint8 or float in [0, 1], C = 1 or 3.
        b: Images of the same shape as ``a``.
        mask: None for every pixel, or a boolean / 0-1 array of shape (N, H, W), or (H, W) for one mask shared
            by all images; True (1) marks a pixel that counts.

    Returns:
        (N,) float64 array of errors in [0, 1].

    Raises:
        InvalidInputError: Shapes differ or are not (N, H, W, 1 or 3); values out of range or NaN; the mask
            has the wrong shape, holds values other than 0/1, or selects no pixel of some image (whose error
            would be undefined; the message names the first such image).
    """
    first, second = _image_pair(a, b)
    diff = np.abs(first - second)
    n = first.shape[0]
    if mask is None:
        out: FloatArray = diff.reshape(n, -1).mean(axis=1)
        return out
    selected = _pixel_mask(mask, first.shape)
    counts = selected.reshape(n, -1).sum(axis=1)
    if (counts == 0).any():
        raise InvalidInputError(f"mask selects no pixel of image {int(np.argmax(counts == 0))}")
    totals = (diff * selected[..., None]).reshape(n, -1).sum(axis=1)
    result: FloatArray = totals / (counts * first.shape[-1])
    return result


# --- diversity --------------------------------------------------------------------------------------------------


def _mean_pair_ssim(groups: FloatArray, weights: FloatArray, data_range: float) -> FloatArray:
    """(G,) mean SSIM over the unordered pairs i < j within each (N, H, W, C) group of a (G, N, H, W, C) stack.

    SSIM is symmetric, so the N(N - 1)/2 unordered pairs give the same mean as all ordered pairs i != j.
    """
    n_groups, n_designs = groups.shape[:2]
    left, right = np.triu_indices(n_designs, k=1)
    values = np.empty((n_groups, left.size), dtype=np.float64)
    for g in range(n_groups):
        for start in range(0, left.size, _SSIM_CHUNK):
            i, j = left[start : start + _SSIM_CHUNK], right[start : start + _SSIM_CHUNK]
            values[g, start : start + i.size] = _ssim_values(groups[g, i], groups[g, j], weights, data_range)
    out: FloatArray = values.mean(axis=1)
    return out


def mean_pairwise_ssim(images: npt.ArrayLike, *, window: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> float:
    """Mean :func:`ssim` over all N(N - 1)/2 distinct pairs of a set of images (1 when they are all the same).

    Args:
        images: (N, H, W, C) images, N >= 2, uint8 or float in [0, 1], C = 1 or 3.
        window: As for :func:`ssim`.
        sigma: As for :func:`ssim`.

    Returns:
        Mean SSIM in [-1, 1].

    Raises:
        InvalidInputError: Fewer than 2 images, or anything :func:`ssim` refuses.
    """
    arr = _images(images, "images")
    if arr.shape[0] < 2:
        raise InvalidInputError(f"images needs at least 2 images to form a pair, got shape {arr.shape}")
    size = _window(window, arr.shape[1], arr.shape[2])
    weights = _gaussian_weights(size, _positive_float(sigma, "sigma"))
    return float(_mean_pair_ssim(arr[None], weights, 1.0)[0])


def diversity(designs: npt.ArrayLike, *, window: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> float:
    """Diversity of generated designs: the "opposite mean SSIM" of the personalised-design evaluation.

    Designs generated for the same input (user, query, sketch) should differ from each other, and SSIM says
    how alike two are. For each of the G groups this takes the mean :func:`ssim` over its N(N - 1)/2 distinct
    pairs (the pairs are unordered since SSIM is symmetric; an image is never paired with itself, which would
    add 1s), then

        diversity = 1 - (1/G) Σ_g mean_pair_ssim(group g),

    i.e. the mean over groups of 1 - that group's mean pairwise SSIM. Pairs never cross groups: designs for
    different inputs are expected to differ anyway. 0 means every group is N copies of one image; SSIM lies in
    [-1, 1], so the value lies in [0, 2], and natural images give values well below 1.

    Args:
        designs: (G, N, H, W, C) images, G >= 1 groups of N >= 2 designs each, uint8 or float in [0, 1],
            C = 1 or 3.
        window: As for :func:`ssim`.
        sigma: As for :func:`ssim`.

    Returns:
        Diversity in [0, 2].

    Raises:
        InvalidInputError: Not 5-D, N < 2, or anything :func:`ssim` refuses.
    """
    arr = _images(designs, "designs", lead="G, N")
    if arr.shape[1] < 2:
        raise InvalidInputError(f"designs needs at least 2 designs per group (axis 1), got shape {arr.shape}")
    size = _window(window, arr.shape[2], arr.shape[3])
    weights = _gaussian_weights(size, _positive_float(sigma, "sigma"))
    return 1.0 - float(_mean_pair_ssim(arr, weights, 1.0).mean())
