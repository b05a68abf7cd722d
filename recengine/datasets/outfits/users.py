"""Simulated users: a latent taste each, and the outfits they compose with it (a documented stand-in).

A user has a gender and Dirichlet-drawn preferences over colours, usages and article types, with a strength
exponent: the weight of catalogue item i for user u is

    w_u(i) = (C * p_colour[c_i] * U * p_usage[u_i] * A * p_article[a_i]) ** strength_u

(zero for the other gender's items). The composer draws outfit items in proportion to w_u and then by the
stylist rules, so outfits are both compatible (rules) and personal (taste). The Dirichlet base measure is the
catalogue's own frequency, so tastes centre on what the shop sells. Every draw comes from
``numpy.random.default_rng([seed, user index])``: one user's outfits do not depend on how many others exist.

Splits: ``unseen_item_fraction`` of each slot's items are test-only: training outfits are composed from the
other items only, test outfits from all, so test items never appear in training. Each user's outfits are
split train / valid / test; the last ``newcomer_users`` users are the seed's newcomers (Table 3 protocol).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from recengine.datasets.outfits.composer import SLOT_ORDER, CatalogueArrays, Composer
from recengine.datasets.outfits.rules import USAGES
from recengine.datasets.outfits.templates import TemplateDistribution
from recengine.errors import InvalidInputError

IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class SimulationParams:
    """Everything that, with the catalogue and the templates, determines a simulated dataset."""

    seed: int = 0
    users: int = 800
    train_outfits: int = 220
    test_outfits: int = 40
    valid_fraction: float = 0.1
    newcomer_users: int = 100
    unseen_item_fraction: float = 0.15
    women_fraction: float = 0.5
    concentration: float = 20.0
    strength: tuple[float, float] = (0.5, 1.5)
    n_candidates: int = 32
    sharpness: float = 2.0

    def __post_init__(self) -> None:
        if self.users < 1 or self.train_outfits < 1 or self.test_outfits < 0 or self.seed < 0:
            raise InvalidInputError("users and train_outfits must be >= 1, test_outfits and seed >= 0")
        if not 0 <= self.newcomer_users < self.users:
            raise InvalidInputError(f"newcomer_users must be in [0, users), got {self.newcomer_users}")
        for name in ("valid_fraction", "unseen_item_fraction", "women_fraction"):
            if not 0 <= getattr(self, name) < 1:
                raise InvalidInputError(f"{name} must be in [0, 1), got {getattr(self, name)}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Taste:
    gender: str
    colour: NDArray[np.float64]  # (C,) over catalogue.colour_names
    usage: NDArray[np.float64]  # (U,) over rules.USAGES
    article: NDArray[np.float64]  # (A,) over catalogue.article_names
    strength: float

    def item_weights(self, catalogue: CatalogueArrays) -> NDArray[np.float64]:
        """(N,) w_u(i) of the module docstring."""
        return np.exp(self.log_item_weights(catalogue))

    def log_item_weights(self, catalogue: CatalogueArrays, items: IntArray | None = None) -> NDArray[np.float64]:
        """log w_u(i) of ``items`` (catalogue indices, any shape; every item when None), -inf where w_u is 0."""
        index = np.arange(len(catalogue)) if items is None else items
        log_w = (
            np.log(self.colour[catalogue.colour[index]] * len(self.colour))
            + np.log(self.usage[catalogue.usage[index]] * len(self.usage))
            + np.log(self.article[catalogue.article[index]] * len(self.article))
        )
        return np.where(catalogue.gender_mask(self.gender)[index], self.strength * log_w, -np.inf)

    def summary(self, catalogue: CatalogueArrays, top: int = 3) -> dict[str, Any]:
        """The user's strongest preferences, readable, for the users table."""

        def best(p: NDArray[np.float64], names: tuple[str, ...]) -> list[str]:
            return [names[i] for i in np.argsort(-p)[:top]]

        return {
            "gender": self.gender, "strength": round(self.strength, 3),
            "colours": best(self.colour, catalogue.colour_names), "usages": best(self.usage, USAGES),
            "article_types": best(self.article, catalogue.article_names),
        }  # fmt: skip


