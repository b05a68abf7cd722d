"""Training recipe of the clothing inpainting model (DPConv / PConv): the seed's Sec. 3.3 and 4.1.

Reference: Kınlı, Özcan, Kıraç, "A Benchmark for Inpainting of Clothing Images with Irregular Holes" (2020).

One iteration on a batch of catalogue photos I (horizontally flipped at random, the seed's only augmentation)
with free-form stroke masks m̂ (:func:`recengine.inpainting.masks.random_stroke_mask`; a hole-ratio bucket
[0, .2), [.2, .4) or [.4, .6] drawn uniformly, every mask erasing part of the garment, as the seed's heuristic):

1. G fills the masked input: I_out = G(I ⊙ m̂, m̂), I_comp = m̂ ⊙ I + (1 - m̂) ⊙ I_out;
2. D takes one Adam step on Eq. 13 between I and I_out (detached), with the seed's noisy labels (real targets
   uniform in [0.7, 1.2], fake in [0, 0.3], swapped with probability 0.1);
3. G takes one Adam step on Eq. 5: 10 L_pixel + 120 L_style + 1e-3 L_adv + 1e-4 L_tv (D frozen), with the style
   loss on I_out and I_comp (Eq. 11) through the frozen feature network of :mod:`recengine.training.
   inpaint_losses` (default: recengine's catalogue network standing in for ImageNet VGG16; see there).

Optimisers: Adam, β = (0.5, 0.9), G at the trainer's lr (the seed: 2e-4) and D at ``d_lr`` (the seed: 1e-4);
constant rates (the seed gives no schedule). Evaluation on held-out photos (5% of items by a hash of the id)
with fixed masks per bucket: ℓ1 error (%), PSNR and SSIM of I_comp against I (the seed's Table 1 metrics but
the Inception Score), plus a PNG grid of input-with-hole / output / composite / truth.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from recengine.datasets.image_cache import to_tensor
from recengine.errors import InvalidInputError
from recengine.evaluation.image_metrics import l1_error, psnr, ssim
from recengine.inpainting.masks import MASK_BUCKETS, garment_foreground, random_stroke_mask
from recengine.nets.inpainting import InpaintingModel
from recengine.training.designer_recipe import frozen, to_uint8
from recengine.training.inpaint_losses import (
    InpaintLossWeights,
    discriminator_loss,
    generator_adversarial_loss,
    noisy_targets,
    perceptual_loss,
    pixel_losses,
    style_loss,
    tv_loss,
)
from recengine.training.trainer import TrainConfig, optimizer_step
from recengine.viz import Tile, save_grid

HOLE_GREY = 128  # how a hole is drawn in the sample grids' input column


@dataclass
class InpaintBatch:
    rows: torch.Tensor  # (B,) row numbers into the image array
    flip: torch.Tensor  # (B,) bool: mirror this photo
    masks: torch.Tensor  # (B, 1, S, S) float32, 1 = known pixel


def stroke_mask(image: NDArray[np.uint8], rng: np.random.Generator) -> NDArray[np.uint8]:
    """(S, S) uint8 mask (1 = known) for one (S, S, 3) photo: bucket drawn uniformly, part of the garment erased
    (any part of the image when the photo shows no foreground)."""
    bucket = MASK_BUCKETS[int(rng.integers(len(MASK_BUCKETS)))]
    garment = garment_foreground(image)
    size = (image.shape[0], image.shape[1])
    if garment.any():
        try:
            return random_stroke_mask(size, bucket, rng, garment=garment)
        except InvalidInputError:  # a garment too small to reach the required erased fraction in this bucket
            pass
    return random_stroke_mask(size, bucket, rng)


class InpaintRecipe:
    """See the module docstring. ``images`` (N, S, S, 3) uint8 (a memory map is fine); ``valid`` (N,) bool marks
    the held-out rows; ``features`` is the frozen Ψ returning a list of activations."""

    family = "inpainting"

    def __init__(self, model: InpaintingModel, images: NDArray[np.uint8], valid: NDArray[np.bool_],
                 features: nn.Module, *, weights: InpaintLossWeights | None = None, d_lr: float = 1e-4,
                 eval_images: int = 64, sample_rows: int = 6, samples_dir: Path | None = None,
                 name: str = "inpainting", seed: int = 0, extra: dict[str, Any] | None = None) -> None:  # fmt: skip
        if images.shape[1:3] != (model.config.image_size,) * 2:
            raise InvalidInputError(f"images are {images.shape[1:3]}, the model takes {model.config.image_size}")
        self.model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.images = images
        self.features = features
        self.weights = weights or InpaintLossWeights()
        self.d_lr, self.samples_dir, self.name, self.seed = d_lr, samples_dir, name, seed
        self.sample_rows, self.extra = sample_rows, extra or {}
        self.train_rows = torch.as_tensor(np.flatnonzero(~valid))
        if len(self.train_rows) == 0:
            raise InvalidInputError("no training images (every item is held out)")
        self.eval_rows = np.flatnonzero(valid)[:eval_images]
        rng = np.random.default_rng(seed)  # the same masks at every evaluation
        size = (model.config.image_size, model.config.image_size)
        self.eval_masks = {b.name: np.array([random_stroke_mask(size, b, rng) for _ in self.eval_rows], np.uint8)
                           for b in MASK_BUCKETS}  # fmt: skip
        self._optimizers: dict[str, torch.optim.Optimizer] = {}
        self._labels = torch.Generator().manual_seed(seed + 1)

    def optimizers(self, config: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        m = self.model
        self._optimizers = {
            "generator": torch.optim.Adam(m.generator.parameters(), lr=config.lr, betas=config.betas),
            "discriminator": torch.optim.Adam(m.discriminator.parameters(), lr=self.d_lr, betas=config.betas),
        }
        return self._optimizers

    def batches(self, generator: torch.Generator, batch_size: int) -> Iterator[InpaintBatch]:
        while True:
            rows = self.train_rows[torch.randint(0, len(self.train_rows), (batch_size,), generator=generator)]
            flip = torch.rand(batch_size, generator=generator) < 0.5
            rng = np.random.default_rng(int(torch.randint(0, 2**62, (), generator=generator)))
            photos = self.images[rows.numpy()]
            masks = [stroke_mask(p[:, ::-1] if f else p, rng) for p, f in zip(photos, flip.tolist(), strict=True)]
            yield InpaintBatch(rows, flip, torch.as_tensor(np.stack(masks)).unsqueeze(1).float())

    def pixels(self, rows: torch.Tensor | NDArray[np.int64], flip: torch.Tensor | None = None) -> torch.Tensor:
        x = to_tensor(self.images[np.asarray(rows)])
        if flip is not None:
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return x.contiguous(memory_format=torch.channels_last)

    def _step(self, name: str, loss: torch.Tensor) -> float:
        return optimizer_step(self._optimizers[name], loss)

    def generator_losses(self, truth: torch.Tensor, mask: torch.Tensor, output: torch.Tensor,
                         comp: torch.Tensor) -> dict[str, torch.Tensor]:  # fmt: skip
        """Eq. 5's terms (and the weighted total under ``"total"``); D must be frozen by the caller."""
        w = self.weights
        hole, valid = pixel_losses(output, truth, mask)
        with torch.no_grad():
            truth_features = self.features(truth)
        out_features, comp_features = self.features(output), self.features(comp)
        losses = {
            "hole": hole,
            "valid": valid,
            "style": style_loss(out_features, truth_features) + style_loss(comp_features, truth_features),
            "adv": generator_adversarial_loss(self.model.discriminator(output)),
            "tv": tv_loss(comp, mask),
        }
        total = w.pixel * (hole + valid) + w.style * losses["style"] + w.adversarial * losses["adv"]
        total = total + w.tv * losses["tv"]
        if w.perceptual:
            losses["perceptual"] = perceptual_loss(out_features, truth_features) + perceptual_loss(
                comp_features, truth_features
            )
            total = total + w.perceptual * losses["perceptual"]
        losses["total"] = total
        return losses

    def train_step(self, batch: InpaintBatch) -> dict[str, float]:
        m, d = self.model, self.model.discriminator
        truth = self.pixels(batch.rows, batch.flip)
        mask = batch.masks.contiguous(memory_format=torch.channels_last)
        output, comp = m(truth * mask, mask)
        real_t, fake_t = noisy_targets(len(truth), self.weights, self._labels)
        loss_d = self._step("discriminator", discriminator_loss(d(truth), d(output.detach()), real_t, fake_t))
        with frozen(d):
            losses = self.generator_losses(truth, mask, output, comp)
            self._step("generator", losses["total"])
        logs = {f"loss_{k}": float(v.detach()) for k, v in losses.items() if k != "total"}
        return {"loss": float(losses["total"].detach()), "loss_d": loss_d, **logs}

    @torch.no_grad()
    def inpaint_rows(self, rows: NDArray[np.int64], masks: NDArray[np.uint8]) -> tuple[torch.Tensor, torch.Tensor]:
        """(I_out, I_comp) of held-out ``rows`` under ``masks`` (N, S, S), in eval mode, 64 at a time."""
        self.model.eval()
        outs, comps = [], []
        for s in range(0, len(rows), 64):
            truth = self.pixels(rows[s : s + 64])
            mask = torch.as_tensor(masks[s : s + 64]).unsqueeze(1).float()
            out, comp = self.model(truth * mask, mask)
            outs.append(out)
            comps.append(comp)
        return torch.cat(outs), torch.cat(comps)

    @property
    def ssim_window(self) -> int:
        """Wang et al.'s 11x11 window, or the largest odd one that fits a smaller image."""
        size = int(self.model.config.image_size)
        return min(11, size if size % 2 else size - 1)

    @torch.no_grad()
    def evaluate(self, step: int) -> dict[str, float]:
        out: dict[str, float] = {}
        if len(self.eval_rows) == 0:
            return out
        truth = np.asarray(self.images[self.eval_rows])
        for name, masks in self.eval_masks.items():
            comp = to_uint8(self.inpaint_rows(self.eval_rows, masks)[1])
            out[f"valid_l1_{name}"] = 100.0 * float(l1_error(comp, truth).mean())
            out[f"valid_l1_hole_{name}"] = 100.0 * float(l1_error(comp, truth, masks == 0).mean())
            out[f"valid_psnr_{name}"] = float(np.minimum(psnr(comp, truth), 100.0).mean())
            out[f"valid_ssim_{name}"] = float(ssim(comp, truth, window=self.ssim_window).mean())
        for metric in ("l1", "psnr", "ssim"):
            out[f"valid_{metric}"] = float(np.mean([out[f"valid_{metric}_{b.name}"] for b in MASK_BUCKETS]))
        if self.samples_dir is not None:
            self.save_samples(self.samples_dir / f"inpainting-{self.name}-step{step}.png")
        return out

    @torch.no_grad()
    def save_samples(self, path: Path) -> Path:
        """Rows of held-out photos, one bucket after another: input with hole, I_out, I_comp, truth."""
        n = min(self.sample_rows, len(self.eval_rows))
        names = [MASK_BUCKETS[k % len(MASK_BUCKETS)].name for k in range(n)]
        masks = np.stack([self.eval_masks[b][k] for k, b in enumerate(names)])
        rows = self.eval_rows[:n]
        out, comp = (to_uint8(t) for t in self.inpaint_rows(rows, masks))
        truth = np.asarray(self.images[rows])
        holes = np.where(masks[..., None] == 1, truth, np.uint8(HOLE_GREY))
        grid = [[Tile(holes[k], f"input {names[k]}"), Tile(out[k], "output"), Tile(comp[k], "composite"),
                 Tile(truth[k], "truth")] for k in range(n)]  # fmt: skip
        return save_grid(grid, path)

    def checkpoint_extra(self) -> dict[str, Any]:
        return {"loss_weights": self.weights.as_dict(), "d_lr": self.d_lr, **self.extra}
