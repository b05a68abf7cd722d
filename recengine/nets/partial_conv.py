"""Partial convolution and its dilated variant (the inpainting seed's Eq. 1–4).

Reference:
    Kınlı, Özcan, Kıraç. "A Benchmark for Inpainting of Clothing Images with Irregular Holes" (2020),
    Sec. 3.1, which dilates the partial convolution of Liu et al. "Image Inpainting for Irregular Holes
    Using Partial Convolutions" (ECCV 2018).

For an input window ``X`` with binary validity mask ``M`` (1 = known pixel, 0 = hole) and kernel ``W``::

    out = W^T (X ⊙ M) · sum(1) / sum(M) + b     if sum(M) > 0
        = 0                                      otherwise
    m'  = 1 if sum(M) > 0 else 0

where the sums run over the (dilated) window, i.e. the same taps the convolution reads. With ``dilation=1``
this is exactly Liu et al.'s layer; with ``dilation=l`` the window is spread ``l`` pixels apart, so the mask
fills faster (the seed's claim checked in its Ablation 2).

Two places where the seed's printed equations are not followed literally, both on purpose:

* Eq. 2–3 print the scale as a division by ``Z = (2M+1)(2N+1) / sum(M)``, which would *shrink* outputs of
  partly masked windows; the text says it is "essentially the same scaling factor as in [33]", whose factor is
  ``sum(1) / sum(M)``. We use Liu et al.'s factor.
* Eq. 4 prints the update condition as ``sum(M) > 1``; Liu et al. (and the seed's own description "updated in
  such a way that progressively filling up the hole pixels") use ``> 0``: any valid tap makes the output valid.
  With ``> 1`` a window holding one valid pixel would be both scaled (non-zero output) and marked a hole.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PartialConv2d"]


class PartialConv2d(nn.Module):
    """2-D (dilated) partial convolution: masked, re-weighted convolution plus mask update.

    Args:
        in_channels: Input feature channels ``C``.
        out_channels: Output feature channels ``C'``.
        kernel_size: Square kernel side ``k``.
        stride: Convolution stride.
        padding: Zero padding on each side; padded positions count as holes (mask 0).
        dilation: Dilation ``l`` of the kernel (and of the mask window); 1 gives Liu et al.'s partial conv.
        bias: Whether to learn a bias ``b``; it is added only where the window had a valid pixel.

    Shapes:
        ``x``: ``(B, C, H, W)`` float.
        ``mask``: ``(B, 1, H, W)`` (one mask shared by all channels, the usual case) or ``(B, C, H, W)``
        (one mask per input channel); values in ``{0, 1}``, 1 = valid. Same dtype as ``x`` or bool/any float.
        Returns ``out`` ``(B, C', H', W')`` (dtype of ``x``) and ``new_mask`` ``(B, 1, H', W')`` in ``{0, 1}``
        (dtype of ``x``); ``H', W'`` follow the usual convolution arithmetic.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if min(in_channels, out_channels, kernel_size, stride, dilation) < 1 or padding < 0:
            raise ValueError("channels, kernel_size, stride and dilation must be >= 1 and padding >= 0")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        # The conv itself carries no bias: the bias must be gated by the mask update (Eq. 3 / Liu et al.).
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, dilation=dilation, bias=False
        )
        self.bias: nn.Parameter | None = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, bias={self.bias is not None}"
        )

    def mask_window_sum(self, mask: torch.Tensor) -> torch.Tensor:
        """``sum(M)`` over each output position's (dilated) window, summed over mask channels.

        Args:
            mask: ``(B, 1 or C, H, W)`` validity mask.

        Returns:
            ``(B, 1, H', W')`` float counts of valid taps.
        """
        mask = mask.to(self.conv.weight.dtype)
        ones = torch.ones(1, mask.shape[1], self.kernel_size, self.kernel_size, dtype=mask.dtype, device=mask.device)
        return F.conv2d(mask, ones, stride=self.stride, padding=self.padding, dilation=self.dilation)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply the partial convolution; see the class docstring for shapes."""
        if x.dim() != 4 or mask.dim() != 4:
            raise ValueError(f"expected 4-D x and mask, got {tuple(x.shape)} and {tuple(mask.shape)}")
        if mask.shape[1] not in (1, x.shape[1]) or mask.shape[0] != x.shape[0] or mask.shape[2:] != x.shape[2:]:
            raise ValueError(f"mask {tuple(mask.shape)} does not match input {tuple(x.shape)}")
        mask = mask.to(x.dtype)
        raw = self.conv(x * mask)
        with torch.no_grad():
            # The mask path is not learned; keeping it out of autograd saves memory on every layer.
            valid_sum = self.mask_window_sum(mask)
            window = float(mask.shape[1] * self.kernel_size * self.kernel_size)  # sum(1)
            # The sums count whole pixels; > 0.5, not > 0, because some CPU convolution paths (NNPACK) leave
            # ~1e-5 where the true count is 0, which would mark holes valid.
            new_mask = (valid_sum > 0.5).to(x.dtype)
            scale = window / valid_sum.clamp(min=1.0) * new_mask
        out = raw * scale
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1) * new_mask
        return out, new_mask
