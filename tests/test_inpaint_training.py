"""Inpainting training (seed Eq. 5–14, Sec. 4.1): the losses against hand computations, the feature networks
(the catalogue stand-in and a torchvision-format VGG16), one recipe iteration through the shared trainer, and a
tiny training run on real Myntra photos that registers a loadable model version."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from recengine.cli import app
from recengine.datasets.importers.myntra import import_myntra
from recengine.embedding.train import SHIPPED_EMBEDDER
from recengine.errors import InvalidInputError
from recengine.inpainting.train import load_inpainting, train_inpainting
from recengine.nets.embedder import EmbedderConfig, EmbedderNet
from recengine.nets.inpainting import InpaintConfig, InpaintingModel
from recengine.nets.vgg import VGG16Features
from recengine.store.models import ModelVersion
from recengine.training.checkpoints import load_checkpoint
from recengine.training.inpaint_losses import (
    EmbedderFeatures,
    InpaintLossWeights,
    gram,
    load_feature_net,
    noisy_targets,
    pixel_losses,
    style_loss,
    tv_loss,
)
from recengine.training.inpaint_recipe import InpaintRecipe
from recengine.training.jobs import check_params
from recengine.training.trainer import TrainConfig, Trainer
from tests.conftest import MYNTRA, require

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TINY_EMBEDDER = EmbedderConfig(widths=(4, 4, 8, 8, 8), convs=(1, 1, 1, 1, 1), fc=(8,), dim=8)


# --- losses -------------------------------------------------------------------------------------------------------


def test_pixel_losses_split_the_l1_error_by_the_mask() -> None:
    truth, output = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])  # one known pixel, three hole pixels
    hole, valid = pixel_losses(output, truth, mask)
    assert float(hole) == pytest.approx(9 / 12) and float(valid) == pytest.approx(3 / 12)  # Eq. 7-8: / (C H W)


def test_style_loss_compares_normalised_gram_matrices() -> None:
    a = torch.randn(2, 4, 3, 3)
    flat = a[0].reshape(4, 9)
    torch.testing.assert_close(gram(a)[0], flat @ flat.T / 36)
    assert float(style_loss([a], [a])) == 0.0
    b = a + 1
    expected = (gram(a) - gram(b)).abs().sum() / (2 * 16)  # (1 / C²) ||·||_1, averaged over the batch
    assert float(style_loss([a], [b])) == pytest.approx(float(expected))


def test_tv_loss_counts_only_pairs_inside_the_dilated_hole() -> None:
    comp = torch.zeros(1, 1, 6, 6)
    comp[..., :, 3:] = 1.0  # one vertical edge between columns 2 and 3
    far = torch.ones(1, 1, 6, 6)
    far[..., 0, 5] = 0.0  # a hole whose one-pixel dilation covers rows 0-1, columns 4-5: no edge there
    assert float(tv_loss(comp, far)) == 0.0
    near = torch.ones(1, 1, 6, 6)
    near[..., 2, 2] = 0.0  # dilated: rows 1-3, columns 1-3, crossing the edge on 3 rows
    assert float(tv_loss(comp, near)) == pytest.approx(3 / 36)


def test_discriminator_targets_are_smoothed_and_sometimes_flipped() -> None:
    real, fake = noisy_targets(20000, InpaintLossWeights(), torch.Generator().manual_seed(0))
    flipped = real < 0.5
    assert 0.08 < float(flipped.float().mean()) < 0.12
    assert bool(((real[~flipped] >= 0.7) & (real[~flipped] <= 1.2)).all())
    assert bool(((fake[~flipped] >= 0.0) & (fake[~flipped] <= 0.3)).all())
    assert bool((fake[flipped] >= 0.7).all())


# --- feature networks -------------------------------------------------------------------------------------------


def test_a_torchvision_vgg16_state_dict_loads_and_gives_pool1_to_pool3(tmp_path: Path) -> None:
    torch.manual_seed(0)
    vgg = VGG16Features(pools=3)
    state = {f"features.{k}": v for k, v in vgg.features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # a full torchvision file has more: ignored
    torch.save(state, tmp_path / "vgg16.pth")
    net, record = load_feature_net(f"vgg16:{tmp_path / 'vgg16.pth'}")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    outs = net(x)
    assert [tuple(o.shape) for o in outs] == [(1, 64, 16, 16), (1, 128, 8, 8), (1, 256, 4, 4)]
    torch.testing.assert_close(outs[2], vgg(x)[2])
    assert record["kind"] == "vgg16" and not any(p.requires_grad for p in net.parameters())
    del state["features.14.bias"]
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(InvalidInputError, match=r"missing features\.14\.bias"):
        load_feature_net(f"vgg16:{tmp_path / 'bad.pth'}")
    with pytest.raises(InvalidInputError, match="unknown feature network"):
        load_feature_net("resnet:/x")


def test_the_catalogue_network_stands_in_with_its_first_three_stages() -> None:
    net = EmbedderFeatures(EmbedderNet(TINY_EMBEDDER))
    assert [tuple(o.shape) for o in net(torch.zeros(2, 3, 32, 32))] == [(2, 4, 16, 16), (2, 4, 8, 8), (2, 8, 4, 4)]


def test_inpainting_jobs_and_command_take_their_options() -> None:
    assert check_params({"family": "inpainting", "variant": "pconv", "feature_net": "vgg16:/x", "d_lr": 1e-4}) == (
        "inpainting"
    )
    result = CliRunner().invoke(app, ["train", "inpainting", "--variant", "gconv"])
    assert result.exit_code != 0 and "unknown variant 'gconv'" in result.output


# --- the recipe through the trainer -----------------------------------------------------------------------------


def garment_photos(n: int, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(0)
    photos = np.full((n, size, size, 3), 255, np.uint8)
    for k in range(n):
        photos[k, 6:26, 8:24] = rng.integers(0, 200, 3)
    return photos


def test_one_iteration_moves_generator_and_discriminator_and_resumes(tmp_path: Path) -> None:
    torch.manual_seed(0)
    features = EmbedderFeatures(EmbedderNet(TINY_EMBEDDER)).eval().requires_grad_(False)
    valid = np.zeros(12, dtype=bool)
    valid[:3] = True
    recipe = InpaintRecipe(InpaintingModel(InpaintConfig.tiny()), garment_photos(12), valid, features, eval_images=3,
                           samples_dir=tmp_path / "samples", name="toy")  # fmt: skip
    before = {k: v.detach().clone() for k, v in recipe.model.named_parameters()}
    train = TrainConfig(steps=1, batch_size=4, eval_every=1, betas=(0.5, 0.9))
    result = Trainer(recipe, train, checkpoint=tmp_path / "toy.pt").fit()
    moved = {k.split(".")[0] for k, v in recipe.model.named_parameters() if not torch.equal(v, before[k])}
    assert moved == {"generator", "discriminator"}
    assert {"loss", "loss_d", "loss_hole", "loss_style", "loss_adv", "loss_tv", "valid_l1_b2"} <= set(result.metrics)
    assert (tmp_path / "samples" / "inpainting-toy-step1.png").exists()
    payload = load_checkpoint(tmp_path / "toy.pt", family="inpainting")
    assert set(payload["extra"]["optimizers"]) == {"generator", "discriminator"}
    assert payload["extra"]["optimizers"]["discriminator"]["param_groups"][0]["lr"] == 1e-4
    again = Trainer(recipe, TrainConfig(steps=2, batch_size=4, eval_every=2, betas=(0.5, 0.9)),
                    checkpoint=tmp_path / "toy.pt")  # fmt: skip
    assert again.resume() and again.fit().steps == 2


# --- a tiny run on real photos ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalogue(engine: Engine) -> Iterator[Engine]:
    with Session(engine) as session, session.begin():
        import_myntra(require(MYNTRA), session=session, limit=160)  # ~90 garments, 3 held out (ids 154, 178, 181)
    yield engine


def test_tiny_run_on_myntra_photos_registers_a_loadable_model(catalogue: Engine, tmp_path: Path) -> None:
    require(SHIPPED_EMBEDDER)  # the default feature network when no embedder is registered
    train = TrainConfig(steps=3, batch_size=4, eval_every=3, betas=(0.5, 0.9), threads=1)
    with Session(catalogue) as session:
        trained = train_inpainting(session=session, variant="pconv", images_dir=tmp_path / "cache",
                                   checkpoint_dir=tmp_path / "checkpoints", train=train, config=InpaintConfig.tiny(),
                                   eval_images=4)  # fmt: skip
        version = session.scalar(select(ModelVersion).where(ModelVersion.family == "inpainting"))
        assert version is not None and version.id == trained.model_version_id and version.name == "pconv"
        assert version.config["feature_net"]["kind"] == "embedder" and 20 <= version.config["items"] <= 160
        session.rollback()
    result = trained.result
    assert result.steps == 3 and np.isfinite(result.metrics["loss"]) and np.isfinite(result.metrics["loss_d"])
    assert 0.0 <= result.metrics["valid_l1_b2"] <= 100.0 and 0.0 < result.metrics["valid_ssim"] <= 1.0
    model = load_inpainting(trained.checkpoint)
    assert set(model.config.dilations) == {1}
    image, mask = torch.zeros(1, 3, 32, 32), torch.ones(1, 1, 32, 32)
    mask[..., 8:16, 8:16] = 0
    assert model.inpaint(image, mask).shape == (1, 3, 32, 32)
    assert any((tmp_path / "checkpoints" / "samples").glob("inpainting-pconv-step3.png"))
