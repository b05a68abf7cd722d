"""Image-quality metrics on hand-computable cases, closed forms, and a brute-force SSIM cross-check."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recengine.errors import InvalidInputError
from recengine.evaluation.distribution_metrics import fid, fid_from_features, frechet_distance, inception_score
from recengine.evaluation.image_metrics import (
    diversity,
    l1_error,
    mean_pairwise_ssim,
    psnr,
    ssim,
)

TIGHT = 1e-12
C1 = (0.01 * 1.0) ** 2


def _random_images(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).random(shape)


def _brute_ssim(x: np.ndarray, y: np.ndarray, window: int, sigma: float) -> float:
    """One (H, W, C) pair, every valid window position weighted by the explicit 2-D Gaussian, Wang et al. eq. 13."""
    offsets = np.arange(window) - (window - 1) / 2
    g = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * sigma**2))
    w = g / g.sum()
    c2 = 0.03**2
    values = []
    for ch in range(x.shape[2]):
        for i in range(x.shape[0] - window + 1):
            for j in range(x.shape[1] - window + 1):
                px, py = x[i : i + window, j : j + window, ch], y[i : i + window, j : j + window, ch]
                mx, my = (w * px).sum(), (w * py).sum()
                vx, vy = (w * (px - mx) ** 2).sum(), (w * (py - my) ** 2).sum()
                cxy = (w * (px - mx) * (py - my)).sum()
                values.append(((2 * mx * my + C1) * (2 * cxy + c2)) / ((mx**2 + my**2 + C1) * (vx + vy + c2)))
    return float(np.mean(values))


# --- SSIM -------------------------------------------------------------------------------------------------------


def test_ssim_of_identical_images_is_exactly_one() -> None:
    images = _random_images(0, (3, 16, 16, 3))
    assert ssim(images, images).tolist() == [1.0, 1.0, 1.0]
    as_uint8 = (images * 255).astype(np.uint8)
    assert ssim(as_uint8, as_uint8, window=7).tolist() == [1.0, 1.0, 1.0]


def test_ssim_is_symmetric() -> None:
    a, b = _random_images(1, (4, 16, 16, 3)), _random_images(2, (4, 16, 16, 3))
    assert np.array_equal(ssim(a, b), ssim(b, a))


def test_ssim_decreases_monotonically_with_noise() -> None:
    base = 0.25 + 0.5 * _random_images(3, (1, 24, 24, 3))
    noise = np.random.default_rng(4).normal(size=base.shape)
    levels = [0.0, 0.01, 0.03, 0.06, 0.1, 0.2]
    noisy = np.concatenate([np.clip(base + s * noise, 0.0, 1.0) for s in levels])
    values = ssim(np.repeat(base, len(levels), axis=0), noisy)
    assert values[0] == 1.0
    assert np.all(np.diff(values) < 0)


def test_ssim_of_constant_images_is_the_luminance_term() -> None:
    # Zero variances make the structure term (0 + C2) / (0 + C2) = 1; only rounding in E[x²] - μ² is left.
    mu_a, mu_b = 0.2, 0.7
    a, b = np.full((1, 12, 12, 3), mu_a), np.full((1, 12, 12, 3), mu_b)
    expected = (2 * mu_a * mu_b + C1) / (mu_a**2 + mu_b**2 + C1)
    assert ssim(a, b)[0] == pytest.approx(expected, rel=1e-12)
    assert ssim(a, b, window=7, sigma=0.8)[0] == pytest.approx(expected, rel=1e-12)


def test_ssim_matches_a_direct_two_d_window_computation() -> None:
    a, b = _random_images(5, (2, 10, 9, 3)), _random_images(6, (2, 10, 9, 3))
    b[1] = np.clip(a[1] + 0.05 * (b[1] - 0.5), 0, 1)  # one similar pair, one unrelated
    got = ssim(a, b, window=7)
    for n in range(2):
        assert got[n] == pytest.approx(_brute_ssim(a[n], b[n], 7, 1.5), abs=1e-12)


def test_ssim_uint8_and_float_inputs_agree_and_grey_works() -> None:
    a = np.random.default_rng(7).integers(0, 256, size=(2, 12, 12, 1), dtype=np.uint8)
    b = np.random.default_rng(8).integers(0, 256, size=(2, 12, 12, 1), dtype=np.uint8)
    assert np.allclose(ssim(a, b, window=7), ssim(a / 255.0, b / 255.0, window=7), atol=TIGHT)


@pytest.mark.parametrize(
    ("a_shape", "b_shape", "kwargs", "message"),
    [
        ((2, 16, 16, 3), (1, 16, 16, 3), {}, "same shape"),
        ((16, 16, 3), (16, 16, 3), {}, "4-D"),
        ((2, 3, 16, 16), (2, 3, 16, 16), {}, "channels first"),
        ((2, 8, 8, 3), (2, 8, 8, 3), {}, "does not fit"),
        ((2, 16, 16, 3), (2, 16, 16, 3), {"window": 8}, "odd"),
        ((2, 16, 16, 3), (2, 16, 16, 3), {"sigma": 0.0}, "sigma"),
        ((0, 16, 16, 3), (0, 16, 16, 3), {}, "empty"),
    ],
)
def test_ssim_rejects_bad_shapes_and_parameters(
    a_shape: tuple[int, ...], b_shape: tuple[int, ...], kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        ssim(np.zeros(a_shape), np.zeros(b_shape), **kwargs)  # type: ignore[arg-type]


def test_images_out_of_range_or_nan_are_refused() -> None:
    good = np.zeros((1, 8, 8, 3))
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        psnr(good - 1.0, good)
    with pytest.raises(InvalidInputError, match=r"0\.\.255"):
        psnr(np.full((1, 8, 8, 3), 300), good)
    with pytest.raises(InvalidInputError, match="NaN"):
        psnr(np.full((1, 8, 8, 3), np.nan), good)
    with pytest.raises(InvalidInputError, match="dtype"):
        psnr(good.astype(bool), good)


# --- PSNR -------------------------------------------------------------------------------------------------------


def test_psnr_of_a_known_mse() -> None:
    a = np.full((2, 4, 4, 3), 0.5)
    b = a.copy()
    b[0] += 0.1  # MSE 0.01 -> 20 dB
    b[1, :, :2] += 0.2  # half the pixels off by 0.2: MSE 0.02
    assert psnr(a, b)[0] == pytest.approx(20.0, rel=TIGHT)
    assert psnr(a, b)[1] == pytest.approx(10 * math.log10(1 / 0.02), rel=TIGHT)


def test_psnr_of_uint8_images_uses_the_unit_scale() -> None:
    a, b = np.zeros((1, 4, 4, 3), dtype=np.uint8), np.full((1, 4, 4, 3), 51, dtype=np.uint8)  # 51/255 = 0.2
    assert psnr(a, b)[0] == pytest.approx(10 * math.log10(1 / 0.04), rel=1e-12)


def test_psnr_of_identical_images_is_infinite() -> None:
    a = _random_images(9, (2, 4, 4, 3))
    b = a.copy()
    b[1, 0, 0, 0] = 0.0 if a[1, 0, 0, 0] > 0.5 else 1.0
    values = psnr(a, b)
    assert values[0] == math.inf
    assert math.isfinite(values[1])


# --- L1 ---------------------------------------------------------------------------------------------------------


def test_l1_without_mask() -> None:
    a = np.zeros((2, 2, 2, 1))
    b = np.array([[[[0.4], [0.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.5], [0.5]]]])
    assert l1_error(a, b).tolist() == pytest.approx([0.1, 0.75], rel=TIGHT)


def test_l1_with_mask_counts_only_selected_pixels_and_all_their_channels() -> None:
    a = np.zeros((2, 2, 2, 3))
    b = np.zeros((2, 2, 2, 3))
    b[0, 0, 0] = [0.3, 0.6, 0.9]  # inside image 0's mask
    b[0, 1, 1] = [1.0, 1.0, 1.0]  # outside it
    b[1, 1, 0] = [0.2, 0.2, 0.2]
    mask = np.array([[[1, 1], [0, 0]], [[0, 0], [1, 1]]])
    # image 0: (0.3 + 0.6 + 0.9) / (2 pixels x 3 channels); image 1: 0.6 / 6.
    assert l1_error(a, b, mask).tolist() == pytest.approx([0.3, 0.1], rel=TIGHT)
    assert l1_error(a, b, mask.astype(bool)).tolist() == pytest.approx([0.3, 0.1], rel=TIGHT)
    # One (H, W) mask shared by both images.
    shared = np.array([[True, False], [True, False]])
    assert l1_error(a, b, shared).tolist() == pytest.approx([0.3, 0.1], rel=TIGHT)


def test_l1_mask_problems_are_refused() -> None:
    a = np.zeros((2, 2, 2, 3))
    with pytest.raises(InvalidInputError, match="no pixel of image 1"):
        l1_error(a, a, np.array([[[1, 0], [0, 0]], [[0, 0], [0, 0]]]))
    with pytest.raises(InvalidInputError, match="only 0 and 1"):
        l1_error(a, a, np.full((2, 2), 0.5))
    with pytest.raises(InvalidInputError, match="mask must have shape"):
        l1_error(a, a, np.ones((2, 2, 2, 3)))


# --- diversity --------------------------------------------------------------------------------------------------


def test_diversity_of_identical_designs_is_zero() -> None:
    one = _random_images(10, (1, 1, 12, 12, 3))
    designs = np.repeat(np.repeat(one, 3, axis=1), 2, axis=0)
    assert diversity(designs, window=7) == 0.0
    assert mean_pairwise_ssim(designs[0], window=7) == 1.0


def test_diversity_is_one_minus_the_mean_pairwise_ssim_per_group() -> None:
    designs = _random_images(11, (2, 3, 12, 12, 3))
    designs[1, 1] = np.clip(designs[1, 0] + 0.05, 0, 1)  # a near-copy in group 1
    per_group = []
    for g in range(2):
        pairs = [ssim(designs[g, i : i + 1], designs[g, j : j + 1], window=7)[0] for i, j in ((0, 1), (0, 2), (1, 2))]
        per_group.append(float(np.mean(pairs)))
        assert mean_pairwise_ssim(designs[g], window=7) == pytest.approx(per_group[-1], rel=TIGHT)
    value = diversity(designs, window=7)
    assert value == pytest.approx(1 - np.mean(per_group), rel=TIGHT)
    assert 0 < value <= 2


def test_diversity_of_inverted_designs_exceeds_one_but_not_two() -> None:
    base = 0.25 + 0.5 * _random_images(12, (1, 12, 12, 3))
    designs = np.stack([np.concatenate([base, 1.0 - base])])  # anti-correlated pair: negative SSIM
    assert 1 < diversity(designs, window=7) <= 2


def test_diversity_needs_groups_of_at_least_two() -> None:
    with pytest.raises(InvalidInputError, match="at least 2 designs"):
        diversity(np.zeros((3, 1, 12, 12, 3)), window=7)
    with pytest.raises(InvalidInputError, match="5-D"):
        diversity(np.zeros((3, 12, 12, 3)), window=7)
    with pytest.raises(InvalidInputError, match="at least 2 images"):
        mean_pairwise_ssim(np.zeros((1, 12, 12, 3)), window=7)


# --- Fréchet distance -------------------------------------------------------------------------------------------


def test_frechet_distance_of_equal_identity_gaussians_is_the_squared_mean_gap() -> None:
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, -1.0, 2.5])
    assert frechet_distance(mu1, np.eye(3), mu2, np.eye(3)) == pytest.approx(1 + 4 + 0.25, rel=1e-9)
    assert frechet_distance(mu1, np.eye(3), mu1, np.eye(3)) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_of_diagonal_gaussians_matches_the_closed_form() -> None:
    # Commuting covariances: Tr(Σ1 + Σ2 - 2 (Σ1 Σ2)^½) = Σ (sqrt(a_i) - sqrt(b_i))².
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = 0.5**2 + float(((np.sqrt(a) - np.sqrt(b)) ** 2).sum())
    mu2 = np.array([0.5, 0.0, 0.0])
    assert frechet_distance(np.zeros(3), np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_is_symmetric_and_grows_with_the_mean_shift() -> None:
    rng = np.random.default_rng(13)
    m1, m2 = rng.normal(size=(40, 4)), rng.normal(size=(40, 4))
    s1, s2 = m1.T @ m1 / 40, m2.T @ m2 / 40
    mu = rng.normal(size=4)
    assert frechet_distance(mu, s1, -mu, s2) == pytest.approx(frechet_distance(-mu, s2, mu, s1), rel=1e-9)
    direction = np.ones(4) / 2
    shifts = [frechet_distance(mu, s1, mu + t * direction, s2) for t in (0.0, 0.5, 1.0, 2.0)]
    assert np.all(np.diff(shifts) > 0)


def test_frechet_distance_rejects_bad_shapes_and_indefinite_covariances() -> None:
    with pytest.raises(InvalidInputError, match=r"mu2 must have shape \(2,\)"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(InvalidInputError, match=r"sigma2 must have shape \(2, 2\)"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(3))
    with pytest.raises(InvalidInputError, match="NaN or infinite"):
        frechet_distance(np.zeros(2), np.eye(2), np.array([0.0, np.inf]), np.eye(2))
    with pytest.raises(InvalidInputError, match="positive semi-definite"):
        frechet_distance(np.zeros(2), -np.eye(2), np.zeros(2), np.eye(2))


def test_fid_from_features_of_identical_sets_is_zero_even_when_singular() -> None:
    rng = np.random.default_rng(14)
    features = rng.normal(size=(200, 8))
    assert fid_from_features(features, features) == pytest.approx(0.0, abs=1e-6)
    few = rng.normal(size=(5, 16))  # N < D: rank-deficient covariances
    assert fid_from_features(few, few) == pytest.approx(0.0, abs=1e-6)


def test_a_dead_feature_dimension_takes_the_offset_path_and_costs_only_its_mean_gap() -> None:
    # A constant feature makes Σ1 Σ2 exactly singular (scipy warns); the ε I offset then changes the value by O(ε).
    rng = np.random.default_rng(20)
    real, fake = rng.normal(size=(50, 4)), rng.normal(size=(60, 4)) + 0.3
    real[:, 3], fake[:, 3] = 1.0, 2.0
    assert fid_from_features(real, real) == pytest.approx(0.0, abs=1e-6)
    live = fid_from_features(real[:, :3], fake[:, :3])
    assert fid_from_features(real, fake) == pytest.approx(live + 1.0, abs=1e-5)
    # Diagonal closed form with a zero variance: (1 - 2)² from the live axis, nothing from the dead one.
    assert frechet_distance(np.zeros(2), np.diag([1.0, 0.0]), np.zeros(2), np.diag([4.0, 0.0])) == pytest.approx(
        1.0, abs=1e-5
    )


def test_fid_from_features_is_symmetric_and_close_to_the_gaussian_closed_form() -> None:
    rng = np.random.default_rng(15)
    real = rng.normal(size=(4000, 3))
    fake = rng.normal(size=(3000, 3)) + np.array([1.0, 0.0, -1.0])
    value = fid_from_features(real, fake)
    assert value == pytest.approx(fid_from_features(fake, real), rel=1e-9)
    assert value == pytest.approx(2.0, abs=0.15)  # ||μ1 - μ2||² = 2, identity covariances up to sampling


def test_fid_from_features_rejects_bad_shapes() -> None:
    with pytest.raises(InvalidInputError, match="3 feature dimensions but f_fake has 4"):
        fid_from_features(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(InvalidInputError, match="at least 2 samples"):
        fid_from_features(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(InvalidInputError, match=r"\(N, D\)"):
        fid_from_features(np.zeros(3), np.zeros((5, 3)))


def _channel_stats(batch: np.ndarray) -> np.ndarray:
    """A stand-in extractor: per-channel means and standard deviations, (B, 6)."""
    assert batch.dtype == np.float32 and batch.min() >= 0 and batch.max() <= 1
    return np.concatenate([batch.mean(axis=(1, 2)), batch.std(axis=(1, 2))], axis=1)


def test_fid_runs_any_extractor_in_batches() -> None:
    real = (_random_images(16, (20, 8, 8, 3)) * 255).astype(np.uint8)
    fake = _random_images(17, (15, 8, 8, 3)) ** 2
    expected = fid_from_features(_channel_stats(real / np.float32(255)), _channel_stats(fake.astype(np.float32)))
    assert fid(real, fake, _channel_stats, batch_size=4) == pytest.approx(expected, rel=1e-5)
    assert fid(real, real, _channel_stats) == pytest.approx(0.0, abs=1e-6)


def test_fid_rejects_bad_extractor_output() -> None:
    images = _random_images(18, (6, 8, 8, 3))
    with pytest.raises(InvalidInputError, match="feature rows"):
        fid(images, images, lambda batch: np.zeros((1, 4)))
    with pytest.raises(InvalidInputError, match=r"\(B, D\)"):
        fid(images, images, lambda batch: np.zeros(len(batch)))
    with pytest.raises(InvalidInputError, match="dimensions"):
        fid(images, images, lambda batch: np.zeros((len(batch), 2 + len(batch))), batch_size=4)


# --- Inception Score --------------------------------------------------------------------------------------------


def test_inception_score_of_identical_predictions_is_one() -> None:
    probs = np.tile([0.7, 0.2, 0.1], (20, 1))
    assert inception_score(probs, splits=4) == (1.0, 0.0)


def test_inception_score_of_confident_uniform_predictions_is_the_class_count() -> None:
    probs = np.tile(np.eye(5), (4, 1))  # 20 one-hot rows, every class 4 times
    mean, std = inception_score(probs, splits=1)
    assert mean == pytest.approx(5.0, rel=TIGHT)
    assert std == 0.0
    mean, std = inception_score(probs, splits=4)  # each split holds each class once
    assert mean == pytest.approx(5.0, rel=TIGHT)
    assert std == pytest.approx(0.0, abs=TIGHT)


def test_inception_score_lies_between_one_and_c_for_mixed_predictions() -> None:
    logits = np.random.default_rng(19).normal(size=(50, 6)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    mean, std = inception_score(probs.astype(np.float32), splits=5)
    assert 1 < mean < 6
    assert std > 0


@pytest.mark.parametrize(
    ("probs", "splits", "message"),
    [
        (np.full(4, 0.25), 1, r"\(N, C\)"),
        (np.zeros((0, 3)), 1, "empty"),
        (np.array([[0.5, 0.6], [0.5, 0.5]]), 1, "row 0 sums to 1.1"),
        (np.array([[1.5, -0.5], [0.5, 0.5]]), 1, "negative"),
        (np.eye(3), 4, "more than the 3 rows"),
        (np.eye(3), 0, ">= 1"),
    ],
)
def test_inception_score_rejects_bad_input(probs: np.ndarray, splits: int, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        inception_score(probs, splits=splits)
