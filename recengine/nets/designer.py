"""Personalised designer: decoder G and real/fake discriminator D around the compatibility model (F, M, θu).

Reference: Yu, Zhang, Xiao, Zhang, Zhu. "Personalized Fashion Design." ICCV 2019, Sec. 3, 3.1, 3.3, Fig. 2-3,
Eq. 1, 2, 11 (``../shared/seeds/personalized-fashion-design.txt``).

    x* = G([F(x_q), θu, noise])        G: fc to (S/16)² x C0, then 5x5 transposed convs (Fig. 3)
    D(x): 5x5 convs 64-128-256-512, stride 2, fc 1024, fc 1 (Fig. 3)

F is the compatibility model's encoder (shared by the generator and the compatibility discriminator, as in the
seed), θu its user table. User modes follow the compatibility model: ``theta`` feeds θu to G, ``none`` feeds
nothing in its place (G's input is [zq, noise]), ``label`` feeds a learned per-user embedding of θu's width
(a one-hot user id through a linear map), G's own parameter. The seed's user-unaware ablation also feeds G "the
compatibility score M(zq ⊙ zc)", which needs the item being designed; it is left out.

Choices not in the paper, all set by config: a noise input (several designs per (user, query); N(0, 1)),
batch norm and LeakyReLU after G's fc projection (DCGAN's), DCGAN's N(0, 0.02) initialisation, and CPU-sized
widths, a quarter of the seed's throughout: G 64-64-64-64-32-16, D 16-32-64-128 + fc 256 (the seed:
256-256-256-256-128-64 and 64-128-256-512 + fc 1024, ``DesignerConfig.paper()``). Measured in
docs/decisions.md: D at half the seed's widths made D's two steps 45% of an iteration.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from recengine.nets.compatibility import CompatibilityConfig, CompatibilityModel, UserMode

#: Strides of G's hidden transposed convs (Fig. 3); four stride-2 layers take S/16 to S.
DECODER_STRIDES = (2, 1, 2, 1, 2, 2)
SLOPE = 0.2  # LeakyReLU slope of every hidden layer of G and D (Fig. 3)


@dataclass(frozen=True)
class DesignerConfig:
    """Architecture of G and D plus the compatibility model they contain; saved inside every checkpoint."""

    noise_dim: int = 16
    widths: tuple[int, ...] = (64, 64, 64, 64, 32, 16)  # the seed: 256, 256, 256, 256, 128, 64
    d_widths: tuple[int, ...] = (16, 32, 64, 128)  # the seed: 64, 128, 256, 512
    d_fc: int = 256  # the seed: 1024
    compatibility: CompatibilityConfig = field(default_factory=CompatibilityConfig)

    def __post_init__(self) -> None:
        if len(self.widths) != len(DECODER_STRIDES):
            raise ValueError(f"widths needs {len(DECODER_STRIDES)} entries (Fig. 3), got {self.widths}")
        if self.image_size % 16 or self.image_size % 2 ** len(self.d_widths):
            raise ValueError(f"image_size {self.image_size} must be divisible by 16 and by 2^len(d_widths)")

    @property
    def image_size(self) -> int:
        return self.compatibility.image_size

    @property
    def user_mode(self) -> UserMode:
        return self.compatibility.user_mode

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def paper(cls, n_users: int, user_mode: UserMode = "theta", image_size: int = 128) -> DesignerConfig:
        """The seed's sizes (Fig. 3, 128x128 designs) around the seed's compatibility model (a GPU configuration)."""
        compatibility = dataclasses.replace(CompatibilityConfig.paper(n_users, user_mode), image_size=image_size)
        return cls(widths=(256, 256, 256, 256, 128, 64), d_widths=(64, 128, 256, 512), d_fc=1024,
                   compatibility=compatibility)  # fmt: skip

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DesignerConfig:
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
        values["compatibility"] = CompatibilityConfig.from_dict(dict(raw["compatibility"]))
        return cls(**values)


def _init(module: nn.Module) -> None:
    """DCGAN's initialisation (Radford et al. 2016), the usual one for these generators and discriminators."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Decoder(nn.Module):
    """G: [zq, user code, noise] (B, in_features) -> (B, 3, S, S) in [-1, 1] (Tanh)."""

    def __init__(self, config: DesignerConfig) -> None:
        super().__init__()
        z = config.compatibility.z_dim
        self.start = config.image_size // 16
        self.user_features = 0 if config.user_mode == "none" else z
        self.in_features = z + self.user_features + config.noise_dim
        # The discrete-label ablation: one-hot user id times a learned matrix = an embedding; zeros at first,
        # so that training starts from the user-unaware generator (as the compatibility model's labels do).
        self.label: nn.Embedding | None = None
        if config.user_mode == "label":
            self.label = nn.Embedding(config.compatibility.n_users, z)
        c0 = config.widths[0]
        self.project = nn.Linear(self.in_features, c0 * self.start**2, bias=False)
        self.project_norm = nn.Sequential(nn.BatchNorm2d(c0), nn.LeakyReLU(SLOPE, inplace=True))
        layers: list[nn.Module] = []
        channels = c0
        for width, stride in zip(config.widths, DECODER_STRIDES, strict=True):
            # 5x5, padding 2: stride 1 keeps the side, stride 2 with output_padding 1 doubles it exactly.
            layers += [nn.ConvTranspose2d(channels, width, 5, stride, padding=2, output_padding=stride - 1,
                                          bias=False),
                       nn.BatchNorm2d(width), nn.LeakyReLU(SLOPE, inplace=True)]  # fmt: skip
            channels = width
        layers += [nn.ConvTranspose2d(channels, 3, 5, 1, padding=2), nn.Tanh()]
        self.deconvs = nn.Sequential(*layers)
        self.apply(_init)
        if self.label is not None:
            nn.init.zeros_(self.label.weight)

    def forward(self, z_query: torch.Tensor, user_code: torch.Tensor | None, noise: torch.Tensor) -> torch.Tensor:
        """z_query (B, z_dim), user_code (B, z_dim) or None in mode ``none``, noise (B, noise_dim)."""
        parts = [z_query] if user_code is None else [z_query, user_code]
        h = self.project(torch.cat([*parts, noise], dim=1)).view(len(z_query), -1, self.start, self.start)
        out: torch.Tensor = self.deconvs(self.project_norm(h))
        return out


