"""API keys: created with a random secret that is returned once, stored only as its sha256.

Why a plain sha256 and not a slow password hash: the keys are 256-bit random tokens, not human passwords, so
there is nothing to brute-force, and every request checks one; a slow hash would only add latency. The hash
is a unique column, so a request's key is found with one index lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from recengine.errors import ConflictError, InvalidInputError, NotFoundError
from recengine.store.models import API_ROLES, ApiKey

#: Prefix of every key: lets secret scanners (and people) recognise a leaked recengine key.
KEY_PREFIX = "rk_"


def hash_key(key: str) -> str:
    """The hex sha256 a key is stored and looked up by."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(*, session: Session, name: str, role: str = "writer") -> tuple[ApiKey, str]:
    """Add a live key named ``name``; returns the row and the key itself (shown once, never stored).

    Raises:
        InvalidInputError: An empty name or an unknown role.
        ConflictError: A live key already has this name (revoke it first).
    """
    if not name or len(name) > 64:
        raise InvalidInputError("a key needs a name of 1 to 64 characters")
    if role not in API_ROLES:
        raise InvalidInputError(f"unknown role {role!r}; choose one of {', '.join(API_ROLES)}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    # The insert detects a live namesake itself: two creations of one name at once (two terminals, a deploy
    # script run twice) give one key and one ConflictError, where a check before the insert let both through
    # to a UniqueViolation.
    stmt = (insert(ApiKey).values(name=name, key_sha256=hash_key(key), role=role)
            .on_conflict_do_nothing(index_elements=["name"], index_where=ApiKey.revoked_at.is_(None))
            .returning(ApiKey.id))  # fmt: skip
    new_id = session.scalar(stmt)
    if new_id is None:
        raise ConflictError(f"a live key is already named {name!r}: revoke it first")
    row = session.get(ApiKey, new_id)
    assert row is not None
    return row, key


def revoke_key(*, session: Session, name: str) -> ApiKey:
    """Revoke the live key named ``name``; requests with it are refused from the next one on."""
    row = session.scalar(select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None)).with_for_update())
    if row is None:
        raise NotFoundError(f"no live key named {name!r}")
    row.revoked_at = datetime.now(UTC)
    session.flush()
    return row


def list_keys(*, session: Session) -> list[ApiKey]:
    """Every key, live and revoked, oldest first."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


def find_key(*, session: Session, key: str) -> ApiKey | None:
    """The row of ``key`` (live or revoked), or None for a key that was never issued."""
    return session.scalar(select(ApiKey).where(ApiKey.key_sha256 == hash_key(key)))
