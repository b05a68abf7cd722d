"""The personalised compatibility model (seed Eq. 3-5): shapes and user modes, self-describing checkpoints, the
scorer's PairScorer contract, the trainer and recipe on hand-made data, and training a variant in PostgreSQL."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recengine.compatibility.scoring import CompatibilityScorer, embed_images, score_catalogue
from recengine.compatibility.train import VARIANTS, joint_user_rows, train_compatibility
from recengine.datasets.image_cache import to_tensor
from recengine.datasets.importers.myntra import import_myntra
from recengine.datasets.outfits import (
    SLOT_ORDER,
    SimulationParams,
    load_catalogue,
    load_category_map,
    load_templates,
    simulate_users,
)
from recengine.errors import InvalidInputError, NotFoundError
from recengine.evaluation.protocol import build_questions, evaluate
from recengine.evaluation.protocol_data import PARTS, ProtocolData, load_protocol_data
from recengine.nets.compatibility import CompatibilityConfig, CompatibilityModel, preference_loss
from recengine.store.models import ModelVersion, UserPreference
from recengine.training.checkpoints import file_sha256, load_checkpoint, save_checkpoint
from recengine.training.compatibility_recipe import Batch, CompatibilityRecipe, NegativeMix, block_starts
from recengine.training.trainer import TrainConfig, Trainer, TrainResult
from tests.conftest import MYNTRA, require

TOP, BOTTOM = SLOT_ORDER.index("top"), SLOT_ORDER.index("bottom")
TRAIN, VALID, TEST = (PARTS.index(p) for p in ("train", "valid", "test"))
# Pooled after every block: the smallest head. The tiny worlds of the designer and retrieval tests were built on
# it (with a 16x16 map their random-pixel items all score alike); the default 4x4 layout is covered below and by
# the preference-fitting tests' configs.
TINY = CompatibilityConfig(image_size=32, widths=(4, 8), convs=(1, 1), fc=(16,), z_dim=8, metric_hidden=(8,), n_users=5,
                           final_pool=True)  # fmt: skip
METRICS = {"questions", "fitb", "pfitb", "auc_eq6", "auc_eq7", "recall10", "map10", "recall10_unseen",
           "unseen_questions"}  # fmt: skip


def tiny(**changes: object) -> CompatibilityConfig:
    return dataclasses.replace(TINY, **changes)  # type: ignore[arg-type]


def make_model(seed: int = 0, **changes: object) -> CompatibilityModel:
    """A tiny model in eval mode with spread-out user vectors and labels (not the ≈1 / 0 initialisation)."""
    torch.manual_seed(seed)
    model = CompatibilityModel(tiny(**changes))
    with torch.no_grad():
        if model.theta is not None:
            model.theta.weight.normal_(0.0, 1.0)
        if model.label is not None:
            model.label.weight.normal_(0.0, 1.0)
    return model.eval()


def random_images(n: int, seed: int = 0, size: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


# --- hand-made data -----------------------------------------------------------------------------------------------
#
# 12 tops (items 0-11, article 0) and 18 bottoms (items 12-29, article 1), each in colour group ``item % 3``.
# Every outfit pairs a top with a bottom of its colour group, so "same colour" is the learnable compatibility.
# Users 0-3 are joint users, user 4 a newcomer; bottoms 28 and 29 are unseen (test outfits only).

N_ITEMS, GROUPS = 30, 3
COLOURS = np.array([[230, 30, 30], [30, 230, 30], [30, 30, 230]])


def toy_data(seed: int = 0, n_users: int = 5, train: int = 12, valid: int = 4, test: int = 3) -> ProtocolData:
    rng = np.random.default_rng(seed)
    slot = np.array([TOP] * 12 + [BOTTOM] * 18)
    group = np.arange(N_ITEMS) % GROUPS
    unseen = np.isin(np.arange(N_ITEMS), [28, 29])
    tops, bottoms = np.arange(12), np.arange(12, N_ITEMS)
    users, parts, rows = [], [], []
    for u in range(n_users):
        for k in range(train + valid + test):
            part = TRAIN if k < train else VALID if k < train + valid else TEST
            top = int(rng.choice(tops))
            pool = bottoms[(group[bottoms] == group[top]) & (~unseen[bottoms] | (part == TEST))]
            bottom = int(rng.choice(pool))
            rows.append([top, bottom] if k % 2 else [bottom, top])  # column order is not slot order
            users.append(u)
            parts.append(part)
    return ProtocolData(
        dataset_id=7,
        user_ids=np.arange(n_users, dtype=np.int64) + 100,
        user_external=[f"toy-u{i}" for i in range(n_users)],
        newcomer=np.arange(n_users) == n_users - 1,
        item_ids=np.arange(N_ITEMS, dtype=np.int64) + 1000,
        item_slot=slot,
        item_article=(slot == BOTTOM).astype(np.int64),
        item_unseen=unseen,
        outfit_user=np.array(users, dtype=np.int64),
        outfit_part=np.array(parts, dtype=np.int64),
        outfit_items=np.array(rows, dtype=np.int64),
    )


def toy_images(seed: int = 0) -> np.ndarray:
    """(30, 32, 32, 3) uint8: the item's group colour plus uniform noise."""
    rng = np.random.default_rng(seed)
    base = COLOURS[np.arange(N_ITEMS) % GROUPS][:, None, None, :]
    return np.clip(base + rng.integers(-40, 41, (N_ITEMS, 32, 32, 3)), 0, 255).astype(np.uint8)


# --- the model ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["theta", "none", "label"])
def test_forward_shapes_and_formula_in_each_user_mode(mode: str) -> None:
    model = make_model(user_mode=mode)
    torch.manual_seed(1)
    x_q, x_c = torch.rand(3, 3, 32, 32) * 2 - 1, torch.rand(3, 3, 32, 32) * 2 - 1
    users = torch.tensor([0, 4, 2])
    z_q, z_c = model.encoder(x_q), model.encoder(x_c)
    assert z_q.shape == (3, 8)
    scores = model(users, x_q, x_c)
    assert scores.shape == (3,) and scores.dtype == torch.float32
    theta, bias = model.user_vectors(users), model.user_bias(users)
    assert (theta is not None) == (mode == "theta") and (bias is not None) == (mode == "label")
    # s = M(θu ⊙ z_q ⊙ z_c), with the label mode's per-user term added to M's first layer.
    h = z_q * z_c if theta is None else theta * z_q * z_c
    assert theta is None or theta.shape == (3, 8)
    first = model.metric[0](h) + (0 if bias is None else bias)
    assert bias is None or bias.shape == (3, 8)
    torch.testing.assert_close(scores, model.metric[1:](first).squeeze(-1))
    # Users matter exactly when the mode has users.
    other = model(torch.tensor([1, 1, 1]), x_q, x_c)
    assert torch.equal(other, scores) == (mode == "none")
    # score_latent broadcasts over candidates: (B, C, z) with (B, 1, z) user terms.
    z_o = z_q[:, None, :] * torch.randn(3, 5, 8)
    latent = model.score_latent(z_o, None if theta is None else theta[:, None], None if bias is None else bias[:, None])
    assert latent.shape == (3, 5)


