"""Read-side queries over the catalogue (repositories take a keyword-only session and never commit)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recengine.errors import InvalidInputError
from recengine.store.models import Image, Interaction, Item, Outfit, User

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
