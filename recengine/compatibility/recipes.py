"""Named training recipes of the compatibility model: the settings a run takes for every option it is not given.

``recengine train compatibility`` and a ``train`` job both start from :data:`DEFAULT_RECIPE`, the recipe the
shipped checkpoints were trained with (``checkpoints/README.md``), so the default run reproduces them; ``seed``
is the paper's own procedure (F from scratch, end to end, Adam 2e-4), kept for comparison and for F
configurations no catalogue network fits. An option given explicitly always wins over the recipe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from recengine.errors import InvalidInputError
from recengine.training.compatibility_recipe import DEFAULT_USER_LR
from recengine.training.trainer import TrainConfig


@dataclass(frozen=True)
class TrainingRecipe:
    """Every compatibility training option a recipe fixes (see ``train_compatibility`` for their meaning)."""

    steps: int
    lr: float
    eval_every: int
    user_lr: float
    init_encoder: str
    freeze_conv: bool
    random_negatives: int | None  # None: as many as the batch's positives
    user_steps: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


RECIPES: dict[str, TrainingRecipe] = {
    # F's conv stack from the catalogue network, fixed; F's FC layers, M and θu on its cached outputs, then the
    # user stage. About 13 minutes alone on a 2-core machine (benchmarks/RESULTS.md, checkpoints/README.md).
    "shipped": TrainingRecipe(
        steps=12000,
        lr=1e-3,
        eval_every=4000,
        user_lr=5e-2,
        init_encoder="embedder",
        freeze_conv=True,
        random_negatives=512,
        user_steps=3000,
    ),
    # The seed's settings (Adam 2e-4, F trained end to end from scratch); θu at its own rate (the recipe module).
    "seed": TrainingRecipe(
        steps=3000,
        lr=2e-4,
        eval_every=1000,
        user_lr=DEFAULT_USER_LR,
        init_encoder="none",
        freeze_conv=False,
        random_negatives=None,
        user_steps=0,
    ),
}
DEFAULT_RECIPE = "shipped"


def recipe_named(name: str) -> TrainingRecipe:
    """The recipe called ``name``.

    Raises:
        InvalidInputError: no recipe has that name.
    """
    if name not in RECIPES:
        raise InvalidInputError(f"unknown compatibility recipe {name!r}; choose one of {', '.join(RECIPES)}")
    return RECIPES[name]


def with_recipe(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` completed from the recipe they name (``params["recipe"]``, default :data:`DEFAULT_RECIPE`):
    every recipe option they leave out or set to None takes the recipe's value; the rest is kept as given."""
    name = str(params.get("recipe") or DEFAULT_RECIPE)
    given = {k: v for k, v in params.items() if v is not None}
    return {**recipe_named(name).as_dict(), **given, "recipe": name}


def resolve_run(params: Mapping[str, Any], train: TrainConfig) -> tuple[TrainConfig, dict[str, Any]]:
    """A job's ``train`` config and ``params`` completed from its recipe (:func:`with_recipe`): the recipe's
    steps, rate and validation period replace TrainConfig's family-neutral defaults where ``params`` name none."""
    resolved = with_recipe(params)
    unnamed = [k for k in ("steps", "lr", "eval_every") if params.get(k) is None]
    return replace(train, **{k: resolved[k] for k in unnamed}), resolved
