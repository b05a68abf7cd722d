"""Writing simulated users, their outfits, interactions and splits to PostgreSQL (see ``users`` for the model).

Splits recorded in ``split_assignments`` for the dataset:

* ``outfits``: every outfit is train, valid or test (per user, as in the seed: ~220 training, ~40 test);
* ``users``: joint users are train, the newcomers (fitted later with frozen networks) are test;
* ``items``: test items are never part of a training or validation outfit (the "unseen items" split).

Interactions are the items of each user's *training* outfits (kind ``outfit``): what a shop would have seen.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from recengine.datasets.outfits.build import BuildSummary, Progress, claim_dataset, outfit_stats, write_outfit_rows
from recengine.datasets.outfits.composer import CatalogueArrays
from recengine.datasets.outfits.templates import TemplateDistribution
from recengine.datasets.outfits.users import SimulatedUser, SimulationParams, simulate_user, templates_for, unseen_items
from recengine.store.bulk import allocate_ids, copy_rows

SOURCE = "simulated"


def _splits(dataset_id: int, users: list[SimulatedUser], user_ids: list[int], outfit_ids: list[int],
            catalogue: CatalogueArrays, held: np.ndarray[Any, Any]) -> Iterator[tuple[Any, ...]]:  # fmt: skip
    parts = (p for u in users for p in u.parts)
    for oid, part in zip(outfit_ids, parts, strict=True):
        yield dataset_id, "outfits", "outfit", oid, part
    for uid, user in zip(user_ids, users, strict=True):
        yield dataset_id, "users", "user", uid, "test" if user.newcomer else "train"
    for item_id, is_held in zip(catalogue.item_ids, held, strict=True):
        yield dataset_id, "items", "item", int(item_id), "test" if is_held else "train"


#: The name `recengine data simulate-users` gives its dataset, and the one training uses by default.
DEFAULT_DATASET = "default"


def simulate_users(*, session: Session, name: str, catalogue: CatalogueArrays, templates: TemplateDistribution,
                   params: SimulationParams, progress: Progress | None = None,
                   replace: bool = False) -> BuildSummary:  # fmt: skip
    """Simulate ``params.users`` users and store them with their outfits, interactions and splits."""
    start = time.perf_counter()
    dataset = claim_dataset(session, name, "simulated-users", params.seed,
                     {**params.as_dict(), "templates": templates.to_json()}, replace)  # fmt: skip
    held = unseen_items(catalogue, params)
    per_gender = {g: templates_for(g, catalogue, templates) for g in ("Men", "Women")}
    users = []
    for i in range(params.users):
        users.append(simulate_user(i, catalogue, per_gender, params, held))
        if progress is not None and (i + 1) % 20 == 0:
            progress(i + 1, params.users)
    user_ids = allocate_ids(session, "users", len(users))
    copy_rows(session, "users", ("id", "external_id", "dataset_id", "attributes"),
              ((uid, f"{name}:u{u.index:05d}", dataset.id, {**u.taste.summary(catalogue), "newcomer": u.newcomer})
               for uid, u in zip(user_ids, users, strict=True)))  # fmt: skip
    width = max(u.outfits.shape[1] for u in users)
    outfits = np.concatenate([np.pad(u.outfits, ((0, 0), (0, width - u.outfits.shape[1])), constant_values=-1)
                              for u in users])  # fmt: skip
    owners: list[int | None] = [uid for uid, u in zip(user_ids, users, strict=True) for _ in u.parts]
    outfit_ids, n_slots = write_outfit_rows(session, dataset, SOURCE, catalogue, outfits, owners, f"{name}:")
    parts = [p for u in users for p in u.parts]
    interactions = [(owner, int(catalogue.item_ids[i]), "outfit")
                    for owner, row, part in zip(owners, outfits, parts, strict=True) if part == "train"
                    for i in row if i >= 0]  # fmt: skip
    copy_rows(session, "interactions", ("user_id", "item_id", "kind"), interactions)
    copy_rows(session, "split_assignments", ("dataset_id", "split", "entity", "entity_id", "part"),
              _splits(dataset.id, users, user_ids, outfit_ids, catalogue, held))  # fmt: skip
    seconds = time.perf_counter() - start
    dataset.stats = {**outfit_stats(outfits, catalogue), "users": len(users), "outfits": len(outfits), "slots": n_slots,
                     "interactions": len(interactions), "seconds": round(seconds, 2)}  # fmt: skip
    if progress is not None:
        progress(params.users, params.users)
    return BuildSummary(dataset.id, name, len(users), len(outfits), n_slots, len(interactions), seconds)
