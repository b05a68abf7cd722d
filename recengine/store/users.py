"""Users as a shop's backend reports them: created on first sight, with their interactions and θu rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from recengine.errors import InvalidInputError, NotFoundError
from recengine.store.catalogue import LIKE_ESCAPE, contains_pattern
from recengine.store.models import INTERACTION_KINDS, Interaction, ModelVersion, User, UserPreference, row_id
from recengine.store.values import external_id_problem


@dataclass(frozen=True, slots=True)
class NewInteraction:
    item_id: int
    kind: str
    weight: float = 1.0
    occurred_at: datetime | None = None  # None: now


def lookup_user(*, session: Session, user: str) -> User | None:
    """A user by external id, or by database id when ``user`` is a number that no external id matches."""
    found = session.scalar(select(User).where(User.external_id == user))
    number = row_id(user)
    if found is None and number is not None:
        found = session.get(User, number)
    return found


def find_user(*, session: Session, user: str) -> User:
    """:func:`lookup_user`, raising :class:`NotFoundError` when there is none."""
    found = lookup_user(session=session, user=user)
    if found is None:
        raise NotFoundError(f"no user {user!r}")
    return found


def ensure_user(*, session: Session, external_id: str) -> User:
    """The user with this external id, created when the shop mentions them for the first time.

    Why create rather than 404: a shop's users appear by interacting; there is no separate sign-up to mirror.
    Concurrent first sights of one user give one row (``ON CONFLICT DO NOTHING``).
    """
    found = session.scalar(select(User).where(User.external_id == external_id))
    if found is not None:  # checked only for a new user: one stored before the rule below stays reachable
        return found
    problem = external_id_problem(external_id)
    if problem is not None:
        raise InvalidInputError(f"user id {external_id!r} {problem}")
    session.execute(insert(User).values(external_id=external_id).on_conflict_do_nothing(index_elements=["external_id"]))
    user = session.scalar(select(User).where(User.external_id == external_id))
    assert user is not None
    return user


def add_interactions(*, session: Session, user_id: int, rows: Sequence[NewInteraction]) -> int:
    """Record a user's interactions (kinds from :data:`INTERACTION_KINDS`); returns how many were added."""
    bad = sorted({r.kind for r in rows} - set(INTERACTION_KINDS))
    if bad:
        known = ", ".join(INTERACTION_KINDS)
        raise InvalidInputError(f"unknown interaction kind {', '.join(bad)}; choose among {known}")
    session.add_all(
        Interaction(user_id=user_id, item_id=r.item_id, kind=r.kind, weight=r.weight,
                    **({} if r.occurred_at is None else {"occurred_at": r.occurred_at}))
        for r in rows
    )  # fmt: skip
    session.flush()
    return len(rows)


def preferences_of(*, session: Session, user_id: int) -> list[tuple[UserPreference, ModelVersion]]:
    """Every θu of a user, with the model version it belongs to, newest fit first."""
    stmt = (
        select(UserPreference, ModelVersion)
        .join(ModelVersion, ModelVersion.id == UserPreference.model_version_id)
        .where(UserPreference.user_id == user_id)
        .order_by(UserPreference.fitted_at.desc(), ModelVersion.id.desc())
    )
    return [(pref, version) for pref, version in session.execute(stmt).all()]


@dataclass(frozen=True, slots=True)
class ListedUser:
    id: int
    external_id: str
    has_theta: bool  # a trained or fitted θu, for any model version (the prior stored for a user does not count)
    interactions: int


def list_users(*, session: Session, q: str | None = None, limit: int = 50,
               offset: int = 0) -> tuple[list[ListedUser], int]:  # fmt: skip
    """A page of users in id order, and how many match in all; ``q``: text in the external id (any case)."""
    conditions: list[ColumnElement[bool]] = []
    if q:
        conditions.append(User.external_id.ilike(contains_pattern(q), escape=LIKE_ESCAPE))
    total = session.scalar(select(func.count()).select_from(User).where(*conditions)) or 0
    has_theta = exists().where(UserPreference.user_id == User.id, UserPreference.is_prior.is_(False))
    interactions = select(func.count()).where(Interaction.user_id == User.id).scalar_subquery()
    stmt = (
        select(User.id, User.external_id, has_theta, interactions)
        .where(*conditions)
        .order_by(User.id)
        .limit(limit)
        .offset(offset)
    )
    return [ListedUser(*row) for row in session.execute(stmt)], total
