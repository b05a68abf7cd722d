"""The catalogue side of retrieval: which items are served, in which category, and their embeddings.

A served item is an active item with an image. Its category (the index filter of design-and-retrieve: "the
nearest real *bottoms*") is its outfit slot from the shipped category map, or ``other`` when the map does not
use its article type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, false, or_, select, true, tuple_
from sqlalchemy.orm import Session

from recengine.datasets.image_cache import prepare_image
from recengine.datasets.outfits.templates import SLOTS, CategoryMap, load_category_map
from recengine.embedding.embedder import FloatArray, ImageEmbedder
from recengine.errors import InvalidInputError, NotFoundError
from recengine.store.bulk import any_of
from recengine.store.models import Image, Item

Progress = Callable[[int, int | None], None]


class PixelRepair(Protocol):
    """Replaces some items' prepared pixels before they are embedded (e.g. photos repaired by inpainting,
    :class:`recengine.inpainting.repair.StoredRepairs`)."""

    def __call__(self, session: Session, ids: NDArray[np.int64], pixels: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """(N, S, S, 3) ``pixels`` of items ``ids``, with the repaired ones replaced."""
        ...


OTHER = "other"
#: Images decoded and embedded per round trip: bounds memory (about 12 MB of 64x64 pixels) and progress steps.
CHUNK = 1024


@dataclass(frozen=True)
class ServedItems:
    ids: NDArray[np.int64]
    categories: list[str]
    image_shas: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, rows: Sequence[int] | NDArray[np.int64]) -> ServedItems:
        """These items' ``rows``, in that order."""
        picked = [int(r) for r in rows]
        return ServedItems(ids=self.ids[picked] if picked else np.empty(0, np.int64),
                           categories=[self.categories[r] for r in picked],
                           image_shas=[self.image_shas[r] for r in picked])  # fmt: skip


def item_category(item: Item | tuple[str | None, str | None, str | None], categories: CategoryMap) -> str:
    master, sub, article = (
        (item.master_category, item.sub_category, item.article_type) if isinstance(item, Item) else item
    )
    slot = categories.slot_for(master or "", sub or "", article or "")
    return slot or OTHER


def category_clause(category: str, categories: CategoryMap | None = None) -> ColumnElement[bool]:
    """SQL condition on :class:`Item` rows: :func:`item_category` is ``category`` (a slot or ``other``).

    The same rule in SQL, so a listing can filter and page in the database rather than classify every row here.
    """
    if category not in (*SLOTS, OTHER):
        raise InvalidInputError(f"unknown category {category!r}; categories are {', '.join((*SLOTS, OTHER))}")
    cmap = categories or load_category_map()
    labels = tuple_(Item.master_category, Item.sub_category, Item.article_type)
    if category != OTHER:
        triples = [t for t, slot in cmap.triples.items() if slot == category]
        return labels.in_(triples) if triples else false()
    # A missing label is "" to item_category, and no map row has an empty label: such items are "other".
    unmapped = labels.not_in(list(cmap.triples)) if cmap.triples else true()
    return or_(Item.master_category.is_(None), Item.sub_category.is_(None), Item.article_type.is_(None), unmapped)


def served_items(*, session: Session, item_ids: Sequence[int] | None = None,
                 categories: CategoryMap | None = None) -> ServedItems:  # fmt: skip
    """Active items with an image (all, or those of ``item_ids``), in id order."""
    cmap = categories or load_category_map()
    stmt = (
        select(Item.id, Item.image_sha256, Item.master_category, Item.sub_category, Item.article_type)
        .where(Item.is_active.is_(True), Item.image_sha256.is_not(None))
        .order_by(Item.id)
    )
    if item_ids is not None:
        stmt = stmt.where(any_of(Item.id, (int(i) for i in item_ids)))
    rows = session.execute(stmt).all()
    return ServedItems(
        ids=np.array([r.id for r in rows], dtype=np.int64),
        categories=[item_category((r.master_category, r.sub_category, r.article_type), cmap) for r in rows],
        image_shas=[str(r.image_sha256) for r in rows],
    )


def load_prepared(session: Session, shas: Sequence[str], size: int) -> NDArray[np.uint8]:
    """(N, size, size, 3) prepared pixels of these images, in order (identical images decoded once)."""
    unique = list(dict.fromkeys(shas))
    decoded: dict[str, NDArray[np.uint8]] = {}
    for sha, data in session.execute(select(Image.sha256, Image.data).where(Image.sha256.in_(unique))):
        decoded[sha] = prepare_image(data, size)
    missing = [s for s in unique if s not in decoded]
    if missing:
        raise NotFoundError(f"images not in the database: {missing[:3]}")
    return np.stack([decoded[s] for s in shas]) if shas else np.empty((0, size, size, 3), np.uint8)


def prepared_chunks(session: Session, shas: Sequence[str], size: int, ids: NDArray[np.int64] | None = None,
                    repair: PixelRepair | None = None) -> Iterator[NDArray[np.uint8]]:  # fmt: skip
    """(≤ CHUNK, S, S, 3) prepared pixels of ``shas``, chunk by chunk so memory stays bounded; with ``repair``
    (and the items' ``ids``) the masked items' pixels come from their repaired photos."""
    for start in range(0, len(shas), CHUNK):
        pixels = load_prepared(session, shas[start : start + CHUNK], size)
        if repair is not None and ids is not None:
            pixels = repair(session, ids[start : start + CHUNK], pixels)
        yield pixels


def embed_served(*, session: Session, items: ServedItems, embedder: ImageEmbedder, progress: Progress | None = None,
                 repair: PixelRepair | None = None) -> FloatArray:  # fmt: skip
    """(N, dim) normalised embeddings of ``items``, decoded from PostgreSQL chunk by chunk (``repair`` changes
    some items' pixels first)."""
    out = np.empty((len(items), embedder.dim), dtype=np.float32)
    chunks = prepared_chunks(session, items.image_shas, embedder.image_size, items.ids, repair)
    for start, pixels in zip(range(0, len(items), CHUNK), chunks, strict=True):
        out[start : start + len(pixels)] = embedder.embed(pixels)
        if progress is not None:
            progress(start + len(pixels), len(items))
    return out
