"""Building outfit datasets into PostgreSQL: stylist outfits (no users) and simulated users with outfits.

Rows go in with COPY and pre-allocated ids; the caller's transaction holds the whole build, so a failed build
leaves nothing. Every dataset row records its seed, its parameters and the exact template distribution, which
with the catalogue rebuild it identically.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from recengine.datasets.outfits.composer import SLOT_ORDER, CatalogueArrays, Composer
from recengine.datasets.outfits.templates import TemplateDistribution, mean_size, slot_frequencies
from recengine.datasets.outfits.users import templates_for
from recengine.errors import InvalidInputError
from recengine.names import check_name
from recengine.store.bulk import allocate_ids, copy_rows
from recengine.store.locks import xact_lock
from recengine.store.models import Dataset

Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class BuildSummary:
    dataset_id: int
    name: str
    users: int
    outfits: int
    slots: int
    interactions: int
    seconds: float


def claim_dataset(session: Session, name: str, kind: str, seed: int, params: dict[str, Any], replace: bool) -> Dataset:
    check_name("dataset name", name)  # it names the checkpoint files trained on it
    # Two builds of one name at once: the second waits, then finds the first's dataset (a clear refusal, or a
    # rebuild with replace), where it used to miss it and end in a UniqueViolation after its whole build.
    xact_lock(session, f"recengine-dataset:{name}")
    existing = session.scalar(select(Dataset).where(Dataset.name == name))
    if existing is not None:
        if not replace:
            raise InvalidInputError(
                f"dataset {name!r} exists (built with seed {existing.seed}); pass replace to rebuild"
            )
        session.execute(delete(Dataset).where(Dataset.id == existing.id))  # cascades to its users and outfits
        session.flush()
    dataset = Dataset(name=name, kind=kind, seed=seed, params=params)
    session.add(dataset)
    session.flush()
    return dataset


def compositions(outfits: np.ndarray[Any, Any], catalogue: CatalogueArrays) -> list[tuple[str, ...]]:
    """Sorted slot-name tuples of built outfits, for comparing with the real templates."""
    return [tuple(sorted(SLOT_ORDER[catalogue.slot[i]] for i in row if i >= 0)) for row in outfits]


def outfit_stats(outfits: np.ndarray[Any, Any], catalogue: CatalogueArrays) -> dict[str, Any]:
    comps = compositions(outfits, catalogue)
    return {"slot_frequencies": slot_frequencies(comps), "mean_size": mean_size(comps)}


def write_outfit_rows(
    session: Session,
    dataset: Dataset,
    source: str,
    catalogue: CatalogueArrays,
    outfits: np.ndarray[Any, Any],
    owners: list[int | None],
    prefix: str,
) -> tuple[list[int], int]:
    """COPY outfits (ids, external ids ``<prefix>o<n>``) and their slots; returns (outfit ids, slot count)."""
    ids = allocate_ids(session, "outfits", len(outfits))
    copy_rows(session, "outfits", ("id", "external_id", "source", "owner_user_id", "dataset_id"),
              ((oid, f"{prefix}o{n:06d}", source, owner, dataset.id)
               for n, (oid, owner) in enumerate(zip(ids, owners, strict=True))))  # fmt: skip
    slots = [(oid, pos, int(catalogue.item_ids[i])) for oid, row in zip(ids, outfits, strict=True)
             for pos, i in enumerate(row) if i >= 0]  # fmt: skip
    copy_rows(session, "outfit_items", ("outfit_id", "slot", "item_id"), slots)
    return ids, len(slots)


def build_stylist_outfits(*, session: Session, name: str, catalogue: CatalogueArrays, templates: TemplateDistribution,
                          n_outfits: int, seed: int = 0, replace: bool = False) -> BuildSummary:  # fmt: skip
    """Outfits with no owner, composed by the rules alone (uniform weights within each gender)."""
    if n_outfits < 1 or seed < 0:
        raise InvalidInputError(f"n_outfits must be >= 1 and seed >= 0, got n_outfits={n_outfits}, seed={seed}")
    start = time.perf_counter()
    rng = np.random.default_rng([seed, 2**31 - 2])
    dataset = claim_dataset(session, name, "stylist-outfits", seed,
                     {"n_outfits": n_outfits, "templates": templates.to_json()}, replace)  # fmt: skip
    composer = Composer(catalogue)
    genders = np.where(rng.random(n_outfits) < 0.5, "Women", "Men")
    rows = []
    for gender in ("Men", "Women"):
        count = int((genders == gender).sum())
        weights = catalogue.gender_mask(gender).astype(np.float64)
        rows.append(composer.compose(rng, templates_for(gender, catalogue, templates).sample(rng, count), weights))
    width = max(r.shape[1] for r in rows)
    outfits = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1])), constant_values=-1) for r in rows])
    _, n_slots = write_outfit_rows(session, dataset, "stylist", catalogue, outfits, [None] * len(outfits),
                                f"{name}:")  # fmt: skip
    seconds = time.perf_counter() - start
    dataset.stats = {**outfit_stats(outfits, catalogue), "outfits": len(outfits), "slots": n_slots, "seconds": seconds}
    return BuildSummary(dataset.id, name, 0, len(outfits), n_slots, 0, seconds)
