"""Fitting θu for users the networks never saw (seed Sec. 4.5): recovery of a planted θ in latent space, the
fit's contract, and the database service (model context, user examples, fit, upsert) end to end."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recengine.compatibility.scoring import embed_images
from recengine.compatibility.train import train_compatibility
from recengine.datasets.image_cache import load_image_cache
from recengine.datasets.importers.myntra import import_myntra
from recengine.datasets.outfits import (
    SimulationParams,
    load_catalogue,
    load_category_map,
    load_templates,
    simulate_users,
)
from recengine.errors import InvalidInputError, NotFoundError
from recengine.evaluation.protocol_data import ProtocolData, load_protocol_data
from recengine.nets.compatibility import CompatibilityConfig, CompatibilityModel, preference_loss
from recengine.preferences.service import (
    ModelContext,
    build_context,
    fit_examples,
    fit_user,
    load_model_context,
    store_preferences,
    user_examples,
)
from recengine.preferences.theta import FIT_METHODS, FitConfig, FitResult, fit_theta, population_prior
from recengine.store.models import Interaction, Item, User, UserPreference
from recengine.training.compatibility_recipe import NegativeMix
from recengine.training.trainer import TrainConfig
from tests.conftest import MYNTRA, require

LINEAR = CompatibilityConfig(image_size=32, widths=(4, 8), convs=(1, 1), fc=(16,), z_dim=8, metric_hidden=(),
                             n_users=5)  # fmt: skip


# --- planted θu in latent space -----------------------------------------------------------------------------------


def linear_model(seed: int = 0, user_mode: str = "theta") -> CompatibilityModel:
    """M linear (no hidden layer); the θ table spread around 1, so the population prior is its mean θ̄."""
    torch.manual_seed(seed)
    model = CompatibilityModel(CompatibilityConfig(**{**LINEAR.as_dict(), "user_mode": user_mode})).eval()
    if model.theta is not None:
        with torch.no_grad():
            model.theta.weight.copy_(torch.randn(5, 8) * 0.5 + 1.0)
    return model


def questions(generator: torch.Generator, n: int) -> torch.Tensor:
    """(n, 5, z_dim) z_q ⊙ z_c of 5 candidates per question."""
    z_q = torch.randn(n, 1, 8, generator=generator)
    return z_q * torch.randn(n, 5, 8, generator=generator)


def best(model: CompatibilityModel, z_o: torch.Tensor, theta: np.ndarray | torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.score_latent(z_o, torch.as_tensor(theta, dtype=torch.float32)).argmax(dim=1)


def split(z_o: torch.Tensor, chosen: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(positives (n, z), the other four (n, 4, z))."""
    n = len(z_o)
    others = torch.ones(n, 5, dtype=torch.bool)
    others[torch.arange(n), chosen] = False
    return z_o[torch.arange(n), chosen], z_o[others].view(n, 4, -1)


@pytest.mark.parametrize("method", FIT_METHODS)
def test_fit_recovers_a_planted_theta_and_leaves_the_model_unchanged(method: str) -> None:
    model = linear_model()
    generator = torch.Generator().manual_seed(100)
    planted = torch.randn(8, generator=generator)
    prior = population_prior(model)
    np.testing.assert_allclose(prior, model.theta.weight.detach().double().mean(dim=0).numpy())
    assert prior.dtype == np.float64 and not np.allclose(prior, planted.numpy(), atol=0.5)
    train = questions(generator, 300)
    z_pos, z_neg = split(train, best(model, train, planted))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    reports: list[tuple[int, int]] = []

    config = FitConfig(prior=1e-4, steps=500, method=method)
    result = fit_theta(model, z_pos, z_neg, config=config, progress=lambda s, n: reports.append((s, n)))

    assert result.theta.shape == (8,) and result.theta.dtype == np.float64 and np.isfinite(result.theta).all()
    assert not result.is_prior and result.n_examples == 300 and 1 <= result.steps <= 500
    assert math.isfinite(result.loss) and result.loss < math.log(2)
    # Every 10 steps, then the end as done/done: a job's row reads "77/77", not the last "70/500", when a fit
    # stops early.
    assert reports == [*((s, 500) for s in range(10, result.steps + 1, 10)), (result.steps, result.steps)]
    held_out = questions(generator, 300)
    truth = best(model, held_out, planted)
    fitted_agreement = (best(model, held_out, result.theta) == truth).float().mean().item()
    prior_agreement = (best(model, held_out, prior) == truth).float().mean().item()
    assert fitted_agreement > 0.85, fitted_agreement
    assert prior_agreement < 0.6 and prior_agreement < fitted_agreement - 0.3, prior_agreement
    # F, M and the θ table are untouched, and trainable again.
    for key, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[key]), key
    assert all(p.requires_grad for p in model.parameters())
    # The same inputs and config give the same θu.
    again = fit_theta(model, z_pos, z_neg, config=config)
    np.testing.assert_array_equal(again.theta, result.theta)


