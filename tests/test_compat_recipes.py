"""The compatibility training recipes: what a run takes for the options it is not given, and that the default one
is the recipe the shipped checkpoints were trained with."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from recengine.compatibility.recipes import DEFAULT_RECIPE, RECIPES, resolve_run, with_recipe
from recengine.compatibility.warm_start import warm_start
from recengine.errors import InvalidInputError
from recengine.nets.compatibility import CompatibilityConfig, CompatibilityModel
from recengine.training.checkpoints import load_checkpoint
from recengine.training.compatibility_recipe import NegativeMix
from recengine.training.jobs import check_params
from recengine.training.trainer import TrainConfig

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints"


def test_a_run_with_no_options_takes_the_default_recipe() -> None:
    assert DEFAULT_RECIPE == "shipped"
    assert with_recipe({"family": "compatibility"}) == {**RECIPES["shipped"].as_dict(), "family": "compatibility",
                                                        "recipe": "shipped"}  # fmt: skip
    train, params = resolve_run({}, TrainConfig(batch_size=32, threads=1))
    shipped = RECIPES["shipped"]
    assert (train.steps, train.lr, train.eval_every) == (shipped.steps, shipped.lr, shipped.eval_every)
    assert (train.batch_size, train.threads) == (32, 1)  # what recipes do not fix is left alone
    assert params["freeze_conv"] is True and params["user_steps"] == shipped.user_steps


def test_named_options_win_over_the_recipe_and_none_means_not_given() -> None:
    params = {"recipe": "seed", "steps": 5, "user_lr": 0.02, "lr": None, "init_encoder": None}
    train, resolved = resolve_run(params, TrainConfig(steps=5))
    seed = RECIPES["seed"]
    assert (train.steps, train.lr, train.eval_every) == (5, seed.lr, seed.eval_every)
    assert resolved["user_lr"] == 0.02 and resolved["init_encoder"] == "none" and resolved["freeze_conv"] is False
    assert resolved["recipe"] == "seed" and resolved["random_negatives"] is None and resolved["user_steps"] == 0
    assert with_recipe({"freeze_conv": False})["freeze_conv"] is False  # a false value is still a value


def test_an_unknown_recipe_is_refused_before_any_work() -> None:
    with pytest.raises(InvalidInputError, match="unknown compatibility recipe 'fast'; choose one of shipped, seed"):
        check_params({"family": "compatibility", "recipe": "fast"})
    with pytest.raises(InvalidInputError, match="recipe"):
        with_recipe({"recipe": "fast"})
    with pytest.raises(InvalidInputError, match="unknown parameters"):
        check_params({"family": "designer", "recipe": "shipped"})  # the designer has no recipes


@pytest.mark.parametrize("variant", ["full", "no-theta", "label"])
def test_the_shipped_checkpoints_were_trained_with_the_default_recipe(variant: str) -> None:
    recipe = RECIPES[DEFAULT_RECIPE]
    payload = load_checkpoint(SHIPPED / f"compatibility-default-{variant}.pt", family="compatibility")
    extra = payload["extra"]
    assert (extra["train"]["steps"], extra["train"]["lr"], extra["train"]["eval_every"]) == (
        recipe.steps, recipe.lr, recipe.eval_every)  # fmt: skip
    assert extra["negatives"] == NegativeMix().as_dict()
    stage = extra.get("user_stage")
    if variant == "no-theta":  # no user parameters, no user stage
        assert stage is None
    else:
        assert stage is not None and (stage["steps"], stage["lr"]) == (recipe.user_steps, recipe.user_lr)
    config = CompatibilityConfig.from_dict(payload["config"])
    assert {**config.as_dict(), "user_mode": "theta", "n_users": 1} == CompatibilityConfig().as_dict()
    # init_encoder "embedder" + freeze_conv: F's conv stack is the shipped catalogue network's, untouched.
    assert recipe.init_encoder == "embedder" and recipe.freeze_conv
    start = CompatibilityModel(CompatibilityConfig())
    warm_start(start, f"embedder:{SHIPPED / 'embedder-catalogue.pt'}", default_embedder=None)
    convs = {k: v for k, v in start.state_dict().items() if k.startswith("encoder.features.")}
    assert convs and all(torch.equal(payload["state_dict"][k], v) for k, v in convs.items())