def test_paper_config_has_the_seeds_sizes_and_encodes_64_pixel_images() -> None:
    config = CompatibilityConfig.paper(n_users=3)
    assert (config.widths, config.convs, config.fc) == ((64, 128, 256, 512, 512), (2, 2, 3, 3, 3), (1024, 512))
    assert (config.image_size, config.z_dim, config.n_users, config.user_mode) == (64, 64, 3, "theta")
    assert CompatibilityConfig.paper(n_users=2, user_mode="label").user_mode == "label"
    torch.manual_seed(0)
    model = CompatibilityModel(config).eval()
    convs = [m for m in model.encoder.features if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 13  # VGG16's 13 conv layers
    with torch.no_grad():
        z = model.encoder(torch.rand(2, 3, 64, 64) * 2 - 1)
        assert z.shape == (2, 64)
        assert model(torch.tensor([0, 2]), torch.zeros(2, 3, 64, 64), torch.zeros(2, 3, 64, 64)).shape == (2,)


def test_the_default_conv_stack_hands_a_4x4_map_and_old_configs_keep_their_pool() -> None:
    model = CompatibilityModel(CompatibilityConfig())
    assert model.encoder.features(torch.zeros(1, 3, 64, 64)).shape == (1, 64, 4, 4)
    assert CompatibilityConfig().conv_output_size == 1024 == model.encoder.head[0].in_features
    # A config saved before ``final_pool`` existed describes a stack pooled after every block.
    saved = CompatibilityConfig().as_dict()
    del saved["final_pool"]
    old = CompatibilityConfig.from_dict(saved)
    assert old.final_pool and old.conv_output_size == 256
    assert CompatibilityModel(old).encoder.features(torch.zeros(1, 3, 64, 64)).shape == (1, 64, 2, 2)


@pytest.mark.parametrize("config", [tiny(user_mode="label"), tiny(metric_hidden=()), CompatibilityConfig()])
def test_config_round_trips_through_dict_and_json(config: CompatibilityConfig) -> None:
    assert CompatibilityConfig.from_dict(config.as_dict()) == config
    via_json = json.loads(json.dumps(config.as_dict()))  # tuples become lists, as in a database JSON column
    assert isinstance(via_json["widths"], list)
    restored = CompatibilityConfig.from_dict(via_json)
    assert restored == config
    assert all(isinstance(getattr(restored, k), tuple) for k in ("widths", "convs", "fc", "metric_hidden"))
    assert hash(restored) == hash(config)


@pytest.mark.parametrize("hidden", [(8,), ()])
def test_label_mode_with_zero_labels_equals_the_model_without_users(hidden: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    label = CompatibilityModel(tiny(user_mode="label", metric_hidden=hidden)).eval()
    assert label.label is not None and not label.label.weight.any()
    none = CompatibilityModel(tiny(user_mode="none", metric_hidden=hidden)).eval()
    shared = {k: v for k, v in label.state_dict().items() if not k.startswith("label.")}
    none.load_state_dict(shared)
    x_q, x_c = torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32)
    users = torch.tensor([0, 1, 2, 3])
    with torch.no_grad():
        torch.testing.assert_close(label(users, x_q, x_c), none(users, x_q, x_c), rtol=0, atol=1e-6)
        label.label.weight[1] = 0.5  # a non-zero label changes that user's scores only
        moved = label(users, x_q, x_c) - none(users, x_q, x_c)
    assert moved[1].abs() > 1e-4
    assert moved[[0, 2, 3]].abs().max() < 1e-6


def test_preference_loss_is_minus_log_sigmoid_of_the_margin() -> None:
    pos, neg = torch.tensor([1.0, 0.0, -2.0]), torch.tensor([0.0, 0.0, 1.0])
    expected = -np.mean([math.log(1 / (1 + math.exp(-d))) for d in (1.0, 0.0, -3.0)])
    assert preference_loss(pos, neg).item() == pytest.approx(expected, rel=1e-6)
    assert preference_loss(torch.zeros(5), torch.zeros(5)).item() == pytest.approx(math.log(2))


# --- checkpoints --------------------------------------------------------------------------------------------------


def test_checkpoint_round_trip_with_weights_only(tmp_path: Path) -> None:
    model = make_model(user_mode="theta")
    path = tmp_path / "sub" / "model.pt"
    extra = {"step": 3, "names": ["a", "b"], "metrics": {"fitb": 0.5}}
    sha = save_checkpoint(path, family="compatibility", config=model.config.as_dict(),
                          state_dict=model.state_dict(), extra=extra)  # fmt: skip
    assert sha == file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temp file left behind
    raw = torch.load(path, weights_only=True)  # loadable without trusting pickled code
    payload = load_checkpoint(path, family="compatibility")
    assert raw.keys() == payload.keys() == {"format", "family", "config", "state_dict", "extra"}
    assert payload["family"] == "compatibility" and payload["extra"] == extra
    assert CompatibilityConfig.from_dict(payload["config"]) == model.config
    state = model.state_dict()
    assert payload["state_dict"].keys() == state.keys()
    for key, tensor in state.items():
        assert torch.equal(payload["state_dict"][key], tensor), key
    # The family check is optional; an unchanged file keeps its hash.
    assert load_checkpoint(path)["family"] == "compatibility"
    assert file_sha256(path) == sha


def test_checkpoint_loading_refuses_the_wrong_family_and_foreign_files(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    save_checkpoint(path, family="compatibility", config={}, state_dict={"w": torch.ones(2)})
    with pytest.raises(InvalidInputError, match="expected 'generator'"):
        load_checkpoint(path, family="generator")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint at all" * 10)
    with pytest.raises(InvalidInputError, match="not a readable"):
        load_checkpoint(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)  # a torch file, but not ours
    with pytest.raises(InvalidInputError, match="not a recengine checkpoint"):
        load_checkpoint(foreign)
    pickled = tmp_path / "pickled.pt"
    torch.save({"format": "recengine.checkpoint/1", "obj": TINY}, pickled)  # needs unpickling our classes
    with pytest.raises(InvalidInputError, match="not a readable"):
        load_checkpoint(pickled)
    with pytest.raises(NotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_checkpoint_loading_names_what_is_wrong_with_a_damaged_file(tmp_path: Path) -> None:
    text = tmp_path / "notes.pt"
    text.write_text("hello\n")  # torch's own error for this is "KeyError: 101"
    with pytest.raises(InvalidInputError, match=r"not the zip archive torch\.save writes"):
        load_checkpoint(text)
    whole = tmp_path / "model.pt"
    save_checkpoint(whole, family="compatibility", config={}, state_dict={"w": torch.ones(2)})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(whole.read_bytes()[:1000])
    with pytest.raises(InvalidInputError, match=r"not the zip archive torch\.save writes"):
        load_checkpoint(truncated)
    with pytest.raises(InvalidInputError, match="is not a file"):
        load_checkpoint(tmp_path)
    partial = tmp_path / "partial.pt"
    torch.save({"format": "recengine.checkpoint/1", "family": "compatibility", "config": []}, partial)
    with pytest.raises(InvalidInputError, match=r"damaged .* malformed: extra, state_dict"):
        load_checkpoint(partial)
    torch.save({"format": "recengine.checkpoint/1", "family": 3, "config": {}, "state_dict": {}, "extra": {}}, partial)
    with pytest.raises(InvalidInputError, match=r"malformed: family\)"):
        load_checkpoint(partial)


@pytest.mark.parametrize("mode", ["theta", "none", "label"])
def test_model_rebuilt_from_a_checkpoint_scores_identically(tmp_path: Path, mode: str) -> None:
    model = make_model(user_mode=mode)
    path = tmp_path / "model.pt"
    save_checkpoint(path, family="compatibility", config=model.config.as_dict(), state_dict=model.state_dict())
    payload = load_checkpoint(path, family="compatibility")
    torch.manual_seed(99)  # a different initialisation, overwritten by the checkpoint
    rebuilt = CompatibilityModel(CompatibilityConfig.from_dict(payload["config"]))
    rebuilt.load_state_dict(payload["state_dict"])
    rebuilt.eval()
    x_q, x_c = torch.rand(5, 3, 32, 32), torch.rand(5, 3, 32, 32)
    users = torch.tensor([0, 1, 2, 3, 4])
    with torch.no_grad():
        assert torch.equal(rebuilt(users, x_q, x_c), model(users, x_q, x_c))


# --- the scorer ---------------------------------------------------------------------------------------------------

#: Data user -> model row: a permutation, and user 3 a newcomer the model has no row for.
USER_ROWS = np.array([2, 0, 1, -1, 4])


def scorer_setup(mode: str = "theta") -> tuple[CompatibilityModel, np.ndarray, torch.Tensor]:
    model = make_model(user_mode=mode)
    images = random_images(12, seed=3)
    return model, images, embed_images(model, images, batch=5)  # batches of 5: 12 is not a multiple


def model_scores(model: CompatibilityModel, images: np.ndarray, rows: np.ndarray, queries: np.ndarray,
                 candidates: np.ndarray) -> np.ndarray:  # fmt: skip
    """The reference: the model's forward on pixels, one row per (user, query, candidate) triple."""
    n = candidates.shape[1]
    with torch.no_grad():
        out = model(torch.as_tensor(np.repeat(rows, n)), to_tensor(images[np.repeat(queries, n)]),
                    to_tensor(images[candidates.ravel()]))  # fmt: skip
    return out.numpy().reshape(candidates.shape)


def test_embed_images_is_the_encoder_on_pixels_in_eval_mode() -> None:
    model, images, z = scorer_setup()
    assert z.shape == (12, 8) and z.dtype == torch.float32
    model.train()
    again = embed_images(model, images)  # switches to eval mode itself
    assert not model.training
    with torch.no_grad():
        torch.testing.assert_close(again, model.encoder(to_tensor(images)), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(again, z, rtol=1e-5, atol=1e-5)
    assert embed_images(model, images[:0]).shape == (0, 8)


@pytest.mark.parametrize("mode", ["theta", "none", "label"])
def test_scorer_equals_the_model_run_on_images(mode: str) -> None:
    model, images, z = scorer_setup(mode)
    scorer = CompatibilityScorer(model, z, USER_ROWS)
    users, queries = np.array([0, 1, 2, 4]), np.array([5, 0, 11, 7])
    candidates = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9], [0, 11, 10]])
    scores = scorer.score(users, queries, candidates)
    assert scores.shape == (4, 3) and scores.dtype == np.float64
    expected = model_scores(model, images, USER_ROWS[users], queries, candidates)
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-5)
    assert np.array_equal(scorer.score(users, queries, candidates), scores)  # deterministic
    # One candidate column gives the same scores as inside a wider row.
    np.testing.assert_allclose(scorer.score(users, queries, candidates[:, 1:2])[:, 0], scores[:, 1], atol=1e-6)
    if mode != "none":  # the user mapping matters: data user 0 is model row 2, not row 0
        shuffled = CompatibilityScorer(model, z, np.array([0, 1, 2, -1, 4]))
        assert not np.allclose(shuffled.score(users, queries, candidates)[0], scores[0])