def preference_problem(n: int) -> tuple[CompatibilityModel, torch.Tensor, torch.Tensor, np.ndarray]:
    """The linear model, latents of n answered questions of a random taste, and the population prior."""
    model = linear_model()
    generator = torch.Generator().manual_seed(7)
    train = questions(generator, n)
    z_pos, z_neg = split(train, best(model, train, torch.randn(8, generator=generator)))
    return model, z_pos, z_neg, population_prior(model)


def test_a_strong_prior_keeps_theta_near_the_population_mean() -> None:
    model, z_pos, z_neg, prior = preference_problem(20)
    weak = fit_theta(model, z_pos, z_neg, config=FitConfig(prior=1e-4, steps=200))
    strong = fit_theta(model, z_pos, z_neg, config=FitConfig(prior=100.0, steps=200))
    assert np.linalg.norm(strong.theta - prior) < 0.2 * np.linalg.norm(weak.theta - prior)


def test_the_prior_fades_as_the_history_grows() -> None:
    # The same examples ten times over leave the mean loss as it is; only the prior's share shrinks (MAP), so
    # the longer history's θu lies farther from the population mean.
    model, z_pos, z_neg, prior = preference_problem(10)
    config = FitConfig(prior=5.0, steps=300, patience=300)
    short = fit_theta(model, z_pos, z_neg, config=config)
    long = fit_theta(model, z_pos.repeat(10, 1), z_neg.repeat(10, 1, 1), config=config)
    assert np.linalg.norm(long.theta - prior) > 1.5 * np.linalg.norm(short.theta - prior)


def test_no_positives_give_the_population_prior() -> None:
    model = linear_model()
    result = fit_theta(model, torch.empty(0, 8), torch.empty(0, 4, 8))
    assert result.is_prior and result.n_examples == 0 and result.steps == 0 and math.isnan(result.loss)
    np.testing.assert_allclose(result.theta, population_prior(model), rtol=1e-6)  # θ̄ as float32


@pytest.mark.parametrize(
    ("z_pos", "z_neg"),
    [
        (torch.randn(6, 8), torch.randn(5, 4, 8)),  # another number of positives
        (torch.randn(6, 8), torch.randn(6, 4, 7)),  # another latent size
    ],
)
def test_mismatched_shapes_are_refused(z_pos: torch.Tensor, z_neg: torch.Tensor) -> None:
    model = linear_model()
    with pytest.raises(InvalidInputError, match="do not match"):
        fit_theta(model, z_pos, z_neg)
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize(
    ("z_pos", "z_neg"),
    [
        (torch.randn(6, 6), torch.randn(6, 4, 6)),  # z_dim 6 for a model of z_dim 8
        (torch.randn(6, 8), torch.randn(6, 8)),  # negatives without their K axis
    ],
)
def test_latents_of_another_shape_than_the_model_expects_are_refused(z_pos: torch.Tensor, z_neg: torch.Tensor) -> None:
    with pytest.raises(InvalidInputError):
        fit_theta(linear_model(), z_pos, z_neg)


def test_a_fit_restores_frozen_parameters_as_frozen() -> None:
    model = linear_model()
    for p in model.encoder.parameters():
        p.requires_grad_(False)
    fit_theta(model, torch.randn(4, 8), torch.randn(4, 4, 8), config=FitConfig(steps=5))
    assert not any(p.requires_grad for p in model.encoder.parameters())
    assert all(p.requires_grad for p in model.metric.parameters())


