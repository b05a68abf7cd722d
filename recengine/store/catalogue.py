"""Read-side queries over the catalogue (repositories take a keyword-only session and never commit)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recengine.errors import InvalidInputError
from recengine.store.models import Image, Interaction, Item, Outfit, User

#: Item columns a recommendation may be filtered on (each to one or more values, compared case-insensitively).
FILTERABLE = ("gender", "usage", "season", "colour", "master_category", "sub_category", "article_type", "source")
GROUPINGS = ("master_category", "sub_category", "article_type", "gender", "usage", "colour", "season", "source")


@dataclass(frozen=True, slots=True)
class CategoryCount:
    key: str | None
    items: int
    active: int
    with_image: int


@dataclass(frozen=True, slots=True)
class CatalogueTotals:
    items: int
    active: int
    images: int
    outfits: int
    users: int
    interactions: int


def category_counts(*, session: Session, by: str = "article_type", limit: int | None = None) -> list[CategoryCount]:
    """Item counts per value of ``by`` (one of :data:`GROUPINGS`), largest first."""
    if by not in GROUPINGS:
        raise InvalidInputError(f"cannot group by {by!r}; choose one of {', '.join(GROUPINGS)}")
    col = getattr(Item, by)
    stmt = (
        select(
            col,
            func.count(),
            func.count().filter(Item.is_active),
            func.count(Item.image_sha256),
        )
        .group_by(col)
        .order_by(func.count().desc(), col)
        .limit(limit)
    )
    return [CategoryCount(*row) for row in session.execute(stmt)]


def totals(*, session: Session) -> CatalogueTotals:
    def count(model: type) -> int:
        return session.scalar(select(func.count()).select_from(model)) or 0

    active = session.scalar(select(func.count()).where(Item.is_active)) or 0
    return CatalogueTotals(count(Item), active, count(Image), count(Outfit), count(User), count(Interaction))


def matching_item_ids(*, session: Session, filters: Mapping[str, Sequence[str]]) -> NDArray[np.int64]:
    """Sorted ids of the active items whose every filtered column (:data:`FILTERABLE`) holds one of its values.

    Values compare case-insensitively ("men" finds Myntra's "Men"); an item without a value never matches.
    """
    stmt = select(Item.id).where(Item.is_active.is_(True)).order_by(Item.id)
    for name, values in filters.items():
        if name not in FILTERABLE:
            raise InvalidInputError(f"cannot filter on {name!r}; choose among {', '.join(FILTERABLE)}")
        stmt = stmt.where(func.lower(getattr(Item, name)).in_([v.lower() for v in values]))
    return np.fromiter(session.scalars(stmt), dtype=np.int64)