def test_scorer_needs_fitted_thetas_for_newcomers() -> None:
    model, _, z = scorer_setup("theta")
    scorer = CompatibilityScorer(model, z, USER_ROWS)
    with pytest.raises(ValueError, match="thetas"):
        scorer.score(np.array([0, 3]), np.array([1, 2]), np.array([[3, 4], [5, 6]]))
    fitted = np.random.default_rng(0).normal(size=8)
    thetas = np.full((5, 8), np.nan)
    thetas[3] = fitted
    with_fit = CompatibilityScorer(model, z, USER_ROWS, thetas=thetas)
    users, queries, candidates = np.array([0, 3, 4]), np.array([1, 2, 9]), np.array([[3, 4], [5, 6], [7, 8]])
    scores = with_fit.score(users, queries, candidates)
    # Joint users (NaN rows) fall back to the model's table ...
    np.testing.assert_allclose(scores[[0, 2]], scorer.score(users[[0, 2]], queries[[0, 2]], candidates[[0, 2]]))
    # ... and the newcomer is scored with the fitted θu.
    with torch.no_grad():
        z_o = z[[2]] * z[[5, 6]]
        expected = model.score_latent(z_o, torch.as_tensor(fitted, dtype=torch.float32))
    np.testing.assert_allclose(scores[1], expected.numpy(), rtol=1e-5, atol=1e-6)
    # A fitted row also overrides a joint user's table row.
    thetas[0] = fitted
    override = CompatibilityScorer(model, z, USER_ROWS, thetas=thetas).score(users[:1], np.array([2]),
                                                                                 np.array([[5, 6]]))  # fmt: skip
    np.testing.assert_allclose(override[0], expected.numpy(), rtol=1e-5, atol=1e-6)
    # A newcomer whose row is NaN still has no θu.
    thetas[3] = np.nan
    with pytest.raises(ValueError):
        CompatibilityScorer(model, z, USER_ROWS, thetas=thetas).score(users, queries, candidates)