def loss_of(model: CompatibilityModel, z_pos: torch.Tensor, z_neg: torch.Tensor, result: FitResult,
            config: FitConfig, weights: torch.Tensor | None = None) -> float:  # fmt: skip
    """The fit's objective recomputed by hand at the returned θu (equal column weights when None)."""
    theta = torch.as_tensor(result.theta, dtype=torch.float32)
    prior = torch.as_tensor(population_prior(model), dtype=torch.float32)
    with torch.no_grad():
        pos, neg = model.score_latent(z_pos, theta)[:, None], model.score_latent(z_neg, theta)
        fit = preference_loss(pos.expand_as(neg), neg) if weights is None \
            else (-torch.nn.functional.logsigmoid(pos - neg) * weights).sum(1).mean()  # fmt: skip
        return (fit + config.prior / len(z_pos) * ((theta - prior) ** 2).mean()).item()


def test_the_reported_loss_is_the_loss_of_the_returned_theta() -> None:
    model, z_pos, z_neg, _ = preference_problem(50)
    config = FitConfig(steps=30, patience=100)
    result = fit_theta(model, z_pos, z_neg, config=config)
    assert result.loss == pytest.approx(loss_of(model, z_pos, z_neg, result, config), rel=1e-5)


def test_column_weights_weigh_the_negatives_in_the_reported_loss() -> None:
    model, z_pos, z_neg, _ = preference_problem(50)
    k = z_neg.shape[1]
    weights = torch.tensor([0.9 / (k - 1)] * (k - 1) + [0.1])
    config = FitConfig(steps=30, patience=100)
    result = fit_theta(model, z_pos, z_neg, config=config, weights=weights)
    assert result.loss == pytest.approx(loss_of(model, z_pos, z_neg, result, config, weights), rel=1e-5)
    assert result.loss != pytest.approx(fit_theta(model, z_pos, z_neg, config=config).loss, rel=1e-3)


@pytest.mark.parametrize("mix", [NegativeMix(), NegativeMix.in_batch_even()], ids=["default", "in-batch-even"])
def test_context_negatives_skip_the_users_own_bottoms_and_weigh_the_kinds_as_trained(mix: NegativeMix) -> None:
    generator = torch.Generator().manual_seed(0)
    z = torch.rand(20, 6, generator=generator) + 0.5  # no zero: a bottom is recovered from z_q ⊙ z_c / z_q
    pair_users = np.array([1, 1, 2, 2, 3, 3])
    pair_queries, pair_targets = np.array([0, 1, 2, 3, 4, 5]), np.array([10, 11, 12, 13, 14, 15])
    ctx = ModelContext(0, linear_model(), None, z, {}, pair_queries, pair_targets, pair_users,  # type: ignore[arg-type]
                       np.arange(10, 20), mix)  # fmt: skip
    mine = np.array([12, 14, 16])
    z_neg, weights = ctx.negatives(np.random.default_rng(0), np.array([0, 1, 2]), 200, user_id=1, complements=mine)
    assert z_neg.shape == (3, 200, 6)
    eq6 = (z_neg[:, :100] / z[[0, 1, 2]][:, None]).reshape(-1, 6)
    bottoms6 = torch.cdist(eq6, z).argmin(1).numpy()
    eq7 = z_neg[:, 100:].reshape(-1, 6)
    pairs7 = torch.cdist(eq7, z[pair_queries] * z[pair_targets]).argmin(1).numpy()
    assert set(pairs7.tolist()) == ({3, 5} if mix.exclude_own else {2, 3, 4, 5})  # never user 1's own pairs
    assert set(bottoms6.tolist()) <= set(range(10, 20)) - (set(mine.tolist()) if mix.exclude_own else set())
    assert len(set(bottoms6.tolist())) > 3
    w = mix.eq7_weight
    torch.testing.assert_close(weights, torch.tensor([(1 - w) / 100] * 100 + [w / 100] * 100))


@pytest.mark.parametrize("weights", [[0.5, 0.5], [0.5, 0.5, 0.5, -0.5], [0.4, 0.4, 0.1, 0.0]])
def test_bad_column_weights_are_refused(weights: list[float]) -> None:
    with pytest.raises(InvalidInputError, match="weights"):
        fit_theta(linear_model(), torch.randn(3, 8), torch.randn(3, 4, 8), weights=torch.tensor(weights))