def _base(codes: IntArray, size: int, mask: NDArray[np.bool_]) -> NDArray[np.float64]:
    # A little mass everywhere: a user may still like what the catalogue rarely has.
    counts: NDArray[np.float64] = np.bincount(codes[mask], minlength=size).astype(np.float64) + 0.5
    base: NDArray[np.float64] = counts / counts.sum()
    return base


def sample_taste(rng: np.random.Generator, catalogue: CatalogueArrays, params: SimulationParams) -> Taste:
    gender = "Women" if rng.random() < params.women_fraction else "Men"
    mask = catalogue.gender_mask(gender)

    def draw(codes: IntArray, size: int) -> NDArray[np.float64]:
        p = rng.dirichlet(params.concentration * _base(codes, size, mask))
        return np.maximum(p, 1e-12)

    return Taste(
        gender=gender,
        colour=draw(catalogue.colour, len(catalogue.colour_names)),
        usage=draw(catalogue.usage, len(USAGES)),
        article=draw(catalogue.article, len(catalogue.article_names)),
        strength=float(rng.uniform(*params.strength)),
    )


def unseen_items(catalogue: CatalogueArrays, params: SimulationParams) -> NDArray[np.bool_]:
    """(N,) True for test-only items: ``unseen_item_fraction`` of every slot, drawn from the seed."""
    rng = np.random.default_rng([params.seed, 2**31 - 1])
    held = np.zeros(len(catalogue), dtype=bool)
    for slot in range(len(SLOT_ORDER)):
        members = np.flatnonzero(catalogue.slot == slot)
        n = round(len(members) * params.unseen_item_fraction)
        held[rng.choice(members, size=n, replace=False)] = True
    return held


@dataclass
class SimulatedUser:
    index: int
    taste: Taste
    outfits: IntArray  # (n, L) catalogue indices, -1 padded
    parts: list[str]  # per outfit: train / valid / test
    templates: list[tuple[str, ...]] = field(repr=False)
    newcomer: bool = False


#: A slot needs this many items of a gender for that gender's outfits to use it (men's all-body pieces are rare).
MIN_SLOT_ITEMS = 20


def templates_for(gender: str, catalogue: CatalogueArrays, templates: TemplateDistribution) -> TemplateDistribution:
    """The templates whose every slot the catalogue can fill for ``gender``, renormalised."""
    counts = np.bincount(catalogue.slot[catalogue.gender_mask(gender)], minlength=len(SLOT_ORDER))
    fillable = {SLOT_ORDER[i] for i in np.flatnonzero(counts >= MIN_SLOT_ITEMS)}
    kept = [(c, n) for c, n in zip(templates.compositions, templates.counts, strict=True) if set(c) <= fillable]
    if not kept:
        raise InvalidInputError(f"the catalogue cannot fill any outfit template for {gender}")
    return TemplateDistribution(tuple(c for c, _ in kept), tuple(n for _, n in kept))


def simulate_user(index: int, catalogue: CatalogueArrays, templates: dict[str, TemplateDistribution],
                  params: SimulationParams, held: NDArray[np.bool_]) -> SimulatedUser:  # fmt: skip
    """One user's taste and outfits; depends only on (seed, index), the catalogue and the templates.

    ``templates`` maps each gender to its distribution (see :func:`templates_for`).
    """
    rng = np.random.default_rng([params.seed, index])
    taste = sample_taste(rng, catalogue, params)
    weights = taste.item_weights(catalogue)
    composer = Composer(catalogue, n_candidates=params.n_candidates, sharpness=params.sharpness)
    n_train, n_test = params.train_outfits, params.test_outfits
    dist = templates[taste.gender]
    train_t, test_t = dist.sample(rng, n_train), dist.sample(rng, n_test)
    train = composer.compose(rng, train_t, np.where(held, 0.0, weights))
    test = composer.compose(rng, test_t, weights)
    width = max(train.shape[1], test.shape[1] if n_test else 0)
    outfits = np.full((n_train + n_test, width), -1, dtype=np.int64)
    outfits[:n_train, : train.shape[1]] = train
    outfits[n_train:, : test.shape[1]] = test
    n_valid = round(n_train * params.valid_fraction)
    parts = ["train"] * (n_train - n_valid) + ["valid"] * n_valid + ["test"] * n_test
    newcomer = index >= params.users - params.newcomer_users
    return SimulatedUser(index, taste, outfits, parts, train_t + test_t, newcomer)
