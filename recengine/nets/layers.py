"""Building blocks shared by the seed models' networks."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from torch import nn


def vgg_stack(in_channels: int, widths: Sequence[int], convs: Sequence[int], batch_norm: bool = True,
              final_pool: bool = True) -> nn.Sequential:  # fmt: skip
    """VGG blocks (Simonyan & Zisserman 2015): ``convs[i]`` 3x3 conv + ReLU layers of ``widths[i]`` channels,
    then 2x2 max pooling; each block halves the resolution (the last one only with ``final_pool``). Without the
    final pool the layer indices are unchanged, so weights of a stack that had it load as they are."""
    layers: list[nn.Module] = []
    channels = in_channels
    for block, (width, count) in enumerate(zip(widths, convs, strict=True)):
        for _ in range(count):
            layers.append(nn.Conv2d(channels, width, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU(inplace=True))
            channels = width
        if final_pool or block < len(widths) - 1:
            layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


def mlp(sizes: Sequence[int], final_activation: bool = False) -> nn.Sequential:
    """Fully connected layers ``sizes[0] -> sizes[1] -> ...`` with ReLU between them."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or final_activation:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)
