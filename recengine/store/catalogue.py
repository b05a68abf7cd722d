"""Read-side queries over the catalogue (repositories take a keyword-only session and never commit)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, func, or_, select
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


#: The escape character of :func:`contains_pattern`'s patterns (pass it as ``ilike(..., escape=...)``).
LIKE_ESCAPE = "\\"


def contains_pattern(text: str) -> str:
    """``text`` as a LIKE pattern matching it anywhere, its own ``%``, ``_`` and ``\\`` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True, slots=True)
class ListedItem:
    """One row of :func:`list_items`: what a picker shows, and the labels its category comes from."""

    id: int
    external_id: str
    name: str | None
    article_type: str | None
    colour: str | None
    image_sha256: str | None
    master_category: str | None
    sub_category: str | None


def list_items(*, session: Session, where: ColumnElement[bool] | None = None, q: str | None = None,
               limit: int = 50, offset: int = 0) -> tuple[list[ListedItem], int]:  # fmt: skip
    """A page of active items in id order (no image bytes), and how many match in all.

    Args:
        where: an extra condition (a category's, say).
        q: text found, case-insensitively, in the item's name, external id or article type.
    """
    conditions: list[ColumnElement[bool]] = [Item.is_active.is_(True)]
    if where is not None:
        conditions.append(where)
    if q:
        columns = (Item.name, Item.external_id, Item.article_type)
        conditions.append(or_(*(c.ilike(contains_pattern(q), escape=LIKE_ESCAPE) for c in columns)))
    total = session.scalar(select(func.count()).select_from(Item).where(*conditions)) or 0
    stmt = (
        select(Item.id, Item.external_id, Item.name, Item.article_type, Item.colour, Item.image_sha256,
               Item.master_category, Item.sub_category)
        .where(*conditions)
        .order_by(Item.id)
        .limit(limit)
        .offset(offset)
    )  # fmt: skip
    return [ListedItem(*row) for row in session.execute(stmt)], total