def test_a_fit_interrupted_by_its_progress_callback_restores_the_model() -> None:
    model = linear_model()

    def boom(step: int, total: int | None) -> None:
        raise RuntimeError("stop")

    for method in FIT_METHODS:
        with pytest.raises(RuntimeError, match="stop"):
            fit_theta(model, torch.randn(10, 8), torch.randn(10, 4, 8), progress=boom,
                      config=FitConfig(steps=100, prior=1e-4, method=method))  # fmt: skip
        assert all(p.requires_grad for p in model.parameters())


def test_lbfgs_reaches_adams_loss_in_fewer_evaluations_and_unknown_methods_are_refused() -> None:
    model, z_pos, z_neg, _ = preference_problem(50)
    adam = fit_theta(model, z_pos, z_neg, config=FitConfig(method="adam"))
    lbfgs = fit_theta(model, z_pos, z_neg, config=FitConfig())
    assert lbfgs.loss <= adam.loss + 1e-4 and lbfgs.steps < adam.steps, (lbfgs, adam)
    with pytest.raises(InvalidInputError, match="method must be one of lbfgs, adam"):
        FitConfig(method="sgd")


def test_a_model_without_theta_has_no_population_prior() -> None:
    for mode in ("none", "label"):
        model = linear_model(user_mode=mode)
        with pytest.raises(InvalidInputError, match="no user preference vectors"):
            population_prior(model)
        with pytest.raises(InvalidInputError):
            fit_theta(model, torch.randn(3, 8), torch.randn(3, 4, 8))


# --- the service against PostgreSQL -------------------------------------------------------------------------------

DB_CONFIG = CompatibilityConfig(image_size=32, widths=(4, 8), convs=(1, 1), fc=(16,), z_dim=8, metric_hidden=(8,))
DB_TRAIN = TrainConfig(steps=10, batch_size=8, eval_every=10)


def simulated_dataset(session: Session, name: str) -> ProtocolData:
    import_myntra(require(MYNTRA), session=session, limit=6000)
    catalogue = load_catalogue(session=session, category_map=load_category_map())
    params = SimulationParams(seed=0, users=12, train_outfits=20, test_outfits=5, newcomer_users=2)
    simulate_users(session=session, name=name, catalogue=catalogue, templates=load_templates(), params=params)
    return load_protocol_data(session=session, dataset=name)


def train(session: Session, tmp_path: Path, name: str, variant: str) -> int:
    trained = train_compatibility(session=session, dataset=name, variant=variant, images_dir=tmp_path / "cache",
                                  checkpoint_dir=tmp_path / "ckpt", train=DB_TRAIN,
                                  config=DB_CONFIG)  # fmt: skip
    return trained.model_version_id


def stored(session: Session, user_id: int, version_id: int) -> list[UserPreference]:
    session.expire_all()
    return list(
        session.scalars(
            select(UserPreference).where(
                UserPreference.user_id == user_id, UserPreference.model_version_id == version_id
            )
        )
    )


