"""The seed's Ablation 2: how many stacked layers until the mask is fully valid, PConv vs DPConv.

Reference:
    Kınlı, Özcan, Kıraç. "A Benchmark for Inpainting of Clothing Images with Irregular Holes" (2020), Sec. 3.2
    and Sec. 5, Ablation 2: 12,000 random masks, ~2,000 per 10 % range of hole ratio from 0 % to 60 %, at most
    20 stacked layers; dilated partial convolutions reach a "fully transparent" mask (no zeros) 2.1 layers
    earlier on average (~15 % fewer layers).

Only the mask update matters here, so every layer is the real :class:`~recengine.nets.partial_conv.
PartialConv2d` with one channel and no bias, fed the mask itself; stride 1 with "same" padding (padded
positions are holes), so a layer can only fill holes, never shrink the map. The seed does not print the stack
of its ablation; this one is read off Sec. 3.2:

* both stacks start like Liu et al.'s encoder, kernels 7, 5, 5, 3, then 3 x 3 (the seed's first four layers
  "are left as partial convolutions");
* PConv: dilation 1 everywhere;
* DPConv: dilation 1 for the first four layers, then "progressively increased" as in Yu & Koltun's context
  module (the seed's [56]): 2, 4, 8, 16, held at 16 for any later layer (doubling further would step over
  a 256-pixel map).

Every layer's mask update is checked against an exact window test (a max-pool over the same taps): a
convolution algorithm that does not sum exactly leaves ~1e-5 where the window sum is 0, which a ``sum(M) > 0``
test reads as valid. Measured: torch's CPU NNPACK path (taken for batches of 16+ when oneDNN is off) does
this, so it is switched off here; oneDNN on CPU and cuDNN on an H100 (kernels 3-7, dilations 1-8, float32 and
bfloat16) were exact. A disagreement raises instead of being counted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from recengine.errors import InvalidInputError
from recengine.inpainting.masks import MASK_BUCKETS, MaskRatioBucket, hole_ratio, random_stroke_masks
from recengine.inpainting.metrics import BucketStats, by_bucket
from recengine.nets.partial_conv import PartialConv2d

__all__ = [
    "MAX_LAYERS",
    "SEED_BINS",
    "AblationResult",
    "FillResult",
    "LayerSpec",
    "dpconv_stack",
    "layers_to_fill",
    "pconv_stack",
    "run_ablation",
]

MAX_LAYERS = 20  # the seed's cap on stacked layers
_LIU_KERNELS = (7, 5, 5, 3)
_DPCONV_DILATIONS = (2, 4, 8, 16)
# The seed's ~2,000 masks per 10 % range of hole ratio, 0 % to 60 %.
SEED_BINS: tuple[MaskRatioBucket, ...] = tuple(
    MaskRatioBucket(f"{10 * i}-{10 * (i + 1)}%", i / 10, (i + 1) / 10, closed_high=i == 5) for i in range(6)
)


@dataclass(frozen=True)
class LayerSpec:
    """One stride-1 partial convolution of the stack: square kernel side and dilation."""

    kernel_size: int
    dilation: int = 1


def pconv_stack(n_layers: int = MAX_LAYERS) -> tuple[LayerSpec, ...]:
    """Partial convolutions (Liu et al.): kernels 7, 5, 5, 3, then 3; dilation 1 everywhere."""
    return tuple(LayerSpec(_LIU_KERNELS[i] if i < len(_LIU_KERNELS) else 3) for i in range(n_layers))


def dpconv_stack(n_layers: int = MAX_LAYERS, dilations: Sequence[int] = _DPCONV_DILATIONS) -> tuple[LayerSpec, ...]:
    """Dilated partial convolutions: PConv's first four layers, then ``dilations`` (the last one repeated)."""
    out = []
    for i, spec in enumerate(pconv_stack(n_layers)):
        j = i - len(_LIU_KERNELS)
        dilation = 1 if j < 0 else int(dilations[min(j, len(dilations) - 1)])
        out.append(LayerSpec(spec.kernel_size, dilation))
    return tuple(out)


@dataclass(frozen=True)
class FillResult:
    """Per mask: layers until fully valid (capped at the stack's length) and whether it got there at all."""

    layers: npt.NDArray[np.int64]  # (N,)
    filled: npt.NDArray[np.bool_]  # (N,)


def _modules(stack: Sequence[LayerSpec], device: torch.device) -> list[PartialConv2d]:
    layers = []
    for spec in stack:
        if spec.kernel_size < 1 or spec.kernel_size % 2 == 0 or spec.dilation < 1:
            raise InvalidInputError(f"layers need an odd kernel and dilation >= 1 to keep the size, got {spec}")
        pad = spec.dilation * (spec.kernel_size - 1) // 2
        layers.append(PartialConv2d(1, 1, spec.kernel_size, padding=pad, dilation=spec.dilation, bias=False))
    return [layer.to(device).eval() for layer in layers]


@contextlib.contextmanager
def _exact_convolutions() -> Iterator[None]:
    """Keep CPU convolutions off NNPACK, whose Winograd transforms do not sum 0/1 values exactly."""
    with torch.backends.nnpack.flags(enabled=False):
        yield


def _exact_update(mask: torch.Tensor, module: PartialConv2d) -> torch.Tensor:
    """1 where any tap of the layer's (dilated, zero-padded) window is valid: the update Eq. 4 intends."""
    pad = module.padding
    padded = F.pad(mask, (pad, pad, pad, pad))
    return F.max_pool2d(padded, module.kernel_size, stride=module.stride, dilation=module.dilation)


