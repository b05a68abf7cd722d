"""(Dilated) partial convolution (inpainting seed Eq. 1–4) on hand-made masks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from recengine.nets.partial_conv import PartialConv2d

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def layer(dilation: int = 1, padding: int | None = None, c_in: int = 2, c_out: int = 3) -> PartialConv2d:
    torch.manual_seed(0)
    conv = PartialConv2d(c_in, c_out, 3, padding=dilation if padding is None else padding, dilation=dilation)
    assert conv.bias is not None
    with torch.no_grad():
        conv.bias.normal_()  # non-zero, so that "bias only where valid" is tested
    return conv


def single_valid_pixel(size: int = 7) -> torch.Tensor:
    mask = torch.zeros(1, 1, size, size)
    mask[0, 0, 3, 3] = 1.0
    return mask


def test_mask_update_without_dilation_grows_by_one_pixel() -> None:
    _, new_mask = layer(1)(torch.randn(1, 2, 7, 7), single_valid_pixel())
    expected = torch.zeros(7, 7)
    expected[2:5, 2:5] = 1.0
    assert torch.equal(new_mask[0, 0], expected)


def test_mask_update_with_dilation_two_reaches_pixels_two_apart() -> None:
    _, new_mask = layer(2)(torch.randn(1, 2, 7, 7), single_valid_pixel())
    expected = torch.zeros(7, 7)
    expected[1::2, 1::2] = 1.0  # the taps of a 3x3 kernel dilated by 2 around (3, 3): rows/cols 1, 3, 5
    assert torch.equal(new_mask[0, 0], expected)


def test_a_hole_block_closes_faster_with_dilation() -> None:
    mask = torch.ones(1, 1, 9, 9)
    mask[..., 3:6, 3:6] = 0.0  # a 3x3 hole
    x = torch.randn(1, 2, 9, 9)
    plain, dilated = layer(1), layer(2)
    m1, m2, layers = mask, mask, 0
    while bool((m1 == 0).any()):
        _, m1 = plain(x, m1)
        _, m2 = dilated(x, m2)
        layers += 1
        if layers == 1:
            assert bool((m2 == 1).all())  # dilation 2 reaches across the 3x3 hole at once (centre: ±2 taps)
    assert layers == 2  # without dilation the hole shrinks by one pixel per side per layer


def test_reweighting_equals_an_explicit_window_sum() -> None:
    conv = layer(2)
    x = torch.randn(1, 2, 6, 6)
    mask = (torch.rand(1, 1, 6, 6) > 0.5).float()
    out, new_mask = conv(x, mask)
    w, b = conv.conv.weight, conv.bias
    assert b is not None
    xp, mp = F.pad(x, (2, 2, 2, 2)), F.pad(mask, (2, 2, 2, 2))
    for i in range(6):
        for j in range(6):
            xw = xp[0, :, i : i + 5 : 2, j : j + 5 : 2]  # (C, 3, 3): the dilated window
            mw = mp[0, 0, i : i + 5 : 2, j : j + 5 : 2]
            valid = float(mw.sum())
            expected = torch.zeros(3) if valid == 0 else (w * (xw * mw)).sum(dim=(1, 2, 3)) * (9.0 / valid) + b
            torch.testing.assert_close(out[0, :, i, j], expected.detach(), rtol=1e-5, atol=1e-5)
            assert float(new_mask[0, 0, i, j]) == float(valid > 0)


def test_fully_valid_mask_equals_a_plain_convolution() -> None:
    conv = layer(2, padding=0)
    x = torch.randn(2, 2, 8, 8)
    out, new_mask = conv(x, torch.ones(2, 1, 8, 8))
    torch.testing.assert_close(out, F.conv2d(x, conv.conv.weight, conv.bias, dilation=2))
    assert new_mask.shape == (2, 1, 4, 4) and bool((new_mask == 1).all())


def test_a_window_with_no_valid_pixel_gives_zero_and_a_hole() -> None:
    mask = torch.ones(1, 1, 8, 8)
    mask[..., :5, :5] = 0.0
    out, new_mask = layer(1)(torch.randn(1, 2, 8, 8), mask)
    assert bool((out[0, :, :4, :4] == 0).all()) and bool((new_mask[0, 0, :4, :4] == 0).all())  # bias not added
    assert bool((new_mask[0, 0, 4, :4] == 1).all())  # windows touching row 5 see valid pixels


def test_a_per_channel_mask_equal_across_channels_matches_the_shared_mask() -> None:
    conv = layer(1)
    x = torch.randn(2, 2, 6, 6)
    mask = (torch.rand(2, 1, 6, 6) > 0.4).float()
    out1, m1 = conv(x, mask)
    out2, m2 = conv(x, mask.expand(2, 2, 6, 6))
    torch.testing.assert_close(out1, out2)
    assert torch.equal(m1, m2) and m2.shape == (2, 1, 6, 6)


def test_gradients_reach_weights_bias_and_only_the_valid_inputs() -> None:
    conv = layer(2)
    x = torch.randn(1, 2, 6, 6, requires_grad=True)
    mask = torch.ones(1, 1, 6, 6)
    mask[..., 1:3, 1:3] = 0.0
    out, new_mask = conv(x, mask)
    out.square().sum().backward()
    assert conv.conv.weight.grad is not None and float(conv.conv.weight.grad.abs().sum()) > 0
    assert conv.bias is not None and conv.bias.grad is not None and float(conv.bias.grad.abs().sum()) > 0
    assert x.grad is not None and bool((x.grad[..., 1:3, 1:3] == 0).all()) and float(x.grad.abs().sum()) > 0
    assert not new_mask.requires_grad


def test_bad_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match="does not match"):
        layer(1)(torch.randn(1, 2, 6, 6), torch.ones(1, 3, 6, 6))
    with pytest.raises(ValueError, match=">= 1"):
        PartialConv2d(2, 3, 3, dilation=0)
