"""PostgreSQL advisory locks under readable labels (``recengine-index:catalogue``), one key per label."""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.orm import Session


def advisory_key(label: str) -> int:
    """The signed 64-bit key of ``label``: the first 8 bytes of its sha256."""
    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "big", signed=True)


def xact_lock(session: Session, label: str) -> None:
    """Hold ``label`` exclusively until the session's transaction ends, waiting for its holder first."""
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(label)})
