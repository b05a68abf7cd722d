"""Designs a recommendation returned, as PNG rows keyed by a random id, kept for a bounded time.

Why a table and not files under the data dir: the API may run as several processes or hosts behind one load
balancer, and a design made by one must be fetchable from any other; the database is the state they already
share. The rows are small (a 64x64 PNG is a few KB) and short-lived: each save also deletes a bounded batch of
expired rows, so the table stays at about (requests per second x designs x retention) rows with no cron job.
"""

from __future__ import annotations

import io
import secrets
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray
from PIL import Image as PILImage
from sqlalchemy import select
from sqlalchemy.orm import Session

from recengine.errors import NotFoundError
from recengine.store.bulk import delete_oldest
from recengine.store.models import Design

#: Expired rows deleted per save at most: pruning never makes one request slow after a long idle spell.
PRUNE_BATCH = 500
#: A serving process prunes at most this often (a DELETE per request was a third of the API's overhead).
PRUNE_EVERY_S = 10.0


class PruneGate:
    """Says when a process's next save should prune: at most once every ``every_s`` seconds (thread-safe)."""

    def __init__(self, every_s: float = PRUNE_EVERY_S) -> None:
        self.every_s = every_s
        self._next = 0.0
        self._lock = threading.Lock()

    def due(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now < self._next:
                return False
            self._next = now + self.every_s
            return True


def encode_png(pixels: NDArray[np.uint8]) -> bytes:
    """PNG bytes of one (H, W, 3) uint8 image."""
    out = io.BytesIO()
    # Level 1: designs are small and short-lived; zlib's default level costs more time than it saves bytes.
    PILImage.fromarray(np.ascontiguousarray(pixels), mode="RGB").save(out, format="PNG", compress_level=1)
    return out.getvalue()


def save_designs(*, session: Session, designs: Sequence[NDArray[np.uint8]] | NDArray[np.uint8],
                 retention: timedelta, prune: bool = True) -> list[str]:  # fmt: skip
    """Store (n, H, W, 3) uint8 designs as PNGs under fresh random ids (returned in order), and (``prune``)
    delete rows older than ``retention``."""
    ids = [secrets.token_hex(16) for _ in range(len(designs))]
    session.add_all(Design(id=i, png=encode_png(d)) for i, d in zip(ids, designs, strict=True))
    if prune:
        prune_designs(session=session, older_than=datetime.now(UTC) - retention)
    session.flush()
    return ids


def prune_designs(*, session: Session, older_than: datetime, limit: int = PRUNE_BATCH) -> int:
    """Delete up to ``limit`` designs created before ``older_than``, oldest first; returns how many went."""
    return delete_oldest(session, Design.id, Design.created_at < older_than, oldest=Design.created_at, limit=limit)


def load_design(*, session: Session, design_id: str, retention: timedelta) -> bytes:
    """The PNG of a design that has not expired yet."""
    row = session.execute(select(Design.png, Design.created_at).where(Design.id == design_id)).one_or_none()
    if row is None or row.created_at < datetime.now(UTC) - retention:
        raise NotFoundError(f"no design {design_id!r} (designs are kept for {retention.total_seconds():.0f} s)")
    return bytes(row.png)
