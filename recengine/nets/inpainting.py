"""Clothing-image inpainting with dilated partial convolutions (DPConv) and its partial-convolution twin (PConv).

Reference:
    Kınlı, Özcan, Kıraç. "A Benchmark for Inpainting of Clothing Images with Irregular Holes" (2020), Sec. 3.2
    (architecture) and 3.3 (the discriminator of Eq. 12–13); ``../shared/seeds/dilated-partial-conv-clothing-
    inpainting.md``. Built on Liu et al., "Image Inpainting for Irregular Holes Using Partial Convolutions"
    (ECCV 2018), whose U-Net the seed follows "with slight differences".

Generator (a U-Net as in Liu et al.; ``L = len(widths)`` = 4 in the seed)::

    encoder   L partial convs (kernels 7-5-5-3, stride 2, Liu et al.'s), BN after all but the first, ReLU
    context   len(dilations) dilated partial convs at the lowest resolution, stride 1, rate growing layer by
              layer (Yu & Koltun's multi-scale context aggregation), each residually connected: h + f(h)
    decoder   L levels: nearest upsampling, concatenation with the encoder's feature *and mask* of that level
              (skips concatenated, not added), 3x3 partial conv, BN, LeakyReLU(0.2); self-attention (Vaswani et
              al.'s scaled dot-product, SAGAN-style residual with a learned gate starting at 0) after the levels
              in ``attention``; the last level sees the input image and mask and outputs 3 channels
    output    I_out = tanh(...); the delivered image is the composite I_comp = m ⊙ I_in + (1 - m) ⊙ I_out

The seed replaces "all low resolution layers" of Liu et al. (their four 512-channel layers after the first four)
with dilated partial convolutions that keep the resolution; its Fig. 3 (the exact count and rates) is not in our
text, so we keep four such layers and let the rate grow up to half the bottleneck side (``paper()``: 2-4-6-8 on a
16x16 map). The PConv baseline (``as_pconv``) is the same network with every dilation 1. Choices not in the
seed: tanh on the output (images live in [-1, 1] here; Liu et al. leave it linear), the CPU default's strides
(2, 2, 2, 1) which keep an 8x8 bottleneck at 64x64 (the seed: 16x16 at 256x256) and its widths (half the
seed's at most, a quarter at the first layers).

Discriminator (Eq. 12–13): "a simple CNN with a depth of 5": four 4x4 stride-2 convs (BN after all but the
first, LeakyReLU(0.2)) and a 3x3 conv to one channel, averaged over positions: one least-squares score per
image (no sigmoid).

Shapes: images (B, 3, S, S) float32 in [-1, 1]; masks (B, 1, S, S) float32 in {0, 1}, 1 = known pixel (the seed's
m̂), 0 = hole.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from recengine.nets.partial_conv import PartialConv2d

__all__ = ["InpaintConfig", "InpaintingModel", "InpaintingNet", "MaskDiscriminator", "SelfAttention"]


@dataclass(frozen=True)
class InpaintConfig:
    """Architecture of the generator and discriminator; saved inside every checkpoint.

    The default is the CPU configuration (64x64); :meth:`paper` gives the seed's sizes, :meth:`tiny` the test one.
    """

    image_size: int = 64
    widths: tuple[int, ...] = (32, 64, 128, 128)  # encoder partial convs; the seed (Liu et al.): 64-128-256-512
    kernels: tuple[int, ...] = (7, 5, 5, 3)  # Liu et al.'s first four kernels
    strides: tuple[int, ...] = (2, 2, 2, 1)  # the seed: 2-2-2-2 (256 -> 16)
    dilations: tuple[int, ...] = (2, 3, 4, 4)  # the dilated residual layers; all 1 in the PConv variant
    attention: tuple[int, ...] = (2,)  # decoder levels (1..L-1) followed by self-attention; 16x16 here
    decoder_dropout: float = 0.0  # the seed "tried" decoder dropout without giving a rate: off by default
    d_widths: tuple[int, ...] = (32, 64, 128, 256)  # discriminator; the seed's depth 5 = these 4 + the output conv

    def __post_init__(self) -> None:
        if not (len(self.widths) == len(self.kernels) == len(self.strides)) or not self.widths:
            raise ValueError("widths, kernels and strides need one entry per encoder layer")
        if self.image_size % math.prod(self.strides):
            raise ValueError(f"image_size {self.image_size} must be divisible by the strides' product")
        if any(not 1 <= j < len(self.widths) for j in self.attention):
            raise ValueError(f"attention levels must lie in 1..{len(self.widths) - 1}, got {self.attention}")
        if any(k % 2 == 0 for k in self.kernels) or any(d < 1 for d in self.dilations):
            raise ValueError("kernels must be odd and dilations >= 1")
        if not 0.0 <= self.decoder_dropout < 1.0:
            raise ValueError(f"decoder_dropout must lie in [0, 1), got {self.decoder_dropout}")

    @property
    def bottleneck_size(self) -> int:
        return self.image_size // math.prod(self.strides)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> InpaintConfig:
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
        return cls(**values)

    @classmethod
    def paper(cls) -> InpaintConfig:
        """The seed's sizes: 256x256 inputs, Liu et al.'s widths, a 16x16 bottleneck (a GPU configuration)."""
        return cls(image_size=256, widths=(64, 128, 256, 512), strides=(2, 2, 2, 2), dilations=(2, 4, 6, 8),
                   attention=(3,), d_widths=(64, 128, 256, 512))  # fmt: skip

    @classmethod
    def tiny(cls) -> InpaintConfig:
        """A few thousand parameters at 32x32, for tests."""
        return cls(image_size=32, widths=(4, 8, 8, 8), dilations=(2, 3), attention=(2,), d_widths=(4, 8, 8, 8))

    def as_pconv(self) -> InpaintConfig:
        """The partial-convolution baseline: the same network with every dilation 1."""
        return dataclasses.replace(self, dilations=tuple(1 for _ in self.dilations))


class SelfAttention(nn.Module):
    """Scaled dot-product self-attention over positions, added back through a gate γ that starts at 0 (so a
    fresh layer is the identity, as in SAGAN). (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = max(channels // 8, 1)
        self.query = nn.Conv2d(channels, inner, 1)
        self.key = nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (layer(x).flatten(2).transpose(1, 2) for layer in (self.query, self.key, self.value))
        attended = F.scaled_dot_product_attention(q, k, v)  # (B, HW, C)
        return x + self.gamma * attended.transpose(1, 2).reshape(x.shape)


class _PartialBlock(nn.Module):
    """Partial conv, optional BN, activation, optional dropout: (x, mask) -> (y, new mask)."""

    def __init__(self, conv: PartialConv2d, norm: bool, act: nn.Module | None, dropout: float = 0.0) -> None:
        super().__init__()
        self.conv = conv
        self.norm: nn.Module = nn.BatchNorm2d(conv.out_channels) if norm else nn.Identity()
        self.act: nn.Module = act if act is not None else nn.Identity()
        self.drop: nn.Module = nn.Dropout(dropout) if dropout else nn.Identity()

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, new_mask = self.conv(x, mask)
        return self.drop(self.act(self.norm(y))), new_mask


class InpaintingNet(nn.Module):
    """The generator G: (image (B, 3, S, S), mask (B, 1, S, S)) -> I_out (B, 3, S, S) in [-1, 1].

    Hole pixels of ``image`` are never read (the first partial conv multiplies by the mask).
    """

    def __init__(self, config: InpaintConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.encoder = nn.ModuleList()
        channels = 3
        for n, (width, kernel, stride) in enumerate(zip(c.widths, c.kernels, c.strides, strict=True)):
            conv = PartialConv2d(channels, width, kernel, stride=stride, padding=kernel // 2, bias=n == 0)
            self.encoder.append(_PartialBlock(conv, norm=n > 0, act=nn.ReLU()))  # Liu et al.: no BN on layer 1
            channels = width
        self.context = nn.ModuleList(
            _PartialBlock(PartialConv2d(channels, channels, 3, padding=d, dilation=d, bias=False), True, nn.ReLU())
            for d in c.dilations
        )
        self.decoder = nn.ModuleList()
        self.attend = nn.ModuleDict()
        for j in reversed(range(len(c.widths))):
            skip = c.widths[j - 1] if j else 3
            out = c.widths[j - 1] if j else 3
            conv = PartialConv2d(c.widths[j] + skip, out, 3, padding=1, bias=j == 0)
            act = nn.LeakyReLU(0.2) if j else None
            self.decoder.append(_PartialBlock(conv, norm=j > 0, act=act, dropout=c.decoder_dropout if j else 0.0))
            if j in c.attention:
                self.attend[str(j)] = SelfAttention(out)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.to(image.dtype)
        features, masks = [image], [mask]
        h, m = image, mask
        for block in self.encoder:
            h, m = block(h, m)
            features.append(h)
            masks.append(m)
        for block in self.context:
            y, m = block(h, m)
            h = h + y  # residual (Sec. 3.2)
        for block, j in zip(self.decoder, reversed(range(len(self.config.widths))), strict=True):
            skip, skip_mask = features[j], masks[j]
            if h.shape[-1] != skip.shape[-1]:
                h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
                m = F.interpolate(m, size=skip.shape[-2:], mode="nearest")
            # One mask channel per feature channel: the upsampled part and the skip part have different holes.
            joint_mask = torch.cat([m.expand(-1, h.shape[1], -1, -1), skip_mask.expand(-1, skip.shape[1], -1, -1)], 1)
            h, m = block(torch.cat([h, skip], 1), joint_mask)
            if str(j) in self.attend:
                h = self.attend[str(j)](h)
        return torch.tanh(h)


class MaskDiscriminator(nn.Module):
    """D of Eq. 12–13: (B, 3, S, S) in [-1, 1] -> (B,) unbounded least-squares realness."""

    def __init__(self, config: InpaintConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for n, width in enumerate(config.d_widths):
            layers.append(nn.Conv2d(channels, width, 4, 2, padding=1, bias=n == 0))
            if n:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            channels = width
        layers.append(nn.Conv2d(channels, 1, 3, padding=1))
        self.convs = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.convs(x).mean(dim=(1, 2, 3))
        return out


def composite(image: torch.Tensor, output: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """I_comp: the known pixels of ``image`` where ``mask`` is 1, ``output`` in the hole (shapes as above)."""
    return mask * image + (1 - mask) * output


class InpaintingModel(nn.Module):
    """Generator and discriminator together (the checkpoint unit); ``inpaint`` is what callers use."""

    def __init__(self, config: InpaintConfig) -> None:
        super().__init__()
        self.config = config
        self.generator = InpaintingNet(config)
        self.discriminator = MaskDiscriminator(config)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(image (B, 3, S, S), mask (B, 1, S, S)) -> (I_out, I_comp), both (B, 3, S, S) in [-1, 1]."""
        output: torch.Tensor = self.generator(image, mask)
        return output, composite(image, output, mask.to(image.dtype))

    def inpaint(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The filled image I_comp (B, 3, S, S) in [-1, 1]; hole pixels of ``image`` are ignored."""
        comp: torch.Tensor = self(image, mask)[1]
        return comp
