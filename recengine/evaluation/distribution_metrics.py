"""Distribution metrics of generated image sets, on the features of any extractor, in numpy and scipy.

* :func:`frechet_distance`, :func:`fid_from_features`, :func:`fid`: Fréchet (Inception) distance (Heusel et al.
  2017) on the features of any extractor.
* :func:`inception_score`: Inception Score (Salimans et al. 2016) from any classifier's class probabilities.

ImageNet Inception weights are not available here: recengine passes the features (and class probabilities)
of its own trained catalogue network, so values compare only between runs with the same extractor and set
sizes. Images follow :mod:`recengine.evaluation.image_metrics`'s convention.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import scipy.linalg

from recengine.errors import InvalidInputError
from recengine.evaluation.image_metrics import _image_stack, _unit_float
from recengine.evaluation.metrics import FloatArray, _as_array, _positive_int

FeatureExtractor: TypeAlias = Callable[[npt.NDArray[np.float32]], npt.ArrayLike]

_PROBABILITY_SUM_TOLERANCE = 1e-3
_SQRTM_OFFSET = 1e-6
_SQRTM_IMAGINARY_TOLERANCE = 1e-3


# --- Fréchet distance -------------------------------------------------------------------------------------------


def _finite_array(values: object, name: str, shape: str, ndim: int) -> FloatArray:
    """A finite float64 array of ``ndim`` dimensions (``shape`` describes it in messages)."""
    arr = _as_array(values, name)
    if arr.dtype.kind not in "biuf":
        raise InvalidInputError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise InvalidInputError(f"{name} must be {shape}, got shape {arr.shape}")
    out = arr.astype(np.float64)
    if not np.isfinite(out).all():
        raise InvalidInputError(f"{name} contains {int((~np.isfinite(out)).sum())} NaN or infinite value(s)")
    return out


def _sqrtm(matrix: FloatArray) -> tuple[npt.NDArray[Any], bool]:
    """scipy's matrix square root, and whether it was computed without trouble (finite, not flagged singular)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", scipy.linalg.LinAlgWarning)
        root = np.asarray(scipy.linalg.sqrtm(matrix))
    singular = any(issubclass(w.category, scipy.linalg.LinAlgWarning) for w in caught)
    return root, bool(np.isfinite(root).all()) and not singular


def frechet_distance(mu1: npt.ArrayLike, sigma1: npt.ArrayLike, mu2: npt.ArrayLike, sigma2: npt.ArrayLike) -> float:
    """Fréchet distance between the Gaussians N(μ1, Σ1) and N(μ2, Σ2), the quantity behind FID.

    d² = ||μ1 - μ2||² + Tr(Σ1 + Σ2 - 2 (Σ1 Σ2)^½) (Dowson & Landau 1982; used as FID by Heusel, Ramsauer,
    Unterthiner, Nessler, Hochreiter, "GANs trained by a two time-scale update rule converge to a local Nash
    equilibrium", NeurIPS 2017). (Σ1 Σ2)^½ is scipy.linalg.sqrtm's. When Σ1 Σ2 is singular (fewer samples
    than feature dimensions, dead features) sqrtm is unreliable, so, as in the reference implementation, ε I
    with ε = 1e-6 is added; unlike that code it is added to both covariances everywhere, not only inside the
    square root, so a distribution's distance to itself stays 0 instead of becoming -2 ε D. Rounding leaves
    sqrtm a tiny imaginary part, which is dropped; a large one (beyond 1e-3 of the diagonal's scale) means
    the covariances are not positive semi-definite and is refused. A result below 0, which only rounding
    can produce, is returned as 0.

    Args:
        mu1: (D,) mean of the first distribution.
        sigma1: (D, D) covariance of the first distribution (symmetric positive semi-definite).
        mu2: (D,) mean of the second distribution.
        sigma2: (D, D) covariance of the second distribution.

    Returns:
        The squared Fréchet distance, >= 0 (FID reports this squared value).

    Raises:
        InvalidInputError: Shapes disagree or are not (D,) / (D, D), D >= 1; NaN or infinite entries; the
            square root has a large imaginary part (covariances not positive semi-definite).
    """
    m1 = _finite_array(mu1, "mu1", "(D,)", ndim=1)
    m2 = _finite_array(mu2, "mu2", "(D,)", ndim=1)
    dim = m1.size
    if dim == 0:
        raise InvalidInputError("mu1 is empty: the distributions need at least one dimension")
    if m2.shape != (dim,):
        raise InvalidInputError(f"mu2 must have shape ({dim},) to match mu1, got {m2.shape}")
    s1 = _finite_array(sigma1, "sigma1", "(D, D)", ndim=2)
    s2 = _finite_array(sigma2, "sigma2", "(D, D)", ndim=2)
    for name, s in (("sigma1", s1), ("sigma2", s2)):
        if s.shape != (dim, dim):
            raise InvalidInputError(f"{name} must have shape ({dim}, {dim}) to match the means, got {s.shape}")
    root, ok = _sqrtm(s1 @ s2)
    if not ok:
        offset = _SQRTM_OFFSET * np.eye(dim)
        s1, s2 = s1 + offset, s2 + offset
        root, _ = _sqrtm(s1 @ s2)
    if np.iscomplexobj(root):
        diagonal = np.diagonal(root)
        scale = max(1.0, float(np.abs(diagonal.real).max()))
        worst = float(np.abs(diagonal.imag).max())
        if worst > _SQRTM_IMAGINARY_TOLERANCE * scale:
            raise InvalidInputError(
                f"sqrt(sigma1 @ sigma2) has an imaginary diagonal part up to {worst:g}: "
                "the covariances are not positive semi-definite"
            )
        root = root.real
    diff = m1 - m2
    distance = float(diff @ diff) + float(np.trace(s1) + np.trace(s2) - 2.0 * np.trace(root))
    return max(distance, 0.0)


