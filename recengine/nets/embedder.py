"""The catalogue image network: a retrieval embedding trained on the catalogue's own labels.

Why a dedicated network: encoder F of the compatibility model learns what makes a top go with a bottom for a
user, not what makes two photos alike; measured on real Myntra labels, F's nearest neighbours agree on article
type less often than those of a raw-pixel baseline (``benchmarks/embedder_choice.py``). Product-retrieval
systems train their embedding on catalogue categories instead; this one does that with what the catalogue
has: article type, base colour, gender and usage, each a cosine-softmax head over the shared L2-normalised
embedding (NormFace, Wang et al. 2017: logits = s·cos(w_c, e)), so that cosine similarity, the index's metric,
is exactly what training shaped.

It is also recengine's stand-in for ImageNet networks (not available here): its features feed the FID /
Inception-Score analogues of the generator issues and the style loss of the inpainting issue.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from recengine.nets.layers import mlp, vgg_stack


@dataclass(frozen=True)
class EmbedderConfig:
    image_size: int = 64
    widths: tuple[int, ...] = (8, 16, 32, 64, 64)  # as encoder F: ~1,000 images/s training on 2 cores
    convs: tuple[int, ...] = (1, 1, 2, 2, 2)
    fc: tuple[int, ...] = (256,)
    dim: int = 64
    scale: float = 16.0  # NormFace's s: cosine logits need a temperature to reach confident softmaxes
    #: label -> its class names (index = class id); set from the catalogue at training time.
    heads: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> EmbedderConfig:
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
        values["heads"] = {k: tuple(v) for k, v in raw.get("heads", {}).items()}
        return cls(**values)


class EmbedderNet(nn.Module):
    """(B, 3, S, S) in [-1, 1] -> (B, dim) unit vectors; ``logits`` gives each head's cosine logits."""

    def __init__(self, config: EmbedderConfig) -> None:
        super().__init__()
        self.config = config
        self.features = vgg_stack(3, config.widths, config.convs)
        side = config.image_size // 2 ** len(config.widths)
        self.head = mlp([config.widths[-1] * side * side, *config.fc, config.dim])
        self.classifiers = nn.ParameterDict(
            {name: nn.Parameter(torch.randn(len(classes), config.dim) * 0.1) for name, classes in config.heads.items()}
        )

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """The conv features, globally averaged: (B, widths[-1]), the 'pool3'-like layer for FID analogues."""
        pooled: torch.Tensor = self.features(x).mean(dim=(2, 3))
        return pooled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e: torch.Tensor = self.head(self.features(x).flatten(1))
        return nn.functional.normalize(e, dim=1)

    def logits(self, e: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            name: self.config.scale * e @ nn.functional.normalize(w, dim=1).T for name, w in self.classifiers.items()
        }
