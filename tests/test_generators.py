"""The generator contract, run on every family of the registry's tiny presets: shapes, dtypes and ranges, config
round trip through a checkpoint, determinism from a seed, and that one backward step moves the parameters."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from recengine.errors import InvalidInputError
from recengine.nets.inpainting import InpaintConfig, InpaintingModel
from recengine.nets.registry import create_generator, generator_spec, list_generators
from recengine.training.checkpoints import load_checkpoint, save_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")
BATCH = 3


def build(name: str, seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    torch.manual_seed(seed)
    model = create_generator(name, tiny=True)
    inputs = generator_spec(name).example_inputs(model, BATCH, torch.Generator().manual_seed(seed))
    return model, inputs


def images(name: str, model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
    return generator_spec(name).generate(model, *inputs)


def test_the_seed_families_are_registered() -> None:
    assert {"designer", "dpconv", "pconv"} <= set(list_generators())
    assert list_generators("*conv") == ["dpconv", "pconv"]
    with pytest.raises(InvalidInputError, match="unknown generator 'gan'"):
        create_generator("gan")


def test_pconv_is_dpconv_without_dilation() -> None:
    pconv, dpconv = create_generator("pconv"), create_generator("dpconv")
    assert isinstance(pconv, InpaintingModel) and isinstance(dpconv, InpaintingModel)
    assert set(pconv.config.dilations) == {1} and max(dpconv.config.dilations) > 1
    assert create_generator("pconv", InpaintConfig.tiny()).config == InpaintConfig.tiny().as_pconv()


@pytest.mark.parametrize("name", list_generators())
def test_generates_images_of_the_config_size_in_range(name: str) -> None:
    model, inputs = build(name)
    with torch.no_grad():
        out = images(name, model.eval(), inputs)
    size = model.config.image_size  # type: ignore[union-attr]
    assert out.shape == (BATCH, 3, size, size) and out.dtype == torch.float32
    assert bool(torch.isfinite(out).all()) and float(out.abs().max()) <= 1.0


@pytest.mark.parametrize("name", list_generators())
def test_config_round_trips_through_a_checkpoint(name: str, tmp_path: Path) -> None:
    model, inputs = build(name)
    config = model.config  # type: ignore[union-attr]
    path = tmp_path / "g.pt"
    save_checkpoint(path, family=generator_spec(name).family, config=config.as_dict(), state_dict=model.state_dict())
    payload = load_checkpoint(path, family=generator_spec(name).family)  # weights_only=True inside
    again = create_generator(name, payload["config"])
    assert again.config == config  # type: ignore[union-attr]
    again.load_state_dict(payload["state_dict"])
    with torch.no_grad():
        torch.testing.assert_close(images(name, again.eval(), inputs), images(name, model.eval(), inputs))


@pytest.mark.parametrize("name", list_generators())
def test_same_seed_same_model_and_images(name: str) -> None:
    (a, inputs_a), (b, inputs_b) = build(name, seed=3), build(name, seed=3)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    with torch.no_grad():
        assert torch.equal(images(name, a.eval(), inputs_a), images(name, b.eval(), inputs_b))
    c, _ = build(name, seed=4)
    assert any(not torch.equal(va, vc) for va, vc in zip(a.state_dict().values(), c.state_dict().values(), strict=True))


@pytest.mark.parametrize("name", list_generators())
def test_a_backward_step_moves_the_parameters(name: str) -> None:
    model, inputs = build(name)
    model.train()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = (images(name, model, inputs) - 0.5).square().mean()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(bool(torch.isfinite(g).all()) for g in grads)
    optimizer.step()
    moved = [k for k, v in model.named_parameters() if not torch.equal(v, before[k])]
    assert moved
