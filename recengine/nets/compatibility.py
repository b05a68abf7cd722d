"""Personalised compatibility discriminator: encoder F, user preference vectors θu, metric network M.

Reference: Yu, Zhang, Xiao, Zhang, Zhu. "Personalized Fashion Design." ICCV 2019, Sec. 3.2, Eq. 3-5, 10
(``../shared/seeds/personalized-fashion-design.txt``).

    z_i = F(x_i)                       (Eq. 3) VGG16-like conv stack + FC 1024-512-64 (widths set by config)
    z_o = z_q ⊙ z_c                    (Eq. 4)
    s_{u,o} = M(θu ⊙ z_o)              (Eq. 5) M: fully connected layers with a hidden layer

User modes (the seed's Table 2 ablations): ``theta`` (the full model), ``none`` (θu removed: M(z_o)) and
``label`` (a discrete user label instead of θu: a one-hot user id concatenated to z_o before M, implemented
as the equivalent per-user bias of M's first layer). Choices not in the paper, all set by config: batch norm
in F (training from scratch, no ImageNet weights here), and a CPU-sized conv stack: VGG configuration A's layer
pattern (the same family; VGG16's pattern is ``convs=(2, 2, 3, 3, 3)``) with 1/8 of VGG's widths; F's fully
connected layers have the seed's 1024-512-64 (they cost little next to the convolutions). At 64x64 inputs
the stack ends without its fifth max pool (``final_pool``): it hands F's fully connected layers a 4x4 map, as
VGG16 hands a 7x7 one at 224x224, instead of 2x2 (a 256-value summary that cannot tell apart the garments a
user wears; measured in docs/decisions.md). ``CompatibilityConfig.paper()`` gives the seed's full sizes
throughout.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import nn

from recengine.nets.layers import mlp, vgg_stack

UserMode = Literal["theta", "none", "label"]


@dataclass(frozen=True)
class CompatibilityConfig:
    """Architecture of the compatibility model; saved inside every checkpoint."""

    image_size: int = 64
    widths: tuple[int, ...] = (8, 16, 32, 64, 64)  # VGG: 64-128-256-512-512
    convs: tuple[int, ...] = (1, 1, 2, 2, 2)  # VGG configuration A (11 layers); VGG16: (2, 2, 3, 3, 3)
    fc: tuple[int, ...] = (1024, 512)  # the seed's sizes
    z_dim: int = 64
    metric_hidden: tuple[int, ...] = (64,)
    user_mode: UserMode = "theta"
    n_users: int = 1
    batch_norm: bool = True
    final_pool: bool = False  # max pooling after the last conv block too (VGG's layout; saved configs before it)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def conv_output_size(self) -> int:
        """How many values F's conv stack hands its fully connected layers."""
        side = self.image_size >> (len(self.widths) - (0 if self.final_pool else 1))  # halved by each pool
        return self.widths[-1] * side * side

    @classmethod
    def paper(cls, n_users: int, user_mode: UserMode = "theta") -> CompatibilityConfig:
        """The seed's sizes: VGG16 widths and depth, FC 1024-512-64 (a GPU configuration)."""
        return cls(widths=(64, 128, 256, 512, 512), convs=(2, 2, 3, 3, 3), fc=(1024, 512), n_users=n_users,
                   user_mode=user_mode, final_pool=True)  # fmt: skip

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CompatibilityConfig:
        tuples = {k: tuple(v) for k, v in raw.items() if isinstance(v, list)}
        # Configs saved before ``final_pool`` existed all pooled after the last block.
        return cls(**{"final_pool": True, **raw, **tuples})


class Encoder(nn.Module):
    """F: (B, 3, S, S) float32 in [-1, 1] -> (B, z_dim)."""

    def __init__(self, config: CompatibilityConfig) -> None:
        super().__init__()
        self.features = vgg_stack(3, config.widths, config.convs, config.batch_norm, config.final_pool)
        self.head = mlp([config.conv_output_size, *config.fc, config.z_dim])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z: torch.Tensor = self.head(self.features(x).flatten(1))
        return z


class CompatibilityModel(nn.Module):
    """s(u, q, c) = M(θu ⊙ F(x_q) ⊙ F(x_c)); see the module docstring."""

    def __init__(self, config: CompatibilityConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.metric = mlp([config.z_dim, *config.metric_hidden, 1])
        self.theta: nn.Embedding | None = None
        self.label: nn.Embedding | None = None
        if config.user_mode == "theta":
            self.theta = nn.Embedding(config.n_users, config.z_dim)
            nn.init.normal_(self.theta.weight, mean=1.0, std=0.1)  # θu ≈ 1: training starts from M(z_o)
        elif config.user_mode == "label":
            first = config.metric_hidden[0] if config.metric_hidden else 1
            self.label = nn.Embedding(config.n_users, first)
            nn.init.zeros_(self.label.weight)

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor | None:
        """θu of ``users`` (B,) -> (B, z_dim), or None when the mode has no θu."""
        return None if self.theta is None else self.theta(users)

    def user_bias(self, users: torch.Tensor) -> torch.Tensor | None:
        """The discrete-label mode's per-user term of M's first layer (B, hidden), or None in other modes."""
        return None if self.label is None else self.label(users)

    def score_latent(self, z_o: torch.Tensor, theta: torch.Tensor | None = None,
                     bias: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """M(θu ⊙ z_o): z_o (..., z_dim); theta and bias broadcastable to z_o and to M's first layer."""
        h = z_o if theta is None else theta * z_o
        if bias is None:
            out: torch.Tensor = self.metric(h).squeeze(-1)
            return out
        hidden = self.metric[0](h) + bias
        out = self.metric[1:](hidden).squeeze(-1)
        return out

    def score_outer(self, left: torch.Tensor, right: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """(B, N) scores M(left_b ⊙ right_n) (+ bias_b in M's first layer) for every pair of rows.

        Equal to ``score_latent(left[:, None] * right[None])``, but M's first layer is linear, so
        W1 (l ⊙ r) = (W1 diag(l)) r: one matrix product per left row instead of materialising B·N products
        of z_dim values and passing each through the layer. Training with thousands of in-batch negatives per
        positive (Eq. 6/7) costs a few matrix products this way.
        """
        first = self.metric[0]
        if not isinstance(first, nn.Linear):  # pragma: no cover - M always starts with a Linear layer
            raise TypeError("M must start with a linear layer")
        weighted = left[:, None, :] * first.weight[None]  # (B, H, d)
        hidden = torch.matmul(weighted, right.t()).transpose(1, 2) + first.bias  # (B, N, H)
        if bias is not None:
            hidden = hidden + bias[:, None, :]
        out: torch.Tensor = self.metric[1:](hidden).squeeze(-1)
        return out

    def forward(self, users: torch.Tensor, x_q: torch.Tensor, x_c: torch.Tensor) -> torch.Tensor:
        """users (B,), x_q and x_c (B, 3, S, S) -> scores (B,)."""
        z_o = self.encoder(x_q) * self.encoder(x_c)
        return self.score_latent(z_o, self.user_vectors(users), self.user_bias(users))


def preference_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Eq. 10 without the L2 term (the optimiser's weight decay adds it): -ln σ(s+ - s-)."""
    return -nn.functional.logsigmoid(pos - neg).mean()