@torch.inference_mode()
def layers_to_fill(
    masks: npt.ArrayLike,
    stack: Sequence[LayerSpec],
    *,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> FillResult:
    """Number of consecutive layers of ``stack`` after which each mask has no hole left.

    Masks go through the stack in batches; a mask leaves its batch as soon as it is fully valid, so easy masks
    cost few layers. A mask with no hole needs 0 layers; one still holding a hole after the last layer gets
    ``len(stack)`` and ``filled=False`` (the seed counts such masks at its cap of 20).

    Args:
        masks: (N, H, W) masks of 0/1 (1 = valid, 0 = hole), any numeric or bool dtype.
        stack: The layers, e.g. :func:`pconv_stack` or :func:`dpconv_stack`.
        batch_size: Masks per forward pass.
        device: Torch device for the convolutions.

    Returns:
        :class:`FillResult` with (N,) int64 layer counts and (N,) bool "became fully valid".

    Raises:
        InvalidInputError: Masks not 3-D, an empty stack, or a layer that would change the map size.
        RuntimeError: PartialConv2d's mask update disagreed with the exact window test.
    """
    arr = np.asarray(masks)
    if arr.ndim != 3:
        raise InvalidInputError(f"masks must be (N, H, W), got shape {arr.shape}")
    if not stack:
        raise InvalidInputError("stack must hold at least one layer")
    dev = torch.device(device)
    modules = _modules(stack, dev)
    with _exact_convolutions():
        return _fill(arr, modules, batch_size, dev)


def _fill(arr: npt.NDArray[Any], modules: list[PartialConv2d], batch_size: int, dev: torch.device) -> FillResult:
    layers = np.zeros(arr.shape[0], dtype=np.int64)
    filled = np.ones(arr.shape[0], dtype=np.bool_)
    for start in range(0, arr.shape[0], batch_size):
        mask = torch.from_numpy((arr[start : start + batch_size] != 0).astype(np.float32)).to(dev)[:, None]
        active = torch.arange(start, start + mask.shape[0], device=dev)
        pending = mask.flatten(1).amin(dim=1) < 1
        mask, active = mask[pending], active[pending]
        for depth, module in enumerate(modules, start=1):
            if mask.shape[0] == 0:
                break
            _, updated = module(mask, mask)
            if not torch.equal(updated, _exact_update(mask, module)):
                raise RuntimeError(f"PartialConv2d's mask update at layer {depth} is not exact on {dev}")
            done = updated.flatten(1).amin(dim=1) == 1
            layers[active[done].cpu().numpy()] = depth
            mask, active = updated[~done], active[~done]
        leftover = active.cpu().numpy()
        layers[leftover] = len(modules)
        filled[leftover] = False
    return FillResult(layers, filled)


@dataclass(frozen=True)
class AblationResult:
    """Layer counts of each stack on the same masks, and their per-range summaries."""

    ratios: npt.NDArray[np.float64]  # (N,) hole ratio of each mask
    fills: dict[str, FillResult]  # stack name -> counts
    bins: tuple[MaskRatioBucket, ...]

    def summary(self, buckets: tuple[MaskRatioBucket, ...] = MASK_BUCKETS) -> dict[str, dict[str, BucketStats]]:
        """``{stack: {bucket: stats of layer counts}}``, by the seed's b0/b1/b2 unless other buckets are given."""
        return {name: by_bucket(fill.layers, self.ratios, buckets) for name, fill in self.fills.items()}


def default_stacks(max_layers: int = MAX_LAYERS) -> dict[str, tuple[LayerSpec, ...]]:
    """The two stacks the seed compares: ``{"pconv": ..., "dpconv": ...}``."""
    return {"pconv": pconv_stack(max_layers), "dpconv": dpconv_stack(max_layers)}


def run_ablation(
    *,
    n_masks: int = 12_000,
    size: tuple[int, int] = (256, 256),
    bins: tuple[MaskRatioBucket, ...] = SEED_BINS,
    stacks: Mapping[str, Sequence[LayerSpec]] | None = None,
    seed: int = 0,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> AblationResult:
    """The seed's Ablation 2: ``n_masks`` stroke masks split evenly over ``bins``, through each stack.

    Args:
        n_masks: Total masks (the seed: 12,000, i.e. 2,000 in each of six 10 % ranges).
        size: (H, W) of the masks (the seed's models take 256 x 256).
        bins: Hole-ratio ranges the masks are drawn in, equally many per range.
        stacks: Name → layer stack; :func:`default_stacks` (PConv and DPConv, 20 layers) when None.
        seed: Seed of the mask generator.
        batch_size: Masks per forward pass.
        device: Torch device for the convolutions.

    Returns:
        :class:`AblationResult`; ``summary()`` gives the per-bucket means and standard deviations.
    """
    if n_masks < len(bins):
        raise InvalidInputError(f"n_masks must be at least one per bin ({len(bins)}), got {n_masks}")
    chosen = dict(stacks) if stacks is not None else default_stacks()
    rng = np.random.default_rng(seed)
    per_bin = np.diff(np.linspace(0, n_masks, len(bins) + 1).round().astype(int))
    ratios: list[npt.NDArray[np.float64]] = []
    parts: dict[str, list[FillResult]] = {name: [] for name in chosen}
    # One range at a time: 12,000 masks of 256 x 256 would otherwise sit in memory together (0.8 GB).
    for count, bucket in zip(per_bin, bins, strict=True):
        masks = random_stroke_masks(int(count), size, bucket, rng)
        ratios.append(np.array([hole_ratio(m) for m in masks]))
        for name, stack in chosen.items():
            parts[name].append(layers_to_fill(masks, stack, batch_size=batch_size, device=device))
    fills = {
        name: FillResult(np.concatenate([p.layers for p in got]), np.concatenate([p.filled for p in got]))
        for name, got in parts.items()
    }
    return AblationResult(np.concatenate(ratios), fills, bins)
