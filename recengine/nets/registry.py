"""The generator registry: one constructor for every image generator family, as timm's ``create_model``.

Each family registers a factory (config -> module), its config type (a frozen dataclass with ``as_dict`` and
``from_dict``, saved inside checkpoints), a default and a tiny preset, and the two functions the shared contract
tests need: ``example_inputs`` (a batch the model accepts) and ``generate`` (the images it makes from them,
``(B, 3, S, S)`` float32 in [-1, 1]). Model tests parametrise over :func:`list_generators`.

Built-in families (registered on first use, so importing this module imports no model code):

* ``designer``: the personalised designer (:mod:`recengine.nets.designer`), generating from (user, F(x_q), noise);
* ``dpconv``: clothing inpainting with dilated partial convolutions (:mod:`recengine.nets.inpainting`);
* ``pconv``: the same network with every dilation 1 (the partial-convolution baseline).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from recengine.errors import InvalidInputError

__all__ = ["GeneratorSpec", "create_generator", "generator_spec", "list_generators", "register_generator"]

Inputs = tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class GeneratorSpec:
    """What the registry knows of one generator family."""

    name: str
    factory: Callable[[Any], nn.Module]
    config_type: type[Any]
    tiny: Callable[[], Any]
    default: Callable[[], Any]
    example_inputs: Callable[[nn.Module, int, torch.Generator], Inputs]
    generate: Callable[..., torch.Tensor]
    family: str  # the checkpoint family its training writes


_REGISTRY: dict[str, GeneratorSpec] = {}
_BUILTINS_LOADED = False


def register_generator(name: str, factory: Callable[[Any], nn.Module], *, tiny: Callable[[], Any],
                       config_type: type[Any], example_inputs: Callable[[nn.Module, int, torch.Generator], Inputs],
                       generate: Callable[..., torch.Tensor], default: Callable[[], Any] | None = None,
                       family: str | None = None, overwrite: bool = False) -> GeneratorSpec:  # fmt: skip
    """Register a generator family under ``name``.

    Args:
        name: Registry name (``create_generator(name)``).
        factory: Builds the module from a config instance.
        tiny: The tiny preset's config (tests, smoke runs).
        config_type: The config dataclass; ``config_type.from_dict(config.as_dict())`` must round-trip.
        example_inputs: ``(model, batch, generator) -> inputs`` for ``generate``.
        generate: ``(model, *inputs) -> (B, 3, S, S)`` images in [-1, 1].
        default: The default config (default: ``config_type()``).
        family: Checkpoint family written by its training (default: ``name``).
        overwrite: Replace an existing registration instead of refusing it.

    Returns:
        The stored :class:`GeneratorSpec`.
    """
    if name in _REGISTRY and not overwrite:
        raise InvalidInputError(f"generator {name!r} is already registered")
    spec = GeneratorSpec(name, factory, config_type, tiny, default or config_type, example_inputs, generate,
                         family or name)  # fmt: skip
    _REGISTRY[name] = spec
    return spec


def list_generators(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style ``pattern``, sorted."""
    _load_builtins()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def generator_spec(name: str) -> GeneratorSpec:
    _load_builtins()
    if name not in _REGISTRY:
        raise InvalidInputError(f"unknown generator {name!r}; choose one of {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def create_generator(name: str, config: Any = None, *, tiny: bool = False) -> nn.Module:
    """Build generator ``name`` from ``config``: a config instance, its ``as_dict()`` (e.g. a checkpoint's
    ``config``), or None for the default (the tiny preset with ``tiny=True``)."""
    spec = generator_spec(name)
    if config is None:
        config = spec.tiny() if tiny else spec.default()
    elif isinstance(config, dict):
        config = spec.config_type.from_dict(config)
    elif not isinstance(config, spec.config_type):
        raise InvalidInputError(f"generator {name!r} takes a {spec.config_type.__name__}, got {type(config).__name__}")
    return spec.factory(config)


# --- built-in families -------------------------------------------------------------------------------------------


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    _register_designer()
    _register_inpainting()


def _register_designer() -> None:
    from recengine.nets.compatibility import CompatibilityConfig
    from recengine.nets.designer import Designer, DesignerConfig

    def tiny() -> DesignerConfig:
        compatibility = CompatibilityConfig(image_size=32, widths=(4, 8), convs=(1, 1), fc=(16,), z_dim=8,
                                            metric_hidden=(8,), n_users=5, final_pool=True)  # fmt: skip
        return DesignerConfig(noise_dim=4, widths=(8, 8, 8, 8, 4, 4), d_widths=(4, 8, 8, 8), d_fc=16,
                              compatibility=compatibility)  # fmt: skip

    def example_inputs(model: nn.Module, batch: int, generator: torch.Generator) -> Inputs:
        config: DesignerConfig = model.config  # type: ignore[assignment]
        users = torch.randint(0, config.compatibility.n_users, (batch,), generator=generator)
        z_query = torch.randn(batch, config.compatibility.z_dim, generator=generator)
        return users, z_query, torch.randn(batch, config.noise_dim, generator=generator)

    def generate(model: nn.Module, users: torch.Tensor, z_query: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        assert isinstance(model, Designer)
        return model.generate(users, z_query, noise)

    register_generator("designer", Designer, tiny=tiny, config_type=DesignerConfig, example_inputs=example_inputs,
                       generate=generate)  # fmt: skip


def _register_inpainting() -> None:
    from recengine.nets.inpainting import InpaintConfig, InpaintingModel

    def example_inputs(model: nn.Module, batch: int, generator: torch.Generator) -> Inputs:
        assert isinstance(model, InpaintingModel)
        size = model.config.image_size
        image = torch.rand(batch, 3, size, size, generator=generator) * 2 - 1
        mask = torch.ones(batch, 1, size, size)
        for b in range(batch):  # one rectangular hole per image, a quarter to a half of each side
            h, w = (int(v) for v in torch.randint(size // 4, size // 2, (2,), generator=generator))
            y, x = (int(v) for v in torch.randint(0, size - max(h, w), (2,), generator=generator))
            mask[b, :, y : y + h, x : x + w] = 0
        return image, mask

    def generate(model: nn.Module, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        assert isinstance(model, InpaintingModel)
        return model.inpaint(image, mask)

    def pconv(config: InpaintConfig) -> InpaintingModel:
        return InpaintingModel(config.as_pconv())

    common: dict[str, Any] = {"config_type": InpaintConfig, "example_inputs": example_inputs, "generate": generate}
    register_generator("dpconv", InpaintingModel, tiny=InpaintConfig.tiny, family="inpainting", **common)
    register_generator("pconv", pconv, tiny=lambda: InpaintConfig.tiny().as_pconv(),
                       default=lambda: InpaintConfig().as_pconv(), family="inpainting", **common)  # fmt: skip
