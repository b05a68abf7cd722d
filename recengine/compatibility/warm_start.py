"""Where encoder F's weights start: from scratch (the seed), or from a trained image network.

The seed initialises F and trains it for 25 epochs; on 2 CPU cores the default recipe affords about two. A
network that already reads garments gets F there sooner: the catalogue image network (trained on the shop's
own product labels: article type, colour, gender, usage; :mod:`recengine.nets.embedder`) has exactly F's
convolutional stack at the default sizes (and its first fully connected layer where F's has that shape), and an
ImageNet VGG16 (torchvision format) has the conv stack of ``CompatibilityConfig.paper()``. Only tensors of equal
name and shape are copied; the rest of F, M and θu start as usual. Measured in ``docs/decisions.md``.

Specs (the same words as the inpainting feature network): ``none``; ``embedder`` (the newest registered
catalogue network, else the shipped one); ``embedder:PATH``; ``vgg16:PATH``; ``auto`` (``embedder`` when one
exists and fits the configuration, else ``none``). The CLI's default is ``none``, the seed's start, with which
the shipped checkpoints were trained; what was loaded is recorded with the model version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from recengine.errors import InvalidInputError
from recengine.nets.compatibility import CompatibilityModel
from recengine.nets.vgg import VGG16Features
from recengine.training.checkpoints import file_sha256, load_checkpoint, network_file

SPECS = ("none", "auto", "embedder", "embedder:PATH", "vgg16:PATH")


def _embedder_tensors(path: Path) -> dict[str, torch.Tensor]:
    state = load_checkpoint(path, family="embedder")["state_dict"]
    return {k: v for k, v in state.items() if k.startswith(("features.", "head.0."))}


def _vgg16_tensors(path: Path) -> dict[str, torch.Tensor]:
    # torchvision's VGG16 has no batch norm: its conv i sits at features.{2i} with ReLUs between (and pools
    # after each block); F's stack with batch_norm=False has the same layout, so the keys carry over as they are.
    vgg = VGG16Features(pools=5).load_torchvision(path)
    return {f"features.{k}": v for k, v in vgg.features.state_dict().items()}


def matching(model: CompatibilityModel, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors of ``tensors`` that F has under the same name and with the same shape, whole layers only (a
    layer's bias alone can fit where its weight does not: F's first FC layer when its input is wider)."""
    own = model.encoder.state_dict()
    misfits = {_layer(k) for k, v in tensors.items() if k not in own or own[k].shape != v.shape}
    return {k: v for k, v in tensors.items() if _layer(k) not in misfits}


def _layer(key: str) -> str:
    """``features.3.weight`` -> ``features.3``."""
    return key.rsplit(".", 1)[0]


def warm_start(model: CompatibilityModel, spec: str, *, default_embedder: Path | None) -> dict[str, Any] | None:
    """Copy a trained network's weights into F as ``spec`` says; returns what was loaded (for the model's record),
    or None when F starts from scratch.

    Raises:
        InvalidInputError: An unknown spec, no catalogue network for ``embedder``, or a network that shares no
            (or only part of its) conv stack with F's configuration.
        NotFoundError: A named file does not exist.
    """
    kind, _, where = spec.partition(":")
    if spec == "none":
        return None
    if kind not in ("auto", "embedder", "vgg16") or (kind == "auto" and where):
        raise InvalidInputError(f"unknown encoder initialisation {spec!r}; use one of {', '.join(SPECS)}")
    path = network_file(kind, where, default_embedder)
    if path is None:
        if kind == "auto":
            return None
        raise InvalidInputError("no catalogue network registered or shipped; pass embedder:PATH or none")
    tensors = _vgg16_tensors(path) if kind == "vgg16" else _embedder_tensors(path)
    taken = matching(model, tensors)
    convs = [k for k in tensors if k.startswith("features.")]
    if len([k for k in taken if k.startswith("features.")]) < len(convs) or not convs:
        if kind == "auto":
            return None
        bn = " and batch_norm false, as torchvision's VGG16 has none" if kind == "vgg16" else ""
        shape = f"widths {model.config.widths}, convs {model.config.convs}{bn}"
        raise InvalidInputError(f"{path}: its conv stack does not fit F's configuration ({shape}); "
                                "start from scratch with none")  # fmt: skip
    model.encoder.load_state_dict(taken, strict=False)
    return {"kind": "vgg16" if kind == "vgg16" else "embedder", "path": str(path.resolve()),
            "sha256": file_sha256(path), "tensors": len(taken)}  # fmt: skip
