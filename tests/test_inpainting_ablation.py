"""Ablation 2 of the inpainting seed on a few small masks: layers until the mask is fully valid."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from recengine.devices import torch_threads
from recengine.inpainting.ablation import (
    MAX_LAYERS,
    FillResult,
    LayerSpec,
    _fill,
    _modules,
    dpconv_stack,
    layers_to_fill,
    pconv_stack,
    run_ablation,
)
from recengine.inpainting.masks import B1, B2, random_stroke_masks
from recengine.inpainting.plots import save_ablation_plot
from recengine.nets.partial_conv import PartialConv2d


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with torch_threads(1):
        yield


def _both(masks: np.ndarray) -> tuple[FillResult, FillResult]:
    return layers_to_fill(masks, pconv_stack()), layers_to_fill(masks, dpconv_stack())


def test_stacks() -> None:
    assert [s.kernel_size for s in pconv_stack()] == [7, 5, 5, 3] + [3] * 16
    assert {s.dilation for s in pconv_stack()} == {1}
    assert [s.dilation for s in dpconv_stack()] == [1, 1, 1, 1, 2, 4, 8] + [16] * 13
    assert len(dpconv_stack(6)) == 6 and dpconv_stack(6)[-1] == LayerSpec(3, 4)


def test_a_tiny_hole_needs_one_layer() -> None:
    masks = np.ones((2, 32, 32), dtype=np.uint8)
    masks[0, 16, 16] = 0  # one pixel
    masks[1, 14:19, 5:10] = 0  # 5 x 5: within the first 7 x 7 window's reach
    for fill in _both(masks):
        assert fill.layers.tolist() == [1, 1] and fill.filled.all()


def test_a_square_hole() -> None:
    masks = np.ones((1, 64, 64), dtype=np.uint8)
    masks[0, 20:41, 20:41] = 0  # 21 x 21: its centre is 11 pixels from the nearest valid one
    pconv, dpconv = _both(masks)
    # PConv reaches 3, 5, 7, 8, 9, 10, 11 pixels after layers 1..7. DPConv reaches 8 after four layers; the
    # dilation-2 layer fills all but the centre, whose taps 2 away are still holes; dilation 4 gets it.
    assert pconv.layers.tolist() == [7]
    assert dpconv.layers.tolist() == [6]


def test_edge_cases() -> None:
    masks = np.ones((3, 16, 16), dtype=np.uint8)
    masks[1] = 0  # nothing valid: no layer can fill it
    masks[2, 0, 0] = 0  # a corner: the padding counts as hole, the pixel's own window does not
    fill = layers_to_fill(masks, pconv_stack(5))
    assert fill.layers.tolist() == [0, 5, 1]
    assert fill.filled.tolist() == [True, False, True]


def test_dpconv_never_needs_more_layers_on_stroke_masks() -> None:
    masks = np.concatenate([random_stroke_masks(8, (64, 64), b, seed=5) for b in (B1, B2)])
    pconv, dpconv = _both(masks)
    assert pconv.filled.all() and dpconv.filled.all()
    assert (dpconv.layers <= pconv.layers).all()
    assert dpconv.layers.mean() < pconv.layers.mean()


class _NoisyUpdate(PartialConv2d):
    """A layer whose mask update is off, as with an inexact convolution algorithm."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, _ = super().forward(x, mask)
        return out, torch.ones_like(mask)


def test_an_inexact_mask_update_is_caught() -> None:
    masks = random_stroke_masks(4, (32, 32), B2, seed=0)
    modules = _modules(pconv_stack(3), torch.device("cpu"))
    modules[1] = _NoisyUpdate(1, 1, 5, padding=2, bias=False)
    with pytest.raises(RuntimeError, match="layer 2 is not exact"), torch.inference_mode():
        _fill(masks, modules, 4, torch.device("cpu"))


def test_run_ablation_and_plot(tmp_path: Path) -> None:
    result = run_ablation(n_masks=12, size=(48, 48), seed=1)
    assert result.ratios.shape == (12,)
    assert set(result.fills) == {"pconv", "dpconv"}
    summary = result.summary()
    assert list(summary["pconv"]) == ["b0", "b1", "b2"]
    assert sum(s.count for s in summary["dpconv"].values()) == 12
    for stats in summary.values():
        for s in stats.values():
            assert 1 <= s.mean <= MAX_LAYERS
    path = save_ablation_plot(result, tmp_path / "plots" / "ablation.png")
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size[0] > 400
