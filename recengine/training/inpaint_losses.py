"""Losses of the inpainting seed (Eq. 5–14) and the frozen feature network its style loss reads.

Reference: Kınlı, Özcan, Kıraç, "A Benchmark for Inpainting of Clothing Images with Irregular Holes" (2020),
Sec. 3.3; Liu et al. (ECCV 2018) for the perceptual loss the seed drops.

Conventions: images (B, 3, S, S) in [-1, 1]; ``mask`` (B, 1, S, S) in {0, 1}, 1 = known pixel (the seed's m̂).

Feature network (the Ψ of Eq. 9–10). The seed uses an ImageNet VGG16; ImageNet weights are not available to
recengine, so the default stand-in is recengine's own catalogue image network (:mod:`recengine.nets.embedder`,
trained on the Myntra catalogue's labels, ``checkpoints/embedder-catalogue.pt``): its first three conv stages'
pooled activations play pool1–pool3. They are narrower (8-16-32 channels at 64x64, VGG16: 64-128-256) and
learned from 40k product photos rather than 1.2M natural images, so the style term constrains texture
statistics less finely than the seed's. A real VGG16 is used when given: ``vgg16:/path/to/vgg16.pth``
(torchvision-format state dict, :class:`recengine.nets.vgg.VGG16Features`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from recengine.errors import InvalidInputError
from recengine.nets.embedder import EmbedderConfig, EmbedderNet
from recengine.nets.vgg import VGG16Features
from recengine.training.checkpoints import file_sha256, load_checkpoint, network_file

FEATURE_KINDS = ("embedder", "vgg16")


@dataclass(frozen=True)
class InpaintLossWeights:
    """Eq. 5's coefficients (the seed's, not Liu et al.'s) and the label noise of the discriminator's targets."""

    pixel: float = 10.0
    style: float = 120.0
    adversarial: float = 1e-3
    tv: float = 1e-4
    #: Liu et al.'s perceptual loss; the seed replaces it with the adversarial loss ("its benefits do not afford
    #: its computational cost"), so it is off unless asked for.
    perceptual: float = 0.0
    flip: float = 0.1  # probability of swapping an instance's real/fake label for D
    real_labels: tuple[float, float] = (0.7, 1.2)
    fake_labels: tuple[float, float] = (0.0, 0.3)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- Eq. 6–8, 9–11, 12–13, 14 ---------------------------------------------------------------------------------


def pixel_losses(output: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 7 and 8: (L_hole, L_non-hole), each ||·||_1 / (C H W) per image, averaged over the batch."""
    diff = (output - truth).abs()
    return ((1 - mask) * diff).mean(), (mask * diff).mean()


def gram(features: torch.Tensor) -> torch.Tensor:
    """K_p Ψᵀ Ψ of Eq. 9: (B, C, H, W) -> (B, C, C) divided by C H W."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def style_loss(features: list[torch.Tensor], truth_features: list[torch.Tensor]) -> torch.Tensor:
    """Eq. 9 / 10: Σ_p (1 / C_p²) ||K_p (ΨᵀΨ - Ψ_gtᵀΨ_gt)||_1, averaged over the batch."""
    terms = [(gram(a) - gram(b)).abs().mean() for a, b in zip(features, truth_features, strict=True)]
    return torch.stack(terms).sum()


def perceptual_loss(features: list[torch.Tensor], truth_features: list[torch.Tensor]) -> torch.Tensor:
    """Liu et al.'s L_perceptual term for one image set: Σ_p ||Ψ_p - Ψ_p^gt||_1 / N_Ψp."""
    terms = [(a - b).abs().mean() for a, b in zip(features, truth_features, strict=True)]
    return torch.stack(terms).sum()