def test_fit_and_store_a_newcomers_preferences(session: Session, tmp_path: Path) -> None:
    data = simulated_dataset(session, "pref-e2e")
    version_id = train(session, tmp_path, "pref-e2e", "full")
    joint = data.user_ids[~data.newcomer]
    prefs = session.execute(select(UserPreference.user_id, UserPreference.dim, UserPreference.n_examples)
                            .where(UserPreference.model_version_id == version_id)).all()  # fmt: skip
    assert sorted(u for u, _, _ in prefs) == sorted(joint.tolist()) and len(prefs) == 10
    assert all(dim == 8 and n > 0 for _, dim, n in prefs)

    # The context: the checkpoint's model, the negative pools, and item embeddings encoded as fits read them
    # (encoding the whole dataset first made the first fit after a deploy take 60 s on the Myntra shop).
    with pytest.raises(NotFoundError):
        load_model_context(session=session, model_version_id=version_id + 1000)
    ctx = load_model_context(session=session, model_version_id=version_id)
    assert ctx.model_version_id == version_id and not ctx.model.training
    assert ctx.z.shape == (len(data.item_ids), 8) and ctx.missing is not None and ctx.missing.all()
    images = load_image_cache(session=session, item_ids=data.item_ids, size=32, cache_dir=tmp_path / "cache")
    ctx.encode(session, np.arange(50))
    torch.testing.assert_close(ctx.z[:50], embed_images(ctx.model, images[:50]), rtol=1e-5, atol=1e-5)
    assert not ctx.missing[:50].any() and ctx.missing[50:].all() and not ctx.z[50:].any()
    with pytest.raises(InvalidInputError, match="pass a session"):
        ctx.encode(None, np.arange(60))
    # A catalogue photo replaced since, the same items otherwise: the outputs follow the photo (a cache keyed by
    # the checkpoint alone served the old ones).
    donor, changed = (session.get(Item, int(i)) for i in data.item_ids[:2])
    assert donor is not None and changed is not None and donor.image_sha256 != changed.image_sha256
    kept = changed.image_sha256
    changed.image_sha256 = donor.image_sha256
    session.flush()
    moved = load_model_context(session=session, model_version_id=version_id)
    moved.encode(session, np.array([1]))
    torch.testing.assert_close(moved.z[1], ctx.z[0], rtol=1e-5, atol=1e-5)
    changed.image_sha256 = kept
    session.flush()
    assert set(np.unique(ctx.pair_users).tolist()) == set(joint.tolist())
    assert (data.item_slot[ctx.bottoms] == data.target_slot).all()
    assert ctx.mix == NegativeMix()  # the negatives the checkpoint was trained with

    # A newcomer's examples are exactly their training pairs (valid and test outfits are held out).
    newcomer_index = int(np.flatnonzero(data.newcomer)[0])
    newcomer = int(data.user_ids[newcomer_index])
    users, queries, targets, _ = data.pairs("train")
    mine = users == newcomer_index
    q, c = user_examples(session=session, ctx=ctx, user_id=newcomer, rng=np.random.default_rng(0))
    assert sorted(zip(q.tolist(), c.tolist(), strict=True)) == sorted(
        zip(queries[mine].tolist(), targets[mine].tolist(), strict=True))  # fmt: skip
    assert len(q) > 0

    first = fit_user(session=session, ctx=ctx, user_id=newcomer)
    assert first.theta.shape == (8,) and np.isfinite(first.theta).all()
    assert not first.is_prior and first.n_examples == len(q) == int(mine.sum())
    assert math.isfinite(first.loss) and first.steps >= 1
    assert all(p.requires_grad for p in ctx.model.parameters())
    # Seeded by (config seed, user): a re-fit gives the same θu; fit_examples is the same fit from indices.
    np.testing.assert_array_equal(fit_user(session=session, ctx=ctx, user_id=newcomer).theta, first.theta)
    np.testing.assert_array_equal(fit_examples(ctx, q, c, user_id=newcomer).theta, first.theta)
    # The fit encoded only what it read, and gives the θu of a context whose every item was encoded up front.
    read = int((~ctx.missing).sum())
    assert 0 < read <= 50 + len(q) * (2 + 2 * FitConfig().negatives_per_positive) and read < len(data.item_ids)
    full = build_context(version_id, ctx.model, data, embed_images(ctx.model, images), ctx.mix)
    np.testing.assert_allclose(fit_examples(full, q, c, user_id=newcomer).theta, first.theta, rtol=1e-4, atol=1e-5)

    # Storing twice keeps one row per (user, model version), with the newer values.
    store_preferences(session=session, user_id=newcomer, model_version_id=version_id, result=first)
    (row,) = stored(session, newcomer, version_id)
    np.testing.assert_allclose(row.vector, first.theta, rtol=1e-6)
    second = dataclasses.replace(first, theta=first.theta + 0.25, loss=0.25, n_examples=first.n_examples + 1)
    store_preferences(session=session, user_id=newcomer, model_version_id=version_id, result=second)
    rows = stored(session, newcomer, version_id)
    assert len(rows) == 1
    np.testing.assert_allclose(rows[0].vector, second.theta, rtol=1e-6)
    assert (rows[0].dim, rows[0].n_examples, rows[0].is_prior) == (8, second.n_examples, False)
    assert rows[0].loss == pytest.approx(second.loss)

    # A fit that crashes half way, in a savepoint that also held a newer upsert, leaves θu as it was.
    def boom(step: int, total: int | None) -> None:
        raise RuntimeError("worker lost")  # at the first report, however soon the fit converges

    prior = FitResult(population_prior(ctx.model), float("nan"), 0, 0, 0.0, True)
    with pytest.raises(RuntimeError, match="worker lost"), session.begin_nested():
        store_preferences(session=session, user_id=newcomer, model_version_id=version_id, result=prior)
        crashed = fit_user(session=session, ctx=ctx, user_id=newcomer, progress=boom)
        store_preferences(session=session, user_id=newcomer, model_version_id=version_id, result=crashed)
    rows = stored(session, newcomer, version_id)
    assert len(rows) == 1 and not rows[0].is_prior
    np.testing.assert_allclose(rows[0].vector, second.theta, rtol=1e-6)
    assert all(p.requires_grad for p in ctx.model.parameters())

    # A user without history gets the population prior; a like of a bottom is an example.
    lonely = User(external_id="pref-e2e-lonely", dataset_id=data.dataset_id)
    session.add(lonely)
    session.flush()
    empty = fit_user(session=session, ctx=ctx, user_id=lonely.id)
    assert empty.is_prior and empty.n_examples == 0
    np.testing.assert_allclose(empty.theta, population_prior(ctx.model), rtol=1e-6)
    store_preferences(session=session, user_id=lonely.id, model_version_id=version_id, result=empty)
    (row,) = stored(session, lonely.id, version_id)
    assert row.is_prior and row.loss is None and row.n_examples == 0
    liked = int(data.item_ids[ctx.bottoms[0]])
    session.add(Interaction(user_id=lonely.id, item_id=liked, kind="like"))
    session.flush()
    q, c = user_examples(session=session, ctx=ctx, user_id=lonely.id, rng=np.random.default_rng(0))
    assert c.tolist() == [int(ctx.bottoms[0])] and np.isin(q, ctx.pair_queries).all()
    assert fit_user(session=session, ctx=ctx, user_id=lonely.id).n_examples == 1
    session.add(Interaction(user_id=lonely.id, item_id=liked, kind="like"))  # the same like again: a retried call
    session.flush()
    assert fit_user(session=session, ctx=ctx, user_id=lonely.id).n_examples == 1
    # A purchase is a choice, as a like is (before, a buyer who liked nothing got the prior); a view is not.
    bought, viewed = int(data.item_ids[ctx.bottoms[1]]), int(data.item_ids[ctx.bottoms[2]])
    session.add_all([Interaction(user_id=lonely.id, item_id=bought, kind="purchase"),
                     Interaction(user_id=lonely.id, item_id=viewed, kind="view"),
                     Interaction(user_id=lonely.id, item_id=liked, kind="purchase")])  # fmt: skip
    session.flush()
    q, c = user_examples(session=session, ctx=ctx, user_id=lonely.id, rng=np.random.default_rng(0))
    assert c.tolist() == [int(ctx.bottoms[0]), int(ctx.bottoms[1])]  # liked then bought: one example each

    # Refusals: an unknown user, a non-finite θu.
    missing = (session.scalar(select(func.max(User.id))) or 0) + 1000
    with pytest.raises(NotFoundError):
        fit_user(session=session, ctx=ctx, user_id=missing)
    broken = FitResult(np.full(8, np.nan), 1.0, 1, 1, 0.0, False)
    with pytest.raises(InvalidInputError, match="non-finite"):
        store_preferences(session=session, user_id=newcomer, model_version_id=version_id, result=broken)


def test_the_variant_without_theta_stores_and_fits_no_preferences(session: Session, tmp_path: Path) -> None:
    data = simulated_dataset(session, "pref-none")
    version_id = train(session, tmp_path, "pref-none", "no-theta")
    n = session.scalar(select(func.count()).select_from(UserPreference)
                       .where(UserPreference.model_version_id == version_id))  # fmt: skip
    assert n == 0
    ctx = load_model_context(session=session, model_version_id=version_id)
    assert ctx.model.theta is None
    newcomer = int(data.user_ids[data.newcomer][0])
    with pytest.raises(InvalidInputError, match="no user preference vectors"):
        fit_user(session=session, ctx=ctx, user_id=newcomer)
