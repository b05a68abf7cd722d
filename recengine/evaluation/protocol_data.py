"""A dataset's users, outfits and catalogue as arrays, loaded once from PostgreSQL for evaluation and training.

Item indices (0..I-1) address :attr:`ProtocolData.item_ids`: every active catalogue item with an image whose
article type the outfit category map knows, so candidates come from the whole catalogue, not only from items
someone already wore.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recengine.datasets.outfits.composer import SLOT_ORDER, load_catalogue
from recengine.datasets.outfits.templates import CategoryMap, load_category_map
from recengine.errors import InvalidInputError, NotFoundError
from recengine.store.models import Dataset, Outfit, OutfitItem, SplitAssignment, User

PARTS = ("train", "valid", "test")
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class ProtocolData:
    dataset_id: int
    user_ids: IntArray  # (U,) database ids
    user_external: list[str]  # (U,) external ids, stable across rebuilds of the dataset
    newcomer: NDArray[np.bool_]  # (U,) in the test part of the users split
    item_ids: IntArray  # (I,) database ids
    item_slot: IntArray  # (I,) index into SLOT_ORDER
    item_article: IntArray  # (I,) article type code
    item_unseen: NDArray[np.bool_]  # (I,) in the test part of the items split
    outfit_user: IntArray  # (O,) user index
    outfit_part: IntArray  # (O,) index into PARTS
    outfit_items: IntArray  # (O, L) item indices, -1 padded
    query_slot: int = SLOT_ORDER.index("top")
    target_slot: int = SLOT_ORDER.index("bottom")
    dataset_name: str = ""

    def slot_items(self, slot: int) -> IntArray:
        return np.flatnonzero(self.item_slot == slot)

    def pairs(self, part: str | None) -> tuple[IntArray, IntArray, IntArray, IntArray]:
        """(users, queries, targets, outfits) of the outfits of ``part`` (None: all) with both slots."""
        rows = (
            np.arange(len(self.outfit_user)) if part is None else np.flatnonzero(self.outfit_part == PARTS.index(part))
        )
        items = self.outfit_items[rows]
        slots = np.where(items >= 0, self.item_slot[np.maximum(items, 0)], -1)
        has_q, has_t = (slots == self.query_slot).any(axis=1), (slots == self.target_slot).any(axis=1)
        keep = np.flatnonzero(has_q & has_t)
        q_col = (slots[keep] == self.query_slot).argmax(axis=1)
        t_col = (slots[keep] == self.target_slot).argmax(axis=1)
        outfits = rows[keep]
        return (self.outfit_user[outfits], items[keep, q_col], items[keep, t_col], outfits)

    def interaction_matrix(self, parts: tuple[str, ...] = ("train",),
                           slots: tuple[int, ...] | None = None) -> csr_matrix:  # fmt: skip
        """(U, I) counts of the items in each user's outfits of ``parts``: implicit feedback for CF models.

        ``slots`` (indices into SLOT_ORDER) keeps only the items of those slots: e.g. the query and target slots,
        the part of each outfit the compatibility model trains on.
        """
        unknown = sorted(set(slots or ()) - set(range(len(SLOT_ORDER))))
        if unknown:
            raise InvalidInputError(f"slots must be indices into {SLOT_ORDER}, got {unknown}")
        rows = np.flatnonzero(np.isin(self.outfit_part, [PARTS.index(p) for p in parts]))
        items = self.outfit_items[rows]
        users = np.repeat(self.outfit_user[rows], items.shape[1])
        flat = items.ravel()
        ok = flat >= 0
        if slots is not None:
            ok &= np.isin(self.item_slot[np.maximum(flat, 0)], slots)
        shape = (len(self.user_ids), len(self.item_ids))
        return csr_matrix((np.ones(int(ok.sum()), dtype=np.float32), (users[ok], flat[ok])), shape=shape)


def _split(session: Session, dataset_id: int, split: str, entity: str) -> dict[int, str]:
    stmt = select(SplitAssignment.entity_id, SplitAssignment.part).where(
        SplitAssignment.dataset_id == dataset_id, SplitAssignment.split == split, SplitAssignment.entity == entity
    )
    return {int(entity): str(part) for entity, part in session.execute(stmt).all()}


def _outfit_items(session: Session, dataset_id: int, outfit_ids: NDArray[np.int64],
                  item_ids: NDArray[np.int64]) -> NDArray[np.int64]:  # fmt: skip
    """(outfits, slots) catalogue index of each outfit's item per slot, -1 where none (or not in the catalogue).

    Three arrays in one row, not a row per slot: a million rows as Python tuples took 1.5 s and a loop over them
    about as long again, which every training run, evaluation and newcomer fit paid at its start.
    """
    stmt = (
        select(
            func.array_agg(OutfitItem.outfit_id), func.array_agg(OutfitItem.slot), func.array_agg(OutfitItem.item_id)
        )
        .join(Outfit, Outfit.id == OutfitItem.outfit_id)
        .where(Outfit.dataset_id == dataset_id)
    )
    outfit, slot, item = (np.asarray(column or [], dtype=np.int64) for column in session.execute(stmt).one())
    width = int(slot.max()) + 1 if len(slot) else 0
    items = np.full((len(outfit_ids), width), -1, dtype=np.int64)
    if not len(slot) or not len(item_ids):
        return items
    order = np.argsort(item_ids, kind="stable")
    at = np.minimum(np.searchsorted(item_ids, item, sorter=order), len(item_ids) - 1)
    known = item_ids[order[at]] == item
    # outfit_ids are ordered by id (the query's ORDER BY), and every row's outfit is one of them.
    items[np.searchsorted(outfit_ids, outfit), slot] = np.where(known, order[at], -1)
    return items


def load_protocol_data(*, session: Session, dataset: str, category_map: CategoryMap | None = None) -> ProtocolData:
    """Load dataset ``dataset`` (by name) and the catalogue it was built from."""
    ds = session.scalar(select(Dataset).where(Dataset.name == dataset))
    if ds is None:
        raise NotFoundError(f"no dataset named {dataset!r}: build one with `recengine data simulate-users`")
    catalogue = load_catalogue(session=session, category_map=category_map or load_category_map())
    user_rows = session.execute(select(User.id, User.external_id).where(User.dataset_id == ds.id).order_by(User.id))
    pairs = user_rows.all()
    users, externals = [u for u, _ in pairs], [e for _, e in pairs]
    user_index = {u: n for n, u in enumerate(users)}
    user_part, item_part = _split(session, ds.id, "users", "user"), _split(session, ds.id, "items", "item")
    outfit_part = _split(session, ds.id, "outfits", "outfit")
    if not outfit_part:
        raise InvalidInputError(f"dataset {dataset!r} ({ds.kind}) has no users and outfit splits to evaluate on")
    outfits = session.execute(
        select(Outfit.id, Outfit.owner_user_id).where(Outfit.dataset_id == ds.id).order_by(Outfit.id)
    ).all()
    items = _outfit_items(session, ds.id, np.asarray([o for o, _ in outfits], dtype=np.int64), catalogue.item_ids)
    return ProtocolData(
        dataset_id=ds.id,
        dataset_name=ds.name,
        user_ids=np.asarray(users, dtype=np.int64),
        user_external=list(externals),
        newcomer=np.asarray([user_part.get(u) == "test" for u in users]),
        item_ids=catalogue.item_ids,
        item_slot=catalogue.slot,
        item_article=catalogue.article,
        item_unseen=np.asarray([item_part.get(int(i)) == "test" for i in catalogue.item_ids]),
        outfit_user=np.asarray([-1 if o is None else user_index[o] for _, o in outfits], dtype=np.int64),
        outfit_part=np.asarray([PARTS.index(outfit_part[o]) for o, _ in outfits], dtype=np.int64),
        outfit_items=items,
    )