def tv_loss(comp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eq. 14: ℓ1 of horizontal and vertical neighbour differences of I_comp over R, the hole dilated by one
    pixel (both pixels of a pair in R), divided by N = C H W per image and averaged over the batch."""
    region = F.max_pool2d(1 - mask, 3, stride=1, padding=1)  # 1-pixel dilation of the hole
    across = region[..., :, 1:] * region[..., :, :-1]
    down = region[..., 1:, :] * region[..., :-1, :]
    total = ((comp[..., :, 1:] - comp[..., :, :-1]).abs() * across).sum() + (
        (comp[..., 1:, :] - comp[..., :-1, :]).abs() * down
    ).sum()
    return total / comp.numel()


def generator_adversarial_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Eq. 12 (LSGAN, G's side): E[(D(G(I^M)) - 1)²]."""
    return (fake_scores - 1).square().mean()


def discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor, real_targets: torch.Tensor,
                       fake_targets: torch.Tensor) -> torch.Tensor:  # fmt: skip
    """Eq. 13 with the seed's noisy labels: E[(D(Î) - t_fake)²] + E[(D(I) - t_real)²] (t_fake ≈ 0, t_real ≈ 1)."""
    return (fake_scores - fake_targets).square().mean() + (real_scores - real_targets).square().mean()


def noisy_targets(n: int, weights: InpaintLossWeights, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(real, fake) targets of ``n`` instances each: smoothed (real uniform in [0.7, 1.2], fake in [0, 0.3]) and
    swapped with probability ``flip`` (Sec. 3.3)."""
    lo, hi = weights.real_labels
    real = lo + (hi - lo) * torch.rand(n, generator=generator)
    lo, hi = weights.fake_labels
    fake = lo + (hi - lo) * torch.rand(n, generator=generator)
    flip = torch.rand(n, generator=generator) < weights.flip
    return torch.where(flip, fake, real), torch.where(flip, real, fake)


# --- the feature network ----------------------------------------------------------------------------------------


class EmbedderFeatures(nn.Module):
    """The catalogue network's conv stages as a loss network: (B, 3, S, S) in [-1, 1] -> the outputs of its
    first ``pools`` stages (each ends in 2x2 max pooling, as VGG's pool1..)."""

    def __init__(self, net: EmbedderNet, pools: int = 3) -> None:
        super().__init__()
        layers = list(net.features)
        ends = [n for n, layer in enumerate(layers) if isinstance(layer, nn.MaxPool2d)]
        if len(ends) < pools:
            raise InvalidInputError(f"the embedder has {len(ends)} conv stages, the style loss needs {pools}")
        self.features = nn.Sequential(*layers[: ends[pools - 1] + 1])
        self.taps = set(ends[:pools])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out: list[torch.Tensor] = []
        for n, layer in enumerate(self.features):
            x = layer(x)
            if n in self.taps:
                out.append(x)
        return out


def load_feature_net(spec: str, *, default_embedder: Path | None = None) -> tuple[nn.Module, dict[str, str]]:
    """The frozen Ψ named by ``spec`` (eval mode, no gradients to its weights) and a description for the record.

    Args:
        spec: ``embedder`` (``default_embedder``), ``embedder:/path.pt`` (a recengine embedder checkpoint) or
            ``vgg16:/path.pth`` (torchvision-format VGG16 weights).
        default_embedder: The checkpoint plain ``embedder`` means.

    Raises:
        InvalidInputError: Unknown kind, or ``embedder`` without a default; NotFoundError: missing file.
    """
    kind, _, where = spec.partition(":")
    if kind not in FEATURE_KINDS:
        raise InvalidInputError(f"unknown feature network {spec!r}; use embedder[:PATH] or vgg16:PATH")
    path = network_file(kind, where, default_embedder)
    if path is None:
        raise InvalidInputError("no catalogue embedder to use as the feature network; pass embedder:PATH")
    if kind == "vgg16":
        net: nn.Module = VGG16Features(pools=3).load_torchvision(path)
    else:
        payload = load_checkpoint(path, family="embedder")
        embedder = EmbedderNet(EmbedderConfig.from_dict(dict(payload["config"])))
        embedder.load_state_dict(payload["state_dict"])
        net = EmbedderFeatures(embedder)
    net.eval().requires_grad_(False)
    return net, {"kind": kind, "path": str(path.resolve()), "sha256": file_sha256(path)}
