"""The outfit composer: fills composition templates with catalogue items under the stylist rules.

Sampling-importance-resampling, vectorised over outfits: for each slot of each outfit, ``n_candidates`` items
are drawn from the slot's pool in proportion to a caller-given item weight (a user's taste, or uniform), then
one is picked in proportion to its rule compatibility with the items already in the outfit, raised to
``sharpness``. The first slot (the anchor: a top or an all-body piece) is drawn by weight alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from recengine.datasets.outfits import rules
from recengine.datasets.outfits.templates import CategoryMap
from recengine.errors import InvalidInputError
from recengine.store.models import Item

#: Order in which an outfit's slots are filled: the anchor first, then what is judged against it.
SLOT_ORDER = ("top", "all-body", "bottom", "outerwear", "shoes", "bag", "accessory", "jewellery", "hat", "scarf",
              "sunglasses")  # fmt: skip
GENDERS = ("Men", "Women", "Unisex")
IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class CatalogueArrays:
    """The catalogue as parallel arrays: everything the composer reads, one entry per usable item."""

    item_ids: IntArray  # (N,) database ids
    slot: IntArray  # (N,) index into SLOT_ORDER
    article: IntArray  # (N,) index into article_names
    colour: IntArray  # (N,) index into colour_names
    family: IntArray  # (N,) index into rules.FAMILIES
    usage: IntArray  # (N,) index into rules.USAGES
    season: IntArray  # (N,) index into rules.SEASONS
    gender: IntArray  # (N,) index into GENDERS
    article_names: tuple[str, ...]
    colour_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.item_ids)

    def rule_codes(self, index: IntArray) -> tuple[IntArray, IntArray, IntArray]:
        return self.family[index], self.usage[index], self.season[index]

    def gender_mask(self, gender: str) -> NDArray[np.bool_]:
        """Items a ``gender`` outfit may take: that gender's and unisex ones."""
        mask: NDArray[np.bool_] = (self.gender == GENDERS.index(gender)) | (self.gender == GENDERS.index("Unisex"))
        return mask


def catalogue_arrays(rows: list[tuple[int, str, str | None, str | None, str | None, str | None]],
                     category_map: CategoryMap) -> CatalogueArrays:  # fmt: skip
    """Arrays from ``(id, article_type, gender, colour, usage, season)`` rows; unmapped items are left out."""
    kept = [r for r in rows if r[1] in category_map.slot_of and r[2] in GENDERS]
    if not kept:
        raise InvalidInputError("no catalogue item has an article type of the outfit category map")
    articles = tuple(sorted({r[1] for r in kept}))
    colours = tuple(sorted({r[3] or "" for r in kept}))

    def codes(values: list[int]) -> IntArray:
        return np.asarray(values, dtype=np.int64)

    return CatalogueArrays(
        item_ids=codes([r[0] for r in kept]),
        slot=codes([SLOT_ORDER.index(category_map.slot_of[r[1]]) for r in kept]),
        article=codes([articles.index(r[1]) for r in kept]),
        colour=codes([colours.index(r[3] or "") for r in kept]),
        family=codes([rules.FAMILIES.index(rules.colour_family(r[3])) for r in kept]),
        usage=codes([rules.usage_code(r[4]) for r in kept]),
        season=codes([rules.season_code(r[5]) for r in kept]),
        gender=codes([GENDERS.index(r[2]) for r in kept]),
        article_names=articles,
        colour_names=colours,
    )


def load_catalogue(*, session: Session, category_map: CategoryMap) -> CatalogueArrays:
    """Active items with an image, in id order (so the arrays, and all sampling on them, are reproducible)."""
    stmt = (
        select(Item.id, Item.article_type, Item.gender, Item.colour, Item.usage, Item.season)
        .where(Item.is_active, Item.image_sha256.is_not(None), Item.article_type.in_(list(category_map.slot_of)))
        .order_by(Item.id)
    )
    return catalogue_arrays([tuple(r) for r in session.execute(stmt)], category_map)  # type: ignore[misc]


def template_matrix(templates: list[tuple[str, ...]]) -> IntArray:
    """(n, L) slot codes in filling order, padded with -1."""
    ordered = [sorted(SLOT_ORDER.index(s) for s in t) for t in templates]
    width = max((len(t) for t in ordered), default=0)
    out = np.full((len(ordered), width), -1, dtype=np.int64)
    for i, slots in enumerate(ordered):
        out[i, : len(slots)] = slots
    return out


@dataclass(frozen=True)
class Composer:
    """Samples outfits from a catalogue under :mod:`rules`; see the module docstring."""

    catalogue: CatalogueArrays
    n_candidates: int = 32
    sharpness: float = 2.0

    def compose(self, rng: np.random.Generator, templates: list[tuple[str, ...]], weights: FloatArray) -> IntArray:
        """Fill ``templates`` with items.

        Args:
            rng: Source of randomness (the only one).
            templates: One tuple of slot names per outfit.
            weights: (N,) non-negative weight of each catalogue item (0 = never); a taste, a gender mask...

        Returns:
            (n, L) catalogue indices (not database ids) in :data:`SLOT_ORDER` order, -1 where a slot is empty
            (the template had fewer slots, or no item of that slot has weight).
        """
        slots = template_matrix(templates)
        chosen = np.full(slots.shape, -1, dtype=np.int64)
        tables = (rules.colour_table(), rules.usage_table(), rules.season_table())
        for pos in range(slots.shape[1]):
            for slot in np.unique(slots[:, pos]):
                if slot < 0:
                    continue
                rows = np.flatnonzero(slots[:, pos] == slot)
                chosen[rows, pos] = self._fill(rng, int(slot), chosen[rows, :pos], weights, tables)
        return chosen

    def _fill(self, rng: np.random.Generator, slot: int, previous: IntArray, weights: FloatArray,
              tables: tuple[FloatArray, FloatArray, FloatArray]) -> IntArray:  # fmt: skip
        pool = np.flatnonzero((self.catalogue.slot == slot) & (weights > 0))
        if len(pool) == 0:
            return np.full(len(previous), -1, dtype=np.int64)
        cdf = np.cumsum(weights[pool])
        draws = rng.random((len(previous), self.n_candidates)) * cdf[-1]
        candidates = pool[np.minimum(np.searchsorted(cdf, draws, side="right"), len(pool) - 1)]
        compat = np.ones(candidates.shape)
        cand_codes = self.catalogue.rule_codes(candidates)
        for q in range(previous.shape[1]):
            prev = previous[:, q : q + 1]
            has = prev >= 0
            prev_codes = self.catalogue.rule_codes(np.where(has, prev, 0))
            pair = rules.pair_weight(tables, cand_codes, prev_codes)
            compat *= np.where(has, pair, 1.0)
            compat *= candidates != prev  # an item appears at most once in an outfit
        score = compat**self.sharpness
        cdf_rows = np.cumsum(score, axis=1)
        pick = (cdf_rows < rng.random((len(previous), 1)) * cdf_rows[:, -1:]).sum(axis=1)
        picked: IntArray = candidates[np.arange(len(previous)), np.minimum(pick, self.n_candidates - 1)]
        # Every candidate already in the outfit (a tiny pool): the slot stays empty rather than repeat an item.
        return np.where(cdf_rows[:, -1] > 0, picked, -1)