def _gaussian_fit(features: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Mean and (D, D) sample covariance (N - 1 normaliser, as the FID reference code) of (N, D) features."""
    mean: FloatArray = features.mean(axis=0)
    covariance: FloatArray = np.atleast_2d(np.cov(features, rowvar=False))
    return mean, covariance


def _feature_matrix(values: object, name: str) -> FloatArray:
    """(N, D) finite features, N >= 2 (a covariance needs two samples), D >= 1."""
    arr = _finite_array(values, name, "(N, D)", ndim=2)
    if arr.shape[0] < 2:
        raise InvalidInputError(f"{name} needs at least 2 samples to estimate a covariance, got shape {arr.shape}")
    if arr.shape[1] == 0:
        raise InvalidInputError(f"{name} has no feature dimensions (shape {arr.shape})")
    return arr


def fid_from_features(f_real: npt.ArrayLike, f_fake: npt.ArrayLike) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID when the features are Inception's).

    Each set is summarised by its mean and sample covariance and compared with :func:`frechet_distance`. The
    estimate is biased upwards for small sets (the bias shrinks as 1/N), so only compare values computed with
    the same set sizes and the same extractor. With N <= D the covariances are singular; the ε I offset of
    :func:`frechet_distance` then applies.

    Args:
        f_real: (N, D) features of real images, N >= 2.
        f_fake: (M, D) features of generated images, M >= 2, same D.

    Returns:
        The squared Fréchet distance, >= 0; 0 (up to rounding, ~1e-6) for identical sets.

    Raises:
        InvalidInputError: Not 2-D, fewer than 2 rows, different D, NaN or infinite entries.
    """
    real = _feature_matrix(f_real, "f_real")
    fake = _feature_matrix(f_fake, "f_fake")
    if real.shape[1] != fake.shape[1]:
        raise InvalidInputError(f"f_real has {real.shape[1]} feature dimensions but f_fake has {fake.shape[1]}")
    mu1, sigma1 = _gaussian_fit(real)
    mu2, sigma2 = _gaussian_fit(fake)
    return frechet_distance(mu1, sigma1, mu2, sigma2)


def _extract(images: object, name: str, extractor: FeatureExtractor, batch_size: int) -> FloatArray:
    """Features of validated images, converted to float32 [0, 1] and fed to ``extractor`` one batch at a time."""
    stack = _image_stack(images, name, "N")
    parts: list[FloatArray] = []
    for start in range(0, stack.shape[0], batch_size):
        batch = _unit_float(stack[start : start + batch_size], name, np.float32)
        features = _finite_array(extractor(batch), f"extractor output for {name}", "(B, D)", ndim=2)
        if features.shape[0] != batch.shape[0]:
            raise InvalidInputError(
                f"extractor returned {features.shape[0]} feature rows for a batch of {batch.shape[0]} {name}"
            )
        if parts and features.shape[1] != parts[0].shape[1]:
            raise InvalidInputError(f"extractor returned {features.shape[1]} and {parts[0].shape[1]} dimensions")
        parts.append(features)
    return np.concatenate(parts, axis=0)


def fid(
    real_images: npt.ArrayLike,
    fake_images: npt.ArrayLike,
    extractor: FeatureExtractor,
    *,
    batch_size: int = 64,
) -> float:
    """Fréchet distance between real and generated images in the feature space of ``extractor``.

    FID proper (Heusel et al. 2017) uses the 2048-d pool features of an ImageNet Inception-v3. Those weights
    are not available here, so any extractor is accepted: recengine passes the features of its own trained
    network. The number is then an FID analogue on that network's features; it is comparable between models
    evaluated with the same extractor and set sizes, never with published FIDs.

    Images are validated, converted to the [0, 1] convention and handed to ``extractor`` ``batch_size`` at a
    time (the whole set is never held as floats at once).

    Args:
        real_images: (N, H, W, C) real images, N >= 2, uint8 or float in [0, 1], C = 1 or 3.
        fake_images: (M, H', W', C') generated images, M >= 2; sizes need not match the real ones if the
            extractor accepts both.
        extractor: Called with a float32 (B, H, W, C) numpy array in [0, 1], channels last; returns (B, D)
            features as anything ``np.asarray`` accepts (a numpy array, a CPU torch tensor without grad).
            Resizing, normalising and moving to a device are its job.
        batch_size: Images per extractor call, >= 1.

    Returns:
        The squared Fréchet distance between the two feature distributions, >= 0.

    Raises:
        InvalidInputError: Bad images (as for :func:`ssim`), fewer than 2 images in a set, or extractor output
            that is not finite (B, D) with one row per image and the same D throughout.
    """
    size = _positive_int(batch_size, "batch_size")
    real = _extract(real_images, "real_images", extractor, size)
    fake = _extract(fake_images, "fake_images", extractor, size)
    return fid_from_features(real, fake)


# --- Inception Score --------------------------------------------------------------------------------------------


def inception_score(probs: npt.ArrayLike, splits: int = 10) -> tuple[float, float]:
    """Inception Score from class probabilities: exp(E_x KL(p(y|x) || p(y))) (Salimans et al., NeurIPS 2016).

    p(y) is the mean of the rows p(y|x) within a split. The score is high when each image is classified
    confidently (low-entropy rows) and the classes are used evenly (high-entropy p(y)); it ranges from 1
    (every image gets the same distribution) to C (confident and uniform over the C classes). As in the
    reference code the N rows are cut into ``splits`` consecutive parts, the score is computed on each and
    their mean and (population) standard deviation are returned; np.array_split keeps every row, the parts
    differing in size by at most one. Any classifier's probabilities may be used (an Inception-Score analogue
    on recengine's own classifier), comparable only between runs with the same classifier and set sizes.

    Args:
        probs: (N, C) class probabilities, rows non-negative and summing to 1 (within 1e-3, e.g. float32
            softmax output; rows are renormalised).
        splits: Number of parts, 1 <= splits <= N.

    Returns:
        (mean, std) of the per-split scores; each score lies in [1, C].

    Raises:
        InvalidInputError: Not 2-D, empty, negative, NaN or infinite entries, rows not summing to 1,
            splits < 1 or > N.
    """
    arr = _finite_array(probs, "probs", "(N, C)", ndim=2)
    if 0 in arr.shape:
        raise InvalidInputError(f"probs is empty: shape {arr.shape}")
    if (arr < 0.0).any():
        raise InvalidInputError(f"probs holds {int((arr < 0.0).sum())} negative value(s)")
    sums = arr.sum(axis=1)
    off = np.abs(sums - 1.0) > _PROBABILITY_SUM_TOLERANCE
    if off.any():
        row = int(np.argmax(off))
        raise InvalidInputError(f"probs rows must sum to 1 (softmax output), row {row} sums to {float(sums[row]):g}")
    arr = arr / sums[:, None]
    parts = _positive_int(splits, "splits")
    if parts > arr.shape[0]:
        raise InvalidInputError(f"splits = {parts} is more than the {arr.shape[0]} rows of probs")
    scores = np.empty(parts, dtype=np.float64)
    for k, part in enumerate(np.array_split(arr, parts, axis=0)):
        marginal = part.mean(axis=0, keepdims=True)
        # 0 log 0 = 0; a row's positive entries always have a positive marginal, which averages that row.
        positive = part > 0.0
        ratio = np.divide(part, marginal, out=np.ones_like(part), where=positive)
        kl = (part * np.log(ratio)).sum(axis=1)
        scores[k] = math.exp(float(kl.mean()))
    return float(scores.mean()), float(scores.std())
