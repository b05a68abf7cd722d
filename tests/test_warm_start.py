"""Where encoder F starts: the catalogue network's or VGG16's weights copied in, or nothing (the seed)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from recengine.compatibility.warm_start import warm_start
from recengine.errors import InvalidInputError, NotFoundError
from recengine.nets.compatibility import CompatibilityConfig, CompatibilityModel
from recengine.nets.embedder import EmbedderConfig, EmbedderNet
from recengine.nets.vgg import VGG16Features
from recengine.training.checkpoints import save_checkpoint

SHAPE = {"image_size": 32, "widths": (4, 8), "convs": (1, 2)}
# Pooled after the last block, as the catalogue network is, so that F's first FC layer has its shape too.
F_CONFIG = CompatibilityConfig(**SHAPE, fc=(16, 12), z_dim=8, metric_hidden=(8,), n_users=3, final_pool=True)


def embedder_file(tmp_path: Path, **shape: object) -> tuple[Path, EmbedderNet]:
    config = EmbedderConfig(**{**SHAPE, **shape}, fc=(16,), dim=6, heads={"colour": ("red", "blue")})  # type: ignore[arg-type]
    torch.manual_seed(1)
    net = EmbedderNet(config)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.5)  # far from any fresh initialisation
    path = tmp_path / "embedder.pt"
    save_checkpoint(path, family="embedder", config=config.as_dict(), state_dict=net.state_dict())
    return path, net


def test_none_leaves_the_model_as_it_was(tmp_path: Path) -> None:
    model = CompatibilityModel(F_CONFIG)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert warm_start(model, "none", default_embedder=embedder_file(tmp_path)[0]) is None
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("spec", ["embedder", "embedder:{path}", "auto"])
def test_embedder_copies_the_conv_stack_and_first_fc_layer_only(tmp_path: Path, spec: str) -> None:
    path, net = embedder_file(tmp_path)
    model = CompatibilityModel(F_CONFIG)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    record = warm_start(model, spec.format(path=path), default_embedder=path)
    assert record is not None and record["kind"] == "embedder" and record["path"] == str(path.resolve())
    own, theirs = model.encoder.state_dict(), net.state_dict()
    for key in theirs:
        if key.startswith(("features.", "head.0.")):
            assert torch.equal(own[key], theirs[key]), key
    assert record["tensors"] == len([k for k in theirs if k.startswith(("features.", "head.0."))])
    # F's later layers (the embedder has other sizes there), M and θu keep their fresh values.
    for key in ("encoder.head.2.weight", "metric.0.weight", "theta.weight"):
        assert torch.equal(model.state_dict()[key], fresh[key]), key


def test_without_the_final_pool_the_conv_stack_still_loads(tmp_path: Path) -> None:
    path, net = embedder_file(tmp_path)
    model = CompatibilityModel(dataclasses.replace(F_CONFIG, final_pool=False))
    head = model.encoder.head[0].weight.clone()
    record = warm_start(model, f"embedder:{path}", default_embedder=None)
    convs = [k for k in net.state_dict() if k.startswith("features.")]
    assert record is not None and record["tensors"] == len(convs)
    own = model.encoder.state_dict()
    assert all(torch.equal(own[k], net.state_dict()[k]) for k in convs)
    assert torch.equal(model.encoder.head[0].weight, head)  # 4x the inputs: not the embedder's layer
    # The same conv weights on a map twice as large: 8 channels at 16x16 for 32-pixel inputs.
    assert model.encoder.features(torch.zeros(1, 3, 32, 32)).shape == (1, 8, 16, 16)


def test_a_network_of_another_shape_is_refused_unless_auto(tmp_path: Path) -> None:
    path, _ = embedder_file(tmp_path, widths=(4, 16))
    model = CompatibilityModel(F_CONFIG)
    with pytest.raises(InvalidInputError, match="does not fit F's configuration"):
        warm_start(model, f"embedder:{path}", default_embedder=None)
    assert warm_start(model, "auto", default_embedder=path) is None  # auto: from scratch, and says so


def test_bad_specs_and_missing_files_are_named(tmp_path: Path) -> None:
    model = CompatibilityModel(F_CONFIG)
    with pytest.raises(InvalidInputError, match="unknown encoder initialisation 'imagenet'"):
        warm_start(model, "imagenet", default_embedder=None)
    with pytest.raises(InvalidInputError, match="no catalogue network"):
        warm_start(model, "embedder", default_embedder=None)
    assert warm_start(model, "auto", default_embedder=None) is None
    with pytest.raises(InvalidInputError, match="vgg16 needs its weights"):
        warm_start(model, "vgg16", default_embedder=None)
    with pytest.raises(NotFoundError):
        warm_start(model, f"embedder:{tmp_path / 'missing.pt'}", default_embedder=None)


def test_vgg16_weights_load_into_the_papers_conv_stack(tmp_path: Path) -> None:
    vgg = VGG16Features(pools=5)
    path = tmp_path / "vgg16.pth"
    torch.save({f"features.{k}": v for k, v in vgg.features.state_dict().items()}, path)  # torchvision's keys
    paper = CompatibilityConfig.paper(n_users=2)
    model = CompatibilityModel(CompatibilityConfig(**{**paper.as_dict(), "batch_norm": False}))
    record = warm_start(model, f"vgg16:{path}", default_embedder=None)
    assert record is not None and record["kind"] == "vgg16" and record["tensors"] == 26  # 13 convs
    assert torch.equal(model.encoder.features[0].weight, vgg.features[0].weight)
    assert torch.equal(model.encoder.features[28].bias, vgg.features[28].bias)
    with pytest.raises(InvalidInputError, match="batch_norm false"):
        warm_start(CompatibilityModel(paper), f"vgg16:{path}", default_embedder=None)