def test_label_mode_scores_newcomers_with_a_zero_label() -> None:
    model, _, z = scorer_setup("label")
    scorer = CompatibilityScorer(model, z, USER_ROWS)
    scores = scorer.score(np.array([3, 0]), np.array([1, 1]), np.array([[2, 3, 4], [2, 3, 4]]))
    with torch.no_grad():
        z_o = z[[1]] * z[[2, 3, 4]]
        unlabelled = model.score_latent(z_o)
        labelled = model.score_latent(z_o, None, model.label.weight[2])  # data user 0 is model row 2
    np.testing.assert_allclose(scores[0], unlabelled.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scores[1], labelled.numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(scores[0], scores[1])


@pytest.mark.parametrize("mode", ["theta", "none"])
def test_score_catalogue_equals_the_scorer_against_every_item(mode: str) -> None:
    model, _, z = scorer_setup(mode)
    scorer = CompatibilityScorer(model, z, USER_ROWS)
    theta = None if model.theta is None else model.theta.weight[USER_ROWS[1]].detach()
    every = score_catalogue(model, z[6], z, theta, batch=5)  # several batches, the last one short
    assert every.shape == (12,) and every.dtype == torch.float32
    reference = scorer.score(np.array([1]), np.array([6]), np.arange(12)[None, :])[0]
    np.testing.assert_allclose(every.numpy(), reference, rtol=1e-5, atol=1e-6)


def test_evaluate_accepts_the_scorer_on_hand_made_data() -> None:
    data = toy_data()
    rows = joint_user_rows(data)
    assert rows.tolist() == [0, 1, 2, 3, -1]
    model = make_model(user_mode="theta", n_users=4)
    z = embed_images(model, toy_images())
    questions = build_questions(data, part="test")
    assert data.newcomer[questions.users].any()
    with pytest.raises(ValueError):  # the newcomer's questions need a fitted θu
        evaluate(CompatibilityScorer(model, z, rows), data, questions)
    thetas = np.full((len(data.user_ids), 8), np.nan)
    thetas[4] = model.theta.weight.detach().mean(dim=0).numpy()
    scorer = CompatibilityScorer(model, z, rows, thetas=thetas)
    metrics = evaluate(scorer, data, questions, batch=4)
    assert set(metrics) == METRICS
    assert metrics["questions"] == len(questions) == 15
    assert metrics["unseen_questions"] == questions.unseen.sum() > 0
    for name in METRICS - {"questions", "unseen_questions"}:
        assert 0.0 <= metrics[name] <= 1.0, name
    assert evaluate(scorer, data, questions, batch=4) == metrics


# --- trainer and recipe on hand-made data -------------------------------------------------------------------------

TRAIN_CONFIG = TrainConfig(steps=30, batch_size=8, eval_every=15, lr=1e-3)


def toy_recipe(seed: int = 0, cls: type[CompatibilityRecipe] = CompatibilityRecipe) -> CompatibilityRecipe:
    data = toy_data()
    torch.manual_seed(seed)
    model = CompatibilityModel(tiny(n_users=4))
    return cls(model, data, toy_images(), joint_user_rows(data))


def test_recipe_draws_joint_users_positives_and_both_kinds_of_negatives() -> None:
    recipe = toy_recipe()
    data = recipe.data
    users, queries, targets = (t.numpy() for t in recipe.pos)
    assert len(users) == 4 * 12 and set(users.tolist()) == {0, 1, 2, 3}  # the newcomer is left out
    assert set(recipe.bottoms.tolist()) == set(range(12, 28))  # training bottoms: the unseen ones never
    batch = next(recipe.batches(torch.Generator().manual_seed(0), 256))
    positives = set(zip(users.tolist(), queries.tolist(), targets.tolist(), strict=True))
    assert all(t in positives for t in zip(batch.users.tolist(), batch.queries.tolist(), batch.positives.tolist(),
                                          strict=True))  # fmt: skip
    assert np.isin(batch.random_bottoms.numpy(), recipe.bottoms.numpy()).all()
    assert (data.item_slot[batch.random_bottoms.numpy()] == BOTTOM).all()
    groups = recipe.parameter_groups()
    assert [g["weight_decay"] for g in groups] == [1e-5, 0.0]
    assert groups[1]["params"] == [recipe.model.theta.weight]
    assert sum(len(g["params"]) for g in groups) == len(list(recipe.model.parameters()))


MIXES = {"default": NegativeMix(), "in-batch-even": NegativeMix.in_batch_even(), "eq6-only": NegativeMix(eq7_weight=0)}


@pytest.mark.parametrize("mix", MIXES.values(), ids=MIXES.keys())
def test_loss_is_eq10_over_every_valid_negative_of_the_batch(mix: NegativeMix) -> None:
    data = toy_data()
    torch.manual_seed(0)
    recipe = CompatibilityRecipe(CompatibilityModel(tiny(n_users=4)), data, toy_images(), joint_user_rows(data),
                                 random_negatives=12, negatives=mix)  # fmt: skip
    batch = next(recipe.batches(torch.Generator().manual_seed(3), 6))
    batch.positives[1] = batch.random_bottoms[4]  # a negative that is the positive itself must not count
    batch.users[2] = batch.users[0]  # another pair of the same user is no Eq. 7 negative
    model = recipe.model.eval()
    torch.manual_seed(1)
    loss, parts = recipe.loss(batch)
    torch.manual_seed(1)  # the same flips
    items = torch.cat([batch.queries, batch.positives, batch.random_bottoms])
    unique, inverse = torch.unique(items, return_inverse=True)
    flip = torch.rand(len(unique)) < 0.5
    with torch.no_grad():
        z = model.encoder(recipe._pixels(unique, flip))[inverse]
    zq, zc, zr = z[:6], z[6:12], z[12:]
    users, _, targets = (t.tolist() for t in recipe.pos)
    worn = set(zip(users, targets, strict=True))

    def s(u: int, q: torch.Tensor, c: torch.Tensor) -> float:
        theta = model.user_vectors(batch.users[u : u + 1])
        return float(model.score_latent((q * c)[None], theta).detach())

    def bpr(pos: float, neg: float) -> float:
        return float(-torch.nn.functional.logsigmoid(torch.tensor(pos - neg)))

    def own(i: int, item: torch.Tensor) -> bool:
        return mix.exclude_own and (int(batch.users[i]), int(item)) in worn

    eq6, eq7, excluded = [], [], 0
    candidates = (torch.cat([batch.positives, batch.random_bottoms]), torch.cat([zc, zr])) if mix.in_batch \
        else (batch.random_bottoms, zr)  # fmt: skip
    for i in range(6):
        pos = s(i, zq[i], zc[i])
        for item, zn in zip(*candidates, strict=True):
            excluded += own(i, item) and item != batch.positives[i]
            if item != batch.positives[i] and not own(i, item):
                eq6.append(bpr(pos, s(i, zq[i], zn)))
        for j in range(6):
            if batch.users[j] != batch.users[i] and not own(i, batch.positives[j]):
                eq7.append(bpr(pos, s(i, zq[j], zc[j])))
    assert excluded > 0 if mix.exclude_own else excluded == 0  # the batch does hold bottoms the users wore
    assert parts["loss_eq6"] == pytest.approx(np.mean(eq6), rel=1e-4)
    assert parts["loss_eq7"] == pytest.approx(np.mean(eq7), rel=1e-4)
    w = mix.eq7_weight
    assert loss.item() == pytest.approx((1 - w) * np.mean(eq6) + w * np.mean(eq7), rel=1e-4)


def test_worn_marks_exactly_the_users_training_bottoms() -> None:
    recipe = toy_recipe()
    users, _, targets = (t.numpy() for t in recipe.pos)
    every_user, every_bottom = torch.arange(4), recipe.bottoms
    got = recipe.worn(every_user, every_bottom).numpy()
    want = np.array([[bool(((users == u) & (targets == b)).any()) for b in every_bottom.tolist()] for u in range(4)])
    assert got.tolist() == want.tolist() and want.any() and not want.all()


def test_negative_mix_refuses_a_weight_outside_0_1() -> None:
    for bad in (-0.1, 1.5):
        with pytest.raises(InvalidInputError, match="eq7_weight"):
            NegativeMix(eq7_weight=bad)


@pytest.mark.parametrize("mode", ["theta", "none", "label"])
@pytest.mark.parametrize("hidden", [(), (8,), (8, 4)])
def test_score_outer_equals_score_latent_on_every_pair(mode: str, hidden: tuple[int, ...]) -> None:
    model = make_model(user_mode=mode, metric_hidden=hidden)
    if model.label is not None:
        torch.nn.init.normal_(model.label.weight)
    left, right = torch.randn(5, 8), torch.randn(7, 8)
    bias = model.user_bias(torch.arange(5))
    expected = model.score_latent(left[:, None] * right[None], None, None if bias is None else bias[:, None])
    got = model.score_outer(left, right, bias)
    assert got.shape == (5, 7)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_random_negatives_sets_how_many_random_bottoms_a_step_draws() -> None:
    data = toy_data()
    recipe = CompatibilityRecipe(CompatibilityModel(tiny(n_users=4)), data, toy_images(), joint_user_rows(data),
                                 random_negatives=11)  # fmt: skip
    batch = next(recipe.batches(torch.Generator().manual_seed(0), 6))
    assert len(batch.users) == 6 and len(batch.random_bottoms) == 11
    _, parts = recipe.loss(batch)
    assert np.isfinite(parts["loss_eq6"])
    with pytest.raises(InvalidInputError, match="random_negatives"):
        CompatibilityRecipe(CompatibilityModel(tiny(n_users=4)), data, toy_images(), joint_user_rows(data),
                            random_negatives=0)  # fmt: skip


def test_freeze_conv_trains_the_rest_of_the_model_on_cached_conv_outputs() -> None:
    data = toy_data()
    torch.manual_seed(0)
    model = CompatibilityModel(tiny(n_users=4))
    conv_before = {k: v.clone() for k, v in model.encoder.features.state_dict().items()}
    head_before = {k: v.clone() for k, v in model.encoder.head.state_dict().items()}
    recipe = CompatibilityRecipe(model, data, toy_images(), joint_user_rows(data), freeze_conv=True)
    assert recipe.conv_features is not None
    plain, mirrored = recipe.conv_features
    with torch.no_grad():
        x = to_tensor(toy_images())
        torch.testing.assert_close(plain, model.encoder.features.eval()(x).flatten(1))
        torch.testing.assert_close(mirrored, model.encoder.features(x.flip(-1)).flatten(1))
    trainable = {id(p) for g in recipe.parameter_groups() for p in g["params"]}
    assert not any(id(p) in trainable for p in model.encoder.features.parameters())
    # One step's encoding is F's head on the cached outputs: what F gives on the (possibly mirrored) pixels.
    items, flip = torch.arange(6), torch.tensor([True, False, True, False, False, True])
    with torch.no_grad():
        torch.testing.assert_close(recipe._encode(items, flip), model.eval().encoder(recipe._pixels(items, flip)))
    Trainer(recipe, TrainConfig(steps=20, batch_size=8, eval_every=20, lr=1e-2)).fit()
    for k, v in model.encoder.features.state_dict().items():
        assert torch.equal(v, conv_before[k]), k  # weights and batch-norm statistics alike
    assert any(not torch.equal(v, head_before[k]) for k, v in model.encoder.head.state_dict().items())


def test_tune_conv_blocks_trains_the_last_blocks_on_the_cached_outputs_of_the_others() -> None:
    data = toy_data()
    torch.manual_seed(0)
    model = CompatibilityModel(tiny(n_users=4, final_pool=False))
    stack = model.encoder.features
    assert block_starts(stack) == [0, 4]  # (conv, bn, relu, pool), then (conv, bn, relu): no final pool
    before = {k: v.clone() for k, v in stack.state_dict().items()}
    recipe = CompatibilityRecipe(model, data, toy_images(), joint_user_rows(data), freeze_conv=True,
                                 tune_conv_blocks=1)  # fmt: skip
    trainable = {id(p) for g in recipe.parameter_groups() for p in g["params"]}
    assert {id(p) for p in stack[4:].parameters()} <= trainable
    assert not any(id(p) in trainable for p in stack[:4].parameters())
    items, flip = torch.arange(6), torch.tensor([True, False, True, False, False, True])
    Trainer(recipe, TrainConfig(steps=20, batch_size=8, eval_every=20, lr=1e-2)).fit()
    changed = {k for k, v in stack.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(int(k.split(".")[0]) >= 4 for k in changed), changed
    # The cached first block and the tuned second one give what F gives on the pixels.
    with torch.no_grad():
        torch.testing.assert_close(recipe._encode(items, flip), model.eval().encoder(recipe._pixels(items, flip)))
    for bad, freeze in ((1, False), (2, True), (-1, True)):
        with pytest.raises(InvalidInputError, match="tune_conv_blocks"):
            CompatibilityRecipe(CompatibilityModel(tiny(n_users=4)), data, toy_images(), joint_user_rows(data),
                                freeze_conv=freeze, tune_conv_blocks=bad)  # fmt: skip


@pytest.mark.parametrize("mode", ["theta", "label"])
def test_user_stage_trains_the_user_parameters_alone_on_the_fixed_networks(mode: str) -> None:
    data = toy_data()
    torch.manual_seed(0)
    model = CompatibilityModel(tiny(n_users=4, user_mode=mode))
    recipe = CompatibilityRecipe(model, data, toy_images(), joint_user_rows(data), user_lr=5e-2)
    Trainer(recipe, TrainConfig(steps=10, batch_size=8, eval_every=10, lr=1e-2)).fit()
    networks = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith(("theta", "label"))}
    users = recipe.user_parameters()[0].detach().clone()
    fixed = next(recipe.batches(torch.Generator().manual_seed(7), 64))
    before = fixed_batch_loss(recipe, fixed)
    recipe.fix_networks({"steps": 40})
    groups = recipe.parameter_groups()
    assert [[id(p) for p in g["params"]] for g in groups] == [[id(recipe.user_parameters()[0])]]
    assert groups[0]["lr"] == 5e-2 and groups[0]["weight_decay"] == 0.0
    # F's outputs are computed once: a step's encoding is F on the (possibly mirrored) pixels.
    items, flip = torch.arange(6), torch.tensor([True, False, True, False, False, True])
    with torch.no_grad():
        torch.testing.assert_close(recipe._encode(items, flip), model.eval().encoder(recipe._pixels(items, flip)))
    Trainer(recipe, TrainConfig(steps=40, batch_size=8, eval_every=40, lr=5e-2, lr_decay="linear")).fit()
    for k, v in model.state_dict().items():
        if k in networks:
            assert torch.equal(v, networks[k]), k
    assert not torch.equal(recipe.user_parameters()[0], users)
    assert fixed_batch_loss(recipe, fixed) < before
    assert recipe.checkpoint_extra()["user_stage"] == {"steps": 40}
    with pytest.raises(InvalidInputError, match="no user parameters"):
        CompatibilityRecipe(CompatibilityModel(tiny(n_users=4, user_mode="none")), data, toy_images(),
                            joint_user_rows(data)).fix_networks({})  # fmt: skip


@dataclasses.dataclass
class ToyRun:
    recipe: CompatibilityRecipe
    result: TrainResult
    progress: list[tuple[int, int | None]]
    loss_before: float
    loss_after: float
    checkpoint: Path


def fixed_batch_loss(recipe: CompatibilityRecipe, batch: Batch) -> float:
    """The recipe's loss on one batch, in eval mode, with the same flips every time."""
    recipe.model.eval()
    with torch.no_grad():
        torch.manual_seed(1)
        return float(recipe.loss(batch)[0])


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> ToyRun:
    """30 steps on the hand-made data, evaluated at steps 15 and 30, checkpointed: shared by the tests below."""
    recipe = toy_recipe(cls=CompatibilityRecipe)
    fixed = next(recipe.batches(torch.Generator().manual_seed(123), 64))
    before = fixed_batch_loss(recipe, fixed)
    calls: list[tuple[int, int | None]] = []
    path = tmp_path_factory.mktemp("toy") / "ckpt" / "toy.pt"
    torch.manual_seed(0)
    result = Trainer(recipe, TRAIN_CONFIG, checkpoint=path, progress=lambda s, n: calls.append((s, n))).fit()
    return ToyRun(recipe, result, calls, before, fixed_batch_loss(recipe, fixed), path)


def test_trainer_runs_evaluates_and_reports_progress(toy_run: ToyRun) -> None:
    result = toy_run.result
    assert result.steps == 30
    assert toy_run.progress == [(20, 30), (30, 30)]
    assert [h["step"] for h in result.history] == [15.0, 30.0]
    for entry in result.history:
        assert set(entry) == {"step", "loss", "valid_fitb", "valid_pfitb"}
        assert math.isfinite(entry["loss"]) and 0.0 <= entry["valid_fitb"] <= 1.0
        assert 0.0 <= entry["valid_pfitb"] <= 1.0
    assert result.metrics == result.history[-1]
    assert not toy_run.recipe.model.training


def test_training_learns_the_colour_rule(toy_run: ToyRun) -> None:
    before, after = toy_run.loss_before, toy_run.loss_after
    assert math.isfinite(after) and after < before - 0.05, (before, after)
    assert toy_run.result.metrics["valid_fitb"] >= 0.25  # chance level: 1 in 4


def test_trainer_without_a_checkpoint_path_writes_nothing(tmp_path: Path) -> None:
    config = dataclasses.replace(TRAIN_CONFIG, steps=3, eval_every=3)
    result = Trainer(toy_recipe(), config).fit()
    assert (result.steps, result.checkpoint, result.sha256) == (3, None, None)
    assert len(result.history) == 1


def test_trainer_checkpoints_and_resumes(toy_run: ToyRun, tmp_path: Path) -> None:
    result, recipe = toy_run.result, toy_run.recipe
    path = tmp_path / "toy.pt"
    shutil.copyfile(toy_run.checkpoint, path)
    assert result.checkpoint == toy_run.checkpoint and result.sha256 == file_sha256(path)
    payload = load_checkpoint(path, family="compatibility")
    extra = payload["extra"]
    assert extra["step"] == 30 and extra["history"] == result.history and extra["metrics"] == result.metrics
    assert extra["train"] == TRAIN_CONFIG.as_dict()
    assert CompatibilityConfig.from_dict(payload["config"]) == recipe.model.config

    fresh = toy_recipe(seed=5, cls=CompatibilityRecipe)
    assert Trainer(fresh, TRAIN_CONFIG, checkpoint=tmp_path / "none.pt").resume() is False
    trainer = Trainer(fresh, TRAIN_CONFIG, checkpoint=path)
    assert trainer.resume() is True
    assert trainer.step == 30 and trainer.history == result.history
    trained = recipe.model.state_dict()
    for key, tensor in fresh.model.state_dict().items():
        assert torch.equal(tensor, trained[key]), key
    adam = trainer.optimizer.state_dict()["state"]
    assert len(adam) == len(list(fresh.model.parameters()))
    assert all(float(s["step"]) == 30 for s in adam.values())
    # A longer run continues from step 30.
    longer = Trainer(fresh, dataclasses.replace(TRAIN_CONFIG, steps=35, eval_every=5), checkpoint=path)
    assert longer.resume()
    assert longer.fit().steps == 35
    assert load_checkpoint(path)["extra"]["step"] == 35 and len(longer.history) == 3


def recorded_learning_rates(trainer: Trainer) -> list[list[float]]:
    """The learning rates of every optimisation step ``trainer`` will take, filled in as it trains."""
    seen: list[list[float]] = []
    step = trainer._train_step

    def recording(batch: object) -> dict[str, float]:
        seen.append([g["lr"] for g in trainer.optimizer.param_groups])
        return step(batch)

    trainer._train_step = recording  # type: ignore[method-assign]
    return seen


def test_linear_lr_decay_is_a_function_of_the_step_and_survives_resuming(tmp_path: Path) -> None:
    config = dataclasses.replace(TRAIN_CONFIG, steps=10, eval_every=5, lr=3e-2, lr_decay="linear")
    trainer = Trainer(toy_recipe(cls=CompatibilityRecipe), config)
    base = [g["lr"] for g in trainer.optimizer.param_groups]
    assert len(set(base)) == 2  # F and M at 3e-2, θu at the user learning rate (1e-2)
    seen = recorded_learning_rates(trainer)
    trainer.fit()
    expected = [[lr * (1 - k / 10) for lr in base] for k in range(10)]
    np.testing.assert_allclose(seen, expected)
    # A run stopped at step 4 and resumed under the 10-step schedule goes on where it was.
    path = tmp_path / "toy.pt"
    Trainer(toy_recipe(cls=CompatibilityRecipe), dataclasses.replace(config, steps=4), checkpoint=path).fit()
    resumed = Trainer(toy_recipe(cls=CompatibilityRecipe), config, checkpoint=path)
    assert resumed.resume()
    seen = recorded_learning_rates(resumed)
    resumed.fit()
    np.testing.assert_allclose(seen, expected[4:])
    with pytest.raises(InvalidInputError, match="lr_decay must be one of constant, linear"):
        TrainConfig(lr_decay="cosine")


def test_checkpoint_extra_names_the_joint_users_only(tmp_path: Path) -> None:
    recipe = toy_recipe()  # user_external is a list, as load_protocol_data makes it
    path = tmp_path / "toy.pt"
    Trainer(recipe, dataclasses.replace(TRAIN_CONFIG, steps=2, eval_every=2), checkpoint=path).fit()
    extra = load_checkpoint(path, family="compatibility")["extra"]
    assert extra["dataset_id"] == 7
    assert extra["user_external_ids"] == ["toy-u0", "toy-u1", "toy-u2", "toy-u3"]


def test_resuming_a_finished_run_keeps_its_metrics(tmp_path: Path) -> None:
    path = tmp_path / "toy.pt"
    config = dataclasses.replace(TRAIN_CONFIG, steps=4, eval_every=2)
    first = Trainer(toy_recipe(cls=CompatibilityRecipe), config, checkpoint=path).fit()
    trainer = Trainer(toy_recipe(cls=CompatibilityRecipe), config, checkpoint=path)
    assert trainer.resume()
    again = trainer.fit()
    assert again.steps == 4
    assert again.metrics == first.metrics
    assert load_checkpoint(path)["extra"]["metrics"] == first.metrics


# --- training a variant against PostgreSQL ------------------------------------------------------------------------

DB_CONFIG = CompatibilityConfig(image_size=32, widths=(4, 8), convs=(1, 1), fc=(16,), z_dim=8, metric_hidden=(8,))
DB_TRAIN = TrainConfig(steps=10, batch_size=8, eval_every=10)


def simulated_dataset(session: Session, name: str) -> ProtocolData:
    import_myntra(require(MYNTRA), session=session, limit=6000)
    catalogue = load_catalogue(session=session, category_map=load_category_map())
    params = SimulationParams(seed=0, users=12, train_outfits=20, test_outfits=5, newcomer_users=2)
    simulate_users(session=session, name=name, catalogue=catalogue, templates=load_templates(), params=params)
    return load_protocol_data(session=session, dataset=name)


@pytest.fixture(scope="module")
def image_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One image cache for the module: its files are named by image content, so the tests can share it."""
    return tmp_path_factory.mktemp("images")


def test_variants_name_the_seeds_ablations() -> None:
    assert VARIANTS == {"full": "theta", "no-theta": "none", "label": "label"}


def test_train_compatibility_registers_the_version_and_joint_users_preferences(session: Session, tmp_path: Path,
                                                                                image_cache: Path) -> None:  # fmt: skip
    data = simulated_dataset(session, "cmp-full")
    trained = train_compatibility(session=session, dataset="cmp-full", variant="full", images_dir=image_cache,
                                  checkpoint_dir=tmp_path / "ckpt", train=DB_TRAIN, config=DB_CONFIG)  # fmt: skip
    version = session.get(ModelVersion, trained.model_version_id)
    assert version is not None
    assert (version.family, version.name) == ("compatibility", "cmp-full-full")
    assert Path(version.checkpoint_path) == trained.checkpoint
    assert version.checkpoint_sha256 == file_sha256(trained.checkpoint) == trained.result.sha256
    assert version.config["model"]["user_mode"] == "theta" and version.config["model"]["n_users"] == 10
    assert version.config["dataset"] == "cmp-full" and "valid_fitb" in version.metrics
    payload = load_checkpoint(trained.checkpoint, family="compatibility")
    joint = ~data.newcomer
    assert payload["extra"]["user_external_ids"] == [e for e, j in zip(data.user_external, joint, strict=True) if j]
    rows = session.execute(
        select(UserPreference.user_id, UserPreference.dim, UserPreference.vector, UserPreference.n_examples,
               UserPreference.is_prior)
        .where(UserPreference.model_version_id == version.id).order_by(UserPreference.user_id)
    ).all()  # fmt: skip
    assert len(rows) == 10
    assert [r.user_id for r in rows] == data.user_ids[joint].tolist()
    users, _, _, _ = data.pairs("train")
    counts = np.bincount(users, minlength=len(data.user_ids))[joint]
    table = payload["state_dict"]["theta.weight"].numpy()
    for n, row in enumerate(rows):
        assert row.dim == 8 and not row.is_prior
        assert row.n_examples == counts[n] > 0
        np.testing.assert_allclose(row.vector, table[n], rtol=1e-6)


def test_user_stage_follows_the_joint_one_and_is_recorded(session: Session, tmp_path: Path,
                                                          image_cache: Path) -> None:  # fmt: skip
    simulated_dataset(session, "cmp-stage")
    calls: list[tuple[int, int | None]] = []
    run = functools.partial(train_compatibility, session=session, dataset="cmp-stage", variant="full",
                            images_dir=image_cache, checkpoint_dir=tmp_path / "ckpt", train=DB_TRAIN,
                            config=DB_CONFIG, user_steps=20)  # fmt: skip
    trained = run(progress=lambda s, n: calls.append((s, n)))
    assert calls == [(10, 30), (30, 30)] and trained.result.steps == 30
    extra = load_checkpoint(trained.checkpoint, family="compatibility")["extra"]
    assert extra["user_stage"]["steps"] == 20 and extra["step"] == DB_TRAIN.steps
    assert [h["step"] for h in extra["history"]] == [10.0, 30.0] and "valid_pfitb" in extra["metrics"]
    version = session.get(ModelVersion, trained.model_version_id)
    assert version is not None and version.config["user_steps"] == 20
    assert version.metrics == extra["metrics"] and version.checkpoint_sha256 == file_sha256(trained.checkpoint)
    theta = load_checkpoint(trained.checkpoint)["state_dict"]["theta.weight"]
    stored = session.execute(select(UserPreference.vector).where(UserPreference.model_version_id == version.id)
                             .order_by(UserPreference.user_id)).scalars().all()  # fmt: skip
    np.testing.assert_allclose(stored, theta.numpy(), rtol=1e-6)
    # Resuming the finished run trains nothing more and keeps the record of its stage.
    again = run(resume=True)
    payload = load_checkpoint(again.checkpoint)
    assert torch.equal(payload["state_dict"]["theta.weight"], theta)
    assert payload["extra"]["user_stage"] == extra["user_stage"]
    # The θu-removed variant has no user parameters, so no stage.
    none = train_compatibility(session=session, dataset="cmp-stage", variant="no-theta", images_dir=image_cache,
                               checkpoint_dir=tmp_path / "ckpt", train=DB_TRAIN, config=DB_CONFIG,
                               user_steps=20)  # fmt: skip
    assert none.result.steps == DB_TRAIN.steps
    assert "user_stage" not in load_checkpoint(none.checkpoint)["extra"]
    with pytest.raises(InvalidInputError, match="user_steps must be >= 0"):
        run(user_steps=-1)


def test_train_compatibility_without_theta_writes_no_preferences(session: Session, tmp_path: Path,
                                                                  image_cache: Path) -> None:  # fmt: skip
    simulated_dataset(session, "cmp-none")
    trained = train_compatibility(session=session, dataset="cmp-none", variant="no-theta",
                                  images_dir=image_cache, checkpoint_dir=tmp_path / "ckpt", train=DB_TRAIN,
                                  config=DB_CONFIG)  # fmt: skip
    version = session.get(ModelVersion, trained.model_version_id)
    assert version is not None and version.config["model"]["user_mode"] == "none"
    n = session.scalar(select(func.count()).select_from(UserPreference)
                       .where(UserPreference.model_version_id == trained.model_version_id))  # fmt: skip
    assert n == 0


def test_freeze_conv_needs_a_trained_conv_stack(session: Session, tmp_path: Path, image_cache: Path) -> None:
    simulated_dataset(session, "cmp-frozen")
    with pytest.raises(InvalidInputError, match="freeze_conv needs a trained conv stack"):
        train_compatibility(session=session, dataset="cmp-frozen", variant="full", images_dir=image_cache,
                            checkpoint_dir=tmp_path / "ckpt", train=DB_TRAIN, config=DB_CONFIG,
                            freeze_conv=True)  # fmt: skip
    assert not (tmp_path / "ckpt").exists() or not any((tmp_path / "ckpt").iterdir())


def test_freeze_conv_keeps_the_warm_started_conv_stack_and_records_it(session: Session, tmp_path: Path,
                                                                       image_cache: Path) -> None:  # fmt: skip
    from tests.test_warm_start import embedder_file

    simulated_dataset(session, "cmp-frozen-ok")
    path, net = embedder_file(tmp_path, convs=DB_CONFIG.convs)
    trained = train_compatibility(session=session, dataset="cmp-frozen-ok", variant="full", images_dir=image_cache,
                                  checkpoint_dir=tmp_path / "ckpt", train=DB_TRAIN, config=DB_CONFIG,
                                  init_encoder=f"embedder:{path}", freeze_conv=True, random_negatives=5)  # fmt: skip
    state = load_checkpoint(trained.checkpoint, family="compatibility")["state_dict"]
    theirs = net.state_dict()
    conv = [k for k in theirs if k.startswith("features.")]
    assert conv and all(torch.equal(state[f"encoder.{k}"], theirs[k]) for k in conv)  # running stats included
    version = session.get(ModelVersion, trained.model_version_id)
    assert version is not None
    assert version.config["freeze_conv"] is True and version.config["random_negatives"] == 5
    assert version.config["tune_conv_blocks"] == 0
    assert version.config["negatives"] == NegativeMix().as_dict()
    extra = load_checkpoint(trained.checkpoint, family="compatibility")["extra"]
    assert extra["negatives"] == NegativeMix().as_dict()
    assert version.config["init_encoder"]["kind"] == "embedder"


def test_exported_checkpoint_drops_training_state_and_keeps_the_model(tmp_path: Path) -> None:
    from recengine.training.checkpoints import export_checkpoint

    model = CompatibilityModel(tiny())
    source = tmp_path / "train.pt"
    save_checkpoint(source, family="compatibility", config=model.config.as_dict(), state_dict=model.state_dict(),
                    extra={"optimizer": {"state": {"0": torch.zeros(1000)}}, "step": 7})  # fmt: skip
    sha = export_checkpoint(source, tmp_path / "ship.pt")
    shipped = load_checkpoint(tmp_path / "ship.pt", family="compatibility")
    assert "optimizer" not in shipped["extra"] and shipped["extra"]["step"] == 7
    assert sha == file_sha256(tmp_path / "ship.pt")
    assert all(torch.equal(shipped["state_dict"][k], v) for k, v in model.state_dict().items())
