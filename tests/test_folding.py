"""Batch norm folded into convolutions: the same function, fewer layers, the original model untouched."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from recengine.nets.folding import inference_copy
from tests.test_designer import designer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _randomise_norms(model: nn.Module) -> None:
    """Non-trivial running statistics and affine parameters, so that a wrong fold shows."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for norm in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
            for tensor, low in ((norm.running_mean, -1.0), (norm.running_var, 0.2), (norm.weight, -2.0),
                                (norm.bias, -1.0)):  # fmt: skip
                if tensor is not None:  # no weight and bias without affine
                    tensor.copy_(torch.rand(tensor.shape, generator=generator) * 2 + low)


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_a_conv_and_its_norm_become_one_conv_with_the_same_output(transposed: bool, affine: bool, bias: bool) -> None:
    torch.manual_seed(0)
    conv = (nn.ConvTranspose2d(3, 5, 5, 2, padding=2, output_padding=1, bias=bias) if transposed
            else nn.Conv2d(3, 5, 3, padding=1, bias=bias))  # fmt: skip
    model = nn.Sequential(conv, nn.BatchNorm2d(5, affine=affine), nn.LeakyReLU(0.2)).eval()
    _randomise_norms(model)
    x = torch.randn(2, 3, 8, 8)
    folded = inference_copy(model)
    assert [type(m) for m in folded] == [type(conv), nn.LeakyReLU]
    torch.testing.assert_close(folded(x), model(x), rtol=1e-5, atol=1e-5)
    assert [type(m) for m in model] == [type(conv), nn.BatchNorm2d, nn.LeakyReLU]  # the original is unchanged


def test_the_designers_decoder_and_encoder_fold_without_changing_designs_or_latents() -> None:
    model = designer()
    _randomise_norms(model)
    folded = inference_copy(model)
    assert not folded.training
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.decoder.deconvs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.compatibility.encoder.modules())
    z, theta, noise = torch.randn(6, 8), torch.randn(6, 8), torch.randn(6, 4)
    x = torch.rand(6, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(folded.decoder(z, theta, noise), model.decoder(z, theta, noise), rtol=1e-4,
                                   atol=1e-5)  # fmt: skip
        torch.testing.assert_close(folded.compatibility.encoder(x), model.compatibility.encoder(x), rtol=1e-4,
                                   atol=1e-5)  # fmt: skip
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.decoder.deconvs)


def test_a_norm_that_does_not_follow_a_conv_is_kept() -> None:
    model = nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 4, 1), nn.ReLU(), nn.BatchNorm2d(4)).eval()
    _randomise_norms(model)
    folded = inference_copy(model)
    assert [type(m) for m in folded] == [nn.BatchNorm2d, nn.Conv2d, nn.ReLU, nn.BatchNorm2d]
    x = torch.randn(1, 3, 4, 4)
    torch.testing.assert_close(folded(x), model(x))
