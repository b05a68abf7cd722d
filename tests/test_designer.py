"""The personalised designer (seed Sec. 3, Fig. 3, Algorithm 1): G's and D's structure, noise and user modes, the
losses against hand computations, which parameters each phase of an iteration moves, training through the shared
trainer (checkpoint with every optimiser, resume, sample grids) and training a variant in PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recengine.compatibility.train import joint_user_rows, train_compatibility
from recengine.designer.train import LAMBDA_FM_G, VARIANTS, load_designer, train_designer
from recengine.errors import InvalidInputError
from recengine.nets.compatibility import CompatibilityConfig
from recengine.nets.designer import (
    DECODER_STRIDES,
    Designer,
    DesignerConfig,
    compatibility_matching_loss,
    ralsgan_d_loss,
    ralsgan_g_loss,
)
from recengine.preferences.service import fit_user, load_model_context
from recengine.store.models import ModelVersion, UserPreference
from recengine.training.checkpoints import export_checkpoint, file_sha256, load_checkpoint
from recengine.training.designer_recipe import DesignerRecipe, LossWeights
from recengine.training.trainer import TrainConfig, Trainer
from tests.test_compatibility import DB_CONFIG, simulated_dataset, tiny, toy_data, toy_images

TINY = DesignerConfig(noise_dim=4, widths=(8, 8, 8, 8, 4, 4), d_widths=(4, 8, 8, 8), d_fc=16,
                      compatibility=tiny(n_users=4))  # fmt: skip
OPTIMIZERS = {"compatibility", "discriminator", "generator"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def designer(mode: str = "theta", seed: int = 0) -> Designer:
    """A tiny designer in eval mode with spread-out θu and G's batch-norm statistics taken from one batch (at
    their initial values, DCGAN's N(0, 0.02) weights give eval-mode designs of ~1e-8)."""
    torch.manual_seed(seed)
    model = Designer(dataclasses.replace(TINY, compatibility=tiny(n_users=4, user_mode=mode)))
    norms = [m for m in model.decoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        if model.compatibility.theta is not None:
            model.compatibility.theta.weight.normal_(0.0, 1.0)
        for norm in norms:
            norm.momentum = 1.0
        model.generate(torch.arange(4).repeat(4), torch.randn(16, 8), torch.randn(16, 4))
        for norm in norms:
            norm.momentum = 0.1
    return model.eval()


def toy_recipe(mode: str = "theta", weights: LossWeights | None = None, samples: Path | None = None,
               seed: int = 0) -> DesignerRecipe:  # fmt: skip
    data = toy_data()
    model = designer(mode, seed).train()
    return DesignerRecipe(model, data, toy_images(), joint_user_rows(data), weights=weights, samples_dir=samples,
                          name="toy", eval_questions=20)  # fmt: skip


# --- the networks -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["theta", "none", "label"])
def test_designs_have_the_image_shape_and_tanh_range(mode: str) -> None:
    model = designer(mode)
    z = torch.randn(2, 8)
    designs = model.design(torch.tensor([0, 3]), z, 3, torch.Generator().manual_seed(0))
    assert designs.shape == (2, 3, 3, 32, 32) and designs.dtype == torch.float32
    assert designs.abs().max() <= 1.0
    model.train()
    fake = model.generate(torch.tensor([0, 1, 2]), torch.randn(3, 8), torch.randn(3, 4))
    assert fake.shape == (3, 3, 32, 32) and fake.abs().max() <= 1.0 and fake.std() > 0.05
    assert model.discriminator(fake).shape == (3,)


def test_decoder_and_discriminator_follow_figure_3() -> None:
    model = designer()
    deconvs = [m for m in model.decoder.deconvs if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [d.stride[0] for d in deconvs] == [*DECODER_STRIDES, 1] == [2, 1, 2, 1, 2, 2, 1]
    assert all(d.kernel_size == (5, 5) for d in deconvs)
    assert [d.out_channels for d in deconvs] == [*TINY.widths, 3]
    norms = [m for m in model.decoder.deconvs if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 6  # every hidden layer, not the output layer
    assert isinstance(model.decoder.deconvs[-1], torch.nn.Tanh)
    slopes = {m.negative_slope for m in model.modules() if isinstance(m, torch.nn.LeakyReLU)}
    assert slopes == {0.2} and not any(isinstance(m, torch.nn.ReLU) for m in model.decoder.modules())
    assert model.decoder.project.out_features == 8 * 2 * 2  # fc to (S/16)² x C0
    convs = [m for m in model.discriminator.convs if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.stride[0], c.kernel_size[0]) for c in convs] == [(4, 2, 5), (8, 2, 5), (8, 2, 5),
                                                                                 (8, 2, 5)]  # fmt: skip
    d_norms = [m for m in model.discriminator.convs if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(d_norms) == 3  # no batch norm after the first conv
    linears = [m for m in model.discriminator.head if isinstance(m, torch.nn.Linear)]
    assert [lin.out_features for lin in linears] == [16, 1]


def test_paper_config_designs_128_pixel_images() -> None:
    config = DesignerConfig.paper(n_users=3)
    assert config.widths == (256, 256, 256, 256, 128, 64) and config.d_widths == (64, 128, 256, 512)
    assert (config.d_fc, config.image_size, config.compatibility.fc) == (1024, 128, (1024, 512))
    torch.manual_seed(0)
    model = Designer(config).eval()
    with torch.no_grad():
        x = model.design(torch.tensor([2]), torch.randn(1, 64), 1)
        assert x.shape == (1, 1, 3, 128, 128)
        assert model.discriminator(x[0]).shape == (1,)


@pytest.mark.parametrize("config", [TINY, DesignerConfig(), DesignerConfig.paper(5, "label")])
def test_config_round_trips_through_dict_and_json(config: DesignerConfig) -> None:
    assert DesignerConfig.from_dict(config.as_dict()) == config
    restored = DesignerConfig.from_dict(json.loads(json.dumps(config.as_dict())))
    assert restored == config and hash(restored) == hash(config)
    assert isinstance(restored.widths, tuple) and isinstance(restored.compatibility, CompatibilityConfig)
    with pytest.raises(ValueError, match="widths"):
        dataclasses.replace(config, widths=(8, 8))


def test_noise_decides_the_design() -> None:
    model = designer()
    users, z = torch.tensor([0, 1]), torch.randn(2, 8)
    with torch.no_grad():
        a = model.design(users, z, 4, torch.Generator().manual_seed(5))
        b = model.design(users, z, 4, torch.Generator().manual_seed(5))
        c = model.design(users, z, 4, torch.Generator().manual_seed(6))
    assert torch.equal(a, b)  # same noise, same designs
    assert (a - c).abs().amax(dim=(2, 3, 4)).min() > 1e-4  # other noise, other designs
    assert (a[:, 0] - a[:, 1]).abs().amax(dim=(1, 2, 3)).min() > 1e-4  # the n designs of a pair differ
    # Eval mode: a design does not depend on the other rows of the batch.
    noise = torch.randn(2, 4)
    with torch.no_grad():
        both = model.generate(users, z, noise)
        alone = model.generate(users[1:], z[1:], noise[1:])
    torch.testing.assert_close(both[1:], alone)


def test_user_modes_change_the_generators_input() -> None:
    z, noise = torch.randn(3, 8), torch.randn(3, 4)
    users = torch.tensor([0, 1, 2])
    same_users = torch.tensor([1, 1, 1])
    # theta: G sees θu (the table's, or a given vector such as a newcomer's), detached.
    theta = designer("theta")
    assert theta.decoder.in_features == 8 + 8 + 4 and theta.decoder.label is None
    code = theta.user_code(users)
    assert code is not None and torch.equal(code, theta.compatibility.theta.weight[:3]) and not code.requires_grad
    with torch.no_grad():
        base = theta.generate(users, z, noise)
        assert not torch.equal(base, theta.generate(same_users, z, noise))
        torch.testing.assert_close(theta.generate(users, z, noise, theta=theta.compatibility.theta(users)), base)
        assert not torch.equal(theta.generate(users, z, noise, theta=torch.ones(3, 8)), base)
    theta.train()
    theta.generate(users, z, noise).sum().backward()
    assert theta.compatibility.theta.weight.grad is None  # G's losses never train θu
    # none: nothing in θu's place.
    none = designer("none")
    assert none.decoder.in_features == 8 + 4 and none.user_code(users) is None
    with torch.no_grad():
        assert torch.equal(none.generate(users, z, noise), none.generate(same_users, z, noise))
    # label: a per-user embedding of θu's width, G's own parameter, zero at first.
    label = designer("label")
    assert label.decoder.in_features == 8 + 8 + 4 and label.decoder.label is not None
    assert label.decoder.label.weight.shape == (4, 8) and not label.decoder.label.weight.any()
    assert any(p is label.decoder.label.weight for p in label.decoder.parameters())
    with torch.no_grad():
        before = label.generate(users, z, noise)
        assert torch.equal(before, label.generate(same_users, z, noise))
        label.decoder.label.weight[1] = 1.0
        after = label.generate(users, z, noise)
    assert (after[1] - before[1]).abs().max() > 1e-4 and torch.equal(after[[0, 2]], before[[0, 2]])


# --- the losses ---------------------------------------------------------------------------------------------------


def test_ralsgan_losses_against_a_hand_computation() -> None:
    real, fake = torch.tensor([1.0, 2.0, 0.0]), torch.tensor([-1.0, 0.5])
    mr, mf = 1.0, -0.25
    reals, fakes = (1.0, 2.0, 0.0), (-1.0, 0.5)
    d = 0.5 * np.mean([(r - mf - 1) ** 2 for r in reals]) + 0.5 * np.mean([(f - mr + 1) ** 2 for f in fakes])
    g = 0.5 * np.mean([(f - mr) ** 2 for f in fakes]) + 0.5 * np.mean([(r - mf) ** 2 for r in reals])
    assert ralsgan_d_loss(real, fake).item() == pytest.approx(d, rel=1e-6)
    assert ralsgan_g_loss(real, fake).item() == pytest.approx(g, rel=1e-6)
    # D is content when reals sit 1 above the mean fake and fakes 1 below the mean real; G when there is no gap.
    assert ralsgan_d_loss(torch.tensor([1.0, 1.0]), torch.tensor([0.0])).item() == 0.0
    assert ralsgan_g_loss(torch.tensor([0.3, 0.3]), torch.tensor([0.3])).item() == 0.0


def test_compatibility_matching_loss_against_a_hand_computation() -> None:
    pos, designed = torch.tensor([2.0, 0.0, 1.0, 3.0]), torch.tensor([1.0, -1.0])
    expected = 0.5 * np.mean([(p - 0.0) ** 2 for p in (2.0, 0.0, 1.0, 3.0)]) + 0.5 * np.mean(
        [(s - 1.5) ** 2 for s in (1.0, -1.0)]
    )
    assert compatibility_matching_loss(pos, designed).item() == pytest.approx(expected, rel=1e-6)
    assert compatibility_matching_loss(torch.full((3,), 0.7), torch.full((2,), 0.7)).item() == 0.0


# --- Algorithm 1 --------------------------------------------------------------------------------------------------


def snapshot(recipe: DesignerRecipe) -> dict[str, list[torch.Tensor]]:
    m = recipe.model
    c = m.compatibility
    theta = c.theta.weight if c.theta is not None else None
    return {
        "F": [p.detach().clone() for p in c.encoder.parameters()],
        "F_buffers": [b.clone() for b in c.encoder.buffers()],
        "M": [p.detach().clone() for p in c.metric.parameters()],
        "theta": [] if theta is None else [theta.detach().clone()],
        "D": [p.detach().clone() for p in m.discriminator.parameters()],
        "G": [p.detach().clone() for p in m.decoder.parameters()],
    }


def changed(before: dict[str, list[torch.Tensor]], after: dict[str, list[torch.Tensor]]) -> set[str]:
    return {k for k in before if any(not torch.equal(a, b) for a, b in zip(before[k], after[k], strict=True))}


def test_each_phase_of_an_iteration_moves_only_its_own_parameters() -> None:
    recipe = toy_recipe()
    recipe.optimizers(TrainConfig(lr=1e-2))
    batch = next(recipe.batches(torch.Generator().manual_seed(0), 8))
    pairs = batch.pairs
    x_query, x_true = recipe.pixels(pairs.queries), recipe.pixels(pairs.positives)
    state = snapshot(recipe)
    fake = recipe.draw_designs(pairs.users, x_query, batch.noise)
    assert fake.requires_grad and changed(state, snapshot(recipe)) == set()
    recipe.step_compatibility(pairs)  # (1) L_FM: F, M, θu
    assert changed(state, now := snapshot(recipe)) == {"F", "F_buffers", "M", "theta"}
    recipe.step_discriminator(x_true, fake)  # (2) RaLSGAN_D
    assert changed(now, after_d := snapshot(recipe)) == {"D"}
    m = recipe.model
    others = [p for p in [*m.compatibility.parameters(), *m.discriminator.parameters()]]
    grads = [None if p.grad is None else p.grad.clone() for p in others]
    logs = recipe.step_generator(pairs.users, x_query, x_true, fake)  # (3) G, with F (buffers too), M, θu, D fixed
    assert changed(after_d, snapshot(recipe)) == {"G"}
    assert set(logs) == {"loss_g", "loss_fm_g", "score_true", "score_design"}
    assert all(p.requires_grad for p in m.parameters())  # unfrozen again
    for p, g in zip(others, grads, strict=True):  # G's backward left the other parameters' gradients alone
        assert (p.grad is None and g is None) or (p.grad is not None and g is not None and torch.equal(p.grad, g))
    assert m.compatibility.training  # F's eval mode was only for the G step


def test_generator_step_learns_through_the_compatibility_discriminator() -> None:
    """With λ3 = 0 only L_FM_G is left: G still moves, so the gradient flows through F(x*) and M into G."""
    for weights, moves in ((LossWeights(gan=0.0), True), (LossWeights(gan=0.0, fm_g=0.0), False)):
        recipe = toy_recipe(weights=weights)
        recipe.optimizers(TrainConfig(lr=1e-2))
        batch = next(recipe.batches(torch.Generator().manual_seed(1), 8))
        x_query, x_true = recipe.pixels(batch.pairs.queries), recipe.pixels(batch.pairs.positives)
        fake = recipe.draw_designs(batch.pairs.users, x_query, batch.noise)
        before = snapshot(recipe)
        logs = recipe.step_generator(batch.pairs.users, x_query, x_true, fake)
        assert (changed(before, snapshot(recipe)) == {"G"}) is moves
        assert ("loss_fm_g" in logs) is moves  # the no-L_FM_G ablation does not run F on designs at all


def test_mode_seeking_term_pushes_designs_of_other_noise_apart() -> None:
    """MSGAN's term alone (λ1 = λ3 = 0) moves G, and moves it towards designs that differ more across noise."""
    recipe = toy_recipe(weights=LossWeights(gan=0.0, fm_g=0.0))
    recipe.optimizers(TrainConfig(lr=1e-2))
    batch = next(recipe.batches(torch.Generator().manual_seed(3), 8))
    assert batch.second_noise.shape == (4, 4)
    users, x_query, x_true = batch.pairs.users, recipe.pixels(batch.pairs.queries), recipe.pixels(batch.pairs.positives)

    def spread() -> float:
        fake = recipe.draw_designs(users, x_query, batch.noise)
        return recipe.mode_seeking_loss(users, recipe.query_latents(x_query), fake, batch.noise,
                                        batch.second_noise).item()  # fmt: skip

    first = spread()
    losses = []
    for _ in range(5):
        fake = recipe.draw_designs(users, x_query, batch.noise)
        before = snapshot(recipe)
        logs = recipe.step_generator(users, x_query, x_true, fake, batch.noise, batch.second_noise)
        assert changed(before, snapshot(recipe)) == {"G"} and set(logs) == {"loss_g", "loss_ms"}
        losses.append(logs["loss_ms"])
    assert losses[-1] < losses[0] and spread() < first  # designs of other noise now differ more


def test_a_whole_iteration_moves_everything_and_reports_eq12() -> None:
    recipe = toy_recipe(mode="label")
    optimizers = recipe.optimizers(TrainConfig(lr=1e-3))
    assert set(optimizers) == OPTIMIZERS
    batch = next(recipe.batches(torch.Generator().manual_seed(2), 8))
    assert batch.noise.shape == (8, 4)
    before = snapshot(recipe)
    logs = recipe.train_step(batch)
    assert changed(before, snapshot(recipe)) == {"F", "F_buffers", "M", "D", "G"}  # no θu in the label mode
    assert set(logs) == {"loss", "loss_fm", "loss_d", "loss_g", "loss_fm_g", "score_true", "score_design", "loss_ms"}
    total = logs["loss_fm"] + logs["loss_fm_g"] + logs["loss_d"] + logs["loss_g"] + logs["loss_ms"]
    assert logs["loss"] == pytest.approx(total) and all(math.isfinite(v) for v in logs.values())
    steps = {name: {int(s["step"]) for s in opt.state.values()} for name, opt in optimizers.items()}
    assert steps == {"compatibility": {1}, "discriminator": {2}, "generator": {1}}  # n_D = 2


def test_lambda2_scales_the_discriminators_learning_rate() -> None:
    recipe = toy_recipe(weights=LossWeights(d=0.5))
    optimizers = recipe.optimizers(TrainConfig(lr=1e-3))
    assert optimizers["discriminator"].param_groups[0]["lr"] == pytest.approx(5e-4)
    assert optimizers["generator"].param_groups[0]["lr"] == pytest.approx(1e-3)
    assert [g["lr"] for g in optimizers["compatibility"].param_groups] == [1e-3, 1e-2]  # θu's own rate


# --- the trainer --------------------------------------------------------------------------------------------------


def test_trainer_saves_every_optimiser_resumes_and_draws_samples(tmp_path: Path) -> None:
    path, samples = tmp_path / "designer-toy.pt", tmp_path / "samples"
    config = TrainConfig(steps=4, batch_size=8, eval_every=2, lr=1e-3)
    torch.manual_seed(0)
    recipe = toy_recipe(samples=samples)
    result = Trainer(recipe, config, checkpoint=path).fit()
    assert result.steps == 4 and [h["step"] for h in result.history] == [2.0, 4.0]
    metrics = result.metrics
    assert {"loss", "loss_fm", "loss_d", "loss_g", "loss_fm_g", "valid_fitb", "valid_pfitb", "valid_score_design",
            "valid_score_true", "valid_score_random", "valid_diversity"} <= set(metrics)  # fmt: skip
    assert 0.0 < metrics["valid_diversity"] <= 2.0
    grids = sorted(p.name for p in samples.iterdir())
    assert grids == ["designer-toy-step2.png", "designer-toy-step4.png"]
    with PILImage.open(samples / grids[-1]) as grid:
        assert grid.size[0] > 6 * 96 and grid.size[1] >= 6 * 96  # 6 pairs: query, 4 designs, true bottom
    payload = torch.load(path, weights_only=True)  # plain containers and tensors only
    assert payload["family"] == "designer"
    assert DesignerConfig.from_dict(payload["config"]) == recipe.model.config
    extra = payload["extra"]
    assert set(extra["optimizers"]) == OPTIMIZERS and "optimizer" not in extra
    steps = {n: {int(s["step"]) for s in o["state"].values()} for n, o in extra["optimizers"].items()}
    assert steps == {"compatibility": {4}, "discriminator": {8}, "generator": {4}}
    assert extra["user_external_ids"] == ["toy-u0", "toy-u1", "toy-u2", "toy-u3"] and extra["n_d"] == 2
    # Resume into a differently initialised recipe and continue.
    fresh = toy_recipe(seed=7, samples=samples)
    trainer = Trainer(fresh, dataclasses.replace(config, steps=6), checkpoint=path)
    assert trainer.resume() and trainer.step == 4
    for key, tensor in recipe.model.state_dict().items():
        assert torch.equal(fresh.model.state_dict()[key], tensor), key
    assert trainer.fit().steps == 6
    resumed = load_checkpoint(path, family="designer")["extra"]
    g_steps = {int(s["step"]) for s in resumed["optimizers"]["generator"]["state"].values()}
    assert resumed["step"] == 6 and g_steps == {6} and len(resumed["history"]) == 3
    assert (samples / "designer-toy-step6.png").exists()
    # One file designs and scores; the exported copy drops the optimisers.
    loaded = load_designer(path)
    users, z = torch.tensor([0, 2]), torch.randn(2, 8)
    with torch.no_grad():
        expected = fresh.model.eval().design(users, z, 2, torch.Generator().manual_seed(1))
        torch.testing.assert_close(loaded.design(users, z, 2, torch.Generator().manual_seed(1)), expected)
    export_checkpoint(path, tmp_path / "ship.pt")
    assert "optimizers" not in load_checkpoint(tmp_path / "ship.pt")["extra"]
    # A shipped (exported) file resumes too: its weights and step, with fresh optimisers.
    again = toy_recipe(seed=9, samples=samples)
    trainer = Trainer(again, dataclasses.replace(config, steps=7), checkpoint=tmp_path / "ship.pt")
    assert trainer.resume() and trainer.step == 6
    for key, tensor in loaded.state_dict().items():
        assert torch.equal(again.model.state_dict()[key], tensor), key
    assert trainer.fit().steps == 7
    g_steps = {int(s["step"]) for s in load_checkpoint(tmp_path / "ship.pt")["extra"]["optimizers"]["generator"]
               ["state"].values()}  # fmt: skip
    assert g_steps == {1}


def test_resuming_with_other_optimisers_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "designer-toy.pt"
    config = TrainConfig(steps=1, batch_size=4, eval_every=1)
    Trainer(toy_recipe(), config, checkpoint=path).fit()
    payload = load_checkpoint(path)
    del payload["extra"]["optimizers"]["discriminator"]
    torch.save(payload, path)
    with pytest.raises(InvalidInputError, match="optimisers"):
        Trainer(toy_recipe(), config, checkpoint=path).resume()


# --- training a variant against PostgreSQL ------------------------------------------------------------------------

DB_DESIGNER = dataclasses.replace(TINY, compatibility=DB_CONFIG)
DB_TRAIN = TrainConfig(steps=4, batch_size=8, eval_every=4)


def test_variants_name_the_seeds_ablations() -> None:
    lam = LAMBDA_FM_G
    expected = {"full": ("theta", lam), "no-theta": ("none", lam), "label": ("label", lam), "no-fm-g": ("theta", 0.0)}
    assert {k: (v.user_mode, v.weights.fm_g) for k, v in VARIANTS.items()} == expected
    assert all((v.weights.d, v.weights.gan, v.weights.n_d) == (1.0, 1.0, 2) for v in VARIANTS.values())


def test_train_designer_from_a_compatibility_checkpoint(session: Session, tmp_path: Path) -> None:
    data = simulated_dataset(session, "des")
    images, ckpt = tmp_path / "images", tmp_path / "ckpt"
    compat = train_compatibility(session=session, dataset="des", variant="full", images_dir=images,
                                 checkpoint_dir=ckpt, train=TrainConfig(steps=2, batch_size=8, eval_every=2),
                                 config=DB_CONFIG)  # fmt: skip
    common = {"session": session, "dataset": "des", "images_dir": images, "checkpoint_dir": ckpt, "train": DB_TRAIN,
              "config": DB_DESIGNER, "compatibility_checkpoint": compat.checkpoint}  # fmt: skip
    with pytest.raises(InvalidInputError, match="user mode"):
        train_designer(variant="label", **common)  # type: ignore[arg-type]
    trained = train_designer(variant="full", **common)  # type: ignore[arg-type]
    version = session.get(ModelVersion, trained.model_version_id)
    assert version is not None and (version.family, version.name) == ("designer", "des-full")
    assert trained.checkpoint == ckpt / "designer-des-full.pt"
    assert version.checkpoint_sha256 == file_sha256(trained.checkpoint) and "valid_score_design" in version.metrics
    assert version.config["compatibility_checkpoint"] == str(compat.checkpoint)
    assert (ckpt / "samples" / "designer-des-full-step4.png").exists()
    model = load_designer(trained.checkpoint)
    assert model.config.compatibility == dataclasses.replace(DB_CONFIG, n_users=10)
    n = session.scalar(select(func.count()).select_from(UserPreference)
                       .where(UserPreference.model_version_id == version.id))  # fmt: skip
    assert n == int((~data.newcomer).sum()) == 10
    # Newcomers are fitted against the designer's own F and M (its designs are conditioned on that θu).
    ctx = load_model_context(session=session, model_version_id=version.id)
    for name, tensor in ctx.model.state_dict().items():
        assert torch.equal(tensor, model.compatibility.state_dict()[name]), name
    newcomer = int(data.user_ids[np.flatnonzero(data.newcomer)[0]])
    fitted = fit_user(session=session, ctx=ctx, user_id=newcomer)
    assert fitted.theta.shape == (DB_CONFIG.z_dim,) and np.isfinite(fitted.theta).all() and fitted.n_examples > 0
