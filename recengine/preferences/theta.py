"""Fitting θu for a user the networks never saw (seed Sec. 4.5): F and M frozen, only θu learned.

The loss is the seed's L_FM (Eq. 10) over the user's positives against Eq. 6 and Eq. 7 negatives, weighted as
the model was trained (``weights``, one per negative column), plus a Gaussian prior towards the population mean
θ̄ that keeps a user with few examples near the average taste:

    L(θ) = mean_i Σ_k w_k −ln σ(M(θ ⊙ z_q,i ⊙ z_c,i) − M(θ ⊙ z⁻_o,ik)) + (prior / P) · ‖θ − θ̄‖² / dim

over the user's P positives: the MAP estimate under that prior (the sum of the P losses plus a fixed penalty,
divided by P), so ``prior`` is the prior's weight counted in examples. It dominates a fit from one outfit and
fades as the history grows; a constant weight instead held users with hundreds of outfits near the average
(the newcomers' personalised FITB fell to 0.86 of the joint users'; docs/decisions.md).

Optimised with L-BFGS (strong Wolfe line search) by default: a smooth problem in z_dim unknowns, which it
solves in ~50 loss evaluations where Adam took its 300 steps (5x less time per user at the same quality,
measured in docs/decisions.md). ``method="adam"`` keeps the earlier optimiser, which stops early when the loss
has not improved by ``tol`` for ``patience`` steps. Either way ``steps`` bounds the loss evaluations and the
θ with the lowest loss seen is returned. Everything works on precomputed item embeddings.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from recengine.devices import torch_threads
from recengine.errors import InvalidInputError
from recengine.nets.compatibility import CompatibilityModel

FloatArray = NDArray[np.float64]
Progress = Callable[[int, int | None], None]
FIT_METHODS = ("lbfgs", "adam")


@dataclass(frozen=True)
class FitConfig:
    steps: int = 300
    lr: float = 0.05
    prior: float = 0.5  # in examples: the prior weighs as much as half a positive's loss
    patience: int = 20
    tol: float = 1e-4
    negatives_per_positive: int = 16
    seed: int = 0
    method: str = "lbfgs"  # or "adam" (lr, patience and tol are Adam's)

    def __post_init__(self) -> None:
        if self.method not in FIT_METHODS:
            raise InvalidInputError(f"method must be one of {', '.join(FIT_METHODS)}, got {self.method!r}")


DEFAULT_FIT = FitConfig()


@dataclass(frozen=True)
class FitResult:
    theta: FloatArray  # (z_dim,)
    loss: float
    steps: int
    n_examples: int
    seconds: float
    is_prior: bool


def population_prior(model: CompatibilityModel) -> FloatArray:
    """θ̄: the mean θu of the users the model was trained with."""
    if model.theta is None:
        raise InvalidInputError("this model has no user preference vectors (trained without θu)")
    mean: FloatArray = model.theta.weight.detach().double().mean(dim=0).numpy()
    return mean


@contextlib.contextmanager
def _frozen(model: CompatibilityModel) -> Iterator[None]:
    """F and M stay fixed during a fit; their requires_grad flags are restored afterwards."""
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(flag)


def fit_theta(model: CompatibilityModel, z_pos: torch.Tensor, z_neg: torch.Tensor, *,
              config: FitConfig = DEFAULT_FIT, progress: Progress | None = None,
              weights: torch.Tensor | None = None) -> FitResult:  # fmt: skip
    """Fit θu from latent outfits.

    Args:
        model: Trained model with θu; its parameters are not changed.
        z_pos: (P, z_dim) z_q ⊙ z_c of the user's positive outfits.
        z_neg: (P, K, z_dim) z_o of K negatives per positive (Eq. 6 and Eq. 7 outfits).
        config: Optimisation settings.
        progress: Called with (step, max steps) every 10 steps, then (steps taken, steps taken) at the end.
        weights: (K,) non-negative weight of each negative column, summing to 1; None: all equal.

    Returns:
        The fitted θu; with no positives, the population prior flagged ``is_prior``.
    """
    start = time.perf_counter()
    prior = torch.as_tensor(population_prior(model), dtype=torch.float32)
    if len(z_pos) == 0:
        return FitResult(prior.double().numpy(), float("nan"), 0, 0, time.perf_counter() - start, True)
    dim = model.config.z_dim
    shapes_ok = z_pos.ndim == 2 and z_neg.ndim == 3 and z_neg.shape[0] == z_pos.shape[0]
    if not shapes_ok or {z_pos.shape[1], z_neg.shape[2]} != {dim}:
        raise InvalidInputError(
            f"latents do not match: expected positives (P, {dim}) and negatives (P, K, {dim}), "
            f"got {tuple(z_pos.shape)} and {tuple(z_neg.shape)}"
        )
    k = z_neg.shape[1]
    w = torch.full((k,), 1.0 / k) if weights is None else torch.as_tensor(weights, dtype=torch.float32)
    if w.shape != (k,) or bool((w < 0).any()) or abs(float(w.sum()) - 1.0) > 1e-4:
        raise InvalidInputError(f"weights must be {k} non-negative numbers summing to 1, got {w.tolist()}")
    pull = config.prior / len(z_pos)
    theta = prior.clone().requires_grad_(True)
    best, best_theta, since, step = float("inf"), prior.clone(), 0, 0

    def objective() -> torch.Tensor:
        nonlocal best, best_theta, since, step
        pos = model.score_latent(z_pos, theta)[:, None]
        neg = model.score_latent(z_neg, theta)
        margin = -torch.nn.functional.logsigmoid(pos - neg)  # (P, K)
        loss = (margin * w).sum(dim=1).mean() + pull * ((theta - prior) ** 2).mean()
        value = loss.item()
        if value < best - config.tol:  # the loss belongs to θ before any update that follows
            best, best_theta, since = value, theta.detach().clone(), 0
        else:
            since += 1
        step += 1
        if progress is not None and step % 10 == 0:
            progress(step, config.steps)
        return loss

    with torch_threads(1), _frozen(model):
        if config.method == "lbfgs":
            optimiser: torch.optim.Optimizer = torch.optim.LBFGS(
                [theta],
                lr=1.0,
                max_iter=config.steps,
                max_eval=config.steps,
                line_search_fn="strong_wolfe",
                tolerance_grad=1e-6,
                tolerance_change=1e-7,  # the measured setting (docs/decisions.md)
            )

            def closure() -> torch.Tensor:
                optimiser.zero_grad()
                loss = objective()
                loss.backward()  # type: ignore[no-untyped-call]
                return loss

            optimiser.step(closure)  # type: ignore[arg-type]  # LBFGS takes a closure returning the loss tensor
        else:
            optimiser = torch.optim.Adam([theta], lr=config.lr)
            while step < config.steps and since < config.patience:
                optimiser.zero_grad()
                objective().backward()  # type: ignore[no-untyped-call]
                optimiser.step()
    if progress is not None:  # the end, whenever the fit stopped: the steps it took are its whole work
        progress(step, step)
    return FitResult(best_theta.double().numpy(), best, step, len(z_pos), time.perf_counter() - start, False)
