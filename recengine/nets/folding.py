"""Inference copies of trained networks: batch norm folded into the convolution before it.

In eval mode a BatchNorm2d after a convolution is a per-channel affine map of that convolution's output, so it
can be written into the convolution's weights and bias: the same function (up to float rounding) with one pass
over the activations fewer. On the CPU this took the designer's decoder G (channels-last, 8 designs, 2 threads)
from 6.2-8.2 to 4.4-6.8 ms (issue #6), and G is most of a recommendation call.
"""

from __future__ import annotations

import copy
from typing import TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)
Conv = nn.Conv2d | nn.ConvTranspose2d


def inference_copy(module: M) -> M:
    """A deep copy of ``module`` in eval mode with every (conv, BatchNorm2d) pair of its ``nn.Sequential``
    blocks folded into one conv with a bias, channels-last (2x faster convs on the CPU; feed it channels-last
    inputs). The copy is for inference only: training it would train a different (un-normalised) network.
    ``module`` itself is not changed."""
    out = copy.deepcopy(module).eval()
    for block in [m for m in out.modules() if isinstance(m, nn.Sequential)]:
        _fold_sequential(block)
    out.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # not in the stubs
    return out


def _fold_sequential(block: nn.Sequential) -> None:
    layers = list(block)
    folded: list[nn.Module] = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        following = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(layer, Conv) and isinstance(following, nn.BatchNorm2d) and _foldable(layer, following):
            folded.append(_fold(layer, following))
            i += 2
        else:
            folded.append(layer)
            i += 1
    if len(folded) != len(layers):
        for name in list(block._modules):
            del block._modules[name]
        for n, layer in enumerate(folded):
            block.add_module(str(n), layer)


def _foldable(conv: Conv, norm: nn.BatchNorm2d) -> bool:
    # Grouped convolutions mix the out-channel axis of the weight with groups; none of our networks use them.
    return (conv.groups == 1 and norm.track_running_stats and norm.running_mean is not None
            and norm.running_var is not None and conv.out_channels == norm.num_features)  # fmt: skip


@torch.no_grad()
def _fold(conv: Conv, norm: nn.BatchNorm2d) -> Conv:
    """``conv`` with ``norm`` written into it, in place (it belongs to the copy :func:`inference_copy` made)."""
    assert norm.running_mean is not None and norm.running_var is not None  # checked by _foldable
    scale = torch.rsqrt(norm.running_var + norm.eps)
    shift = -norm.running_mean * scale
    if norm.affine:
        scale, shift = scale * norm.weight, shift * norm.weight + norm.bias
    # Conv2d weights are (out, in, kh, kw), ConvTranspose2d weights (in, out, kh, kw): scale the out axis.
    axis = 1 if isinstance(conv, nn.ConvTranspose2d) else 0
    shape = [1, 1, 1, 1]
    shape[axis] = -1
    conv.weight.mul_(scale.view(shape))
    bias = shift if conv.bias is None else conv.bias * scale + shift
    conv.bias = nn.Parameter(bias.detach().clone())
    return conv