class RealFakeDiscriminator(nn.Module):
    """D: (B, 3, S, S) in [-1, 1] -> (B,) unbounded realness (least-squares losses, no sigmoid)."""

    def __init__(self, config: DesignerConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for n, width in enumerate(config.d_widths):
            first = n == 0  # Fig. 3: no batch norm on the first conv (as in DCGAN)
            layers.append(nn.Conv2d(channels, width, 5, 2, padding=2, bias=first))
            if not first:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(SLOPE, inplace=True))
            channels = width
        self.convs = nn.Sequential(*layers)
        side = config.image_size // 2 ** len(config.d_widths)
        self.head = nn.Sequential(nn.Linear(channels * side * side, config.d_fc), nn.LeakyReLU(SLOPE, inplace=True),
                                  nn.Linear(config.d_fc, 1))  # fmt: skip
        self.apply(_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.convs(x).flatten(1)).squeeze(-1)
        return out


class Designer(nn.Module):
    """The whole model of Fig. 2: compatibility model (F, M, θu), decoder G and real/fake discriminator D."""

    def __init__(self, config: DesignerConfig) -> None:
        super().__init__()
        self.config = config
        self.compatibility = CompatibilityModel(config.compatibility)
        self.decoder = Decoder(config)
        self.discriminator = RealFakeDiscriminator(config)

    def user_code(self, users: torch.Tensor, theta: torch.Tensor | None = None) -> torch.Tensor | None:
        """G's user input for ``users`` (B,): θu (``theta`` (B, z_dim) instead of the table's rows, e.g. a
        newcomer's fitted vector), the label embedding, or None in mode ``none``.

        θu is detached: it conditions G but is learned by the compatibility loss only (Algorithm 1 steps G's
        parameters alone with G's losses)."""
        if self.decoder.label is not None:
            code: torch.Tensor = self.decoder.label(users)
            return code
        if theta is None:
            theta = self.compatibility.user_vectors(users)
        return None if theta is None else theta.detach()

    def generate(self, users: torch.Tensor, z_query: torch.Tensor, noise: torch.Tensor,
                 theta: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """One design per row: users (B,), z_query (B, z_dim) = F(x_q), noise (B, noise_dim) -> (B, 3, S, S)."""
        out: torch.Tensor = self.decoder(z_query, self.user_code(users, theta), noise)
        return out

    def design(self, users: torch.Tensor, z_query: torch.Tensor, n: int, generator: torch.Generator | None = None,
               theta: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """``n`` designs per (user, query), each from its own N(0, 1) noise: -> (B, n, 3, S, S) in [-1, 1].

        The same ``generator`` state gives the same designs (in eval mode: G's batch norm then uses its running
        statistics, so a design does not depend on the rest of the batch)."""
        b = len(users)
        noise = torch.randn(b * n, self.config.noise_dim, generator=generator, device=z_query.device)
        rows = torch.arange(b, device=z_query.device).repeat_interleave(n)
        images = self.generate(users[rows], z_query[rows], noise, None if theta is None else theta[rows])
        return images.view(b, n, *images.shape[1:])


def ralsgan_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Eq. 1 (relativistic average least squares, D's side): real scores 1 above the mean fake, fakes 1 below."""
    return 0.5 * ((real - fake.mean() - 1) ** 2).mean() + 0.5 * ((fake - real.mean() + 1) ** 2).mean()


def ralsgan_g_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Eq. 2 as the seed writes it: G closes the gap between real and fake (targets 0, where
    Jolicoeur-Martineau's RaLSGAN asks G for the reversed margin)."""
    return 0.5 * ((fake - real.mean()) ** 2).mean() + 0.5 * ((real - fake.mean()) ** 2).mean()


def compatibility_matching_loss(positive: torch.Tensor, designed: torch.Tensor) -> torch.Tensor:
    """Eq. 11 (L_FM_G): designed outfits o* should score like the positive outfits o+, and vice versa."""
    return 0.5 * ((positive - designed.mean()) ** 2).mean() + 0.5 * ((designed - positive.mean()) ** 2).mean()
