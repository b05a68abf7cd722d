"""Keep the FAISS catalogue index in step with the catalogue in PostgreSQL.

Two operations, both run by Celery jobs (``workers/tasks.py``) or the CLI, both idempotent and safe to kill:

* :func:`build_index` embeds every served item and writes a new index version;
* :func:`sync_index` compares the current version with the catalogue and applies the difference: items that
  became served are added, items no longer served (deactivated, deleted, image removed) are removed, and items
  changed since the version's watermark (``items.updated_at``) are re-embedded and updated.

Neither changes a saved version in place: the work happens on a copy in memory and is saved as a new version
directory whose activation is one atomic rename (:class:`recengine.index.IndexStore`), so a crash at any point
leaves the last good version serving, and running the job again finds the same difference and does the same
work (nothing lost, nothing duplicated: ids are the items' own). One job per index at a time (a PostgreSQL
advisory lock), so two workers never fork the version history. The ``index_versions`` row is recorded after
the files: a crash in between leaves a version on disk ahead of its row, which the next sync simply redoes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from recengine.embedding.catalogue import embed_served, served_items
from recengine.embedding.embedder import ImageEmbedder, embedder_kind
from recengine.index import CatalogueIndex, IndexIntegrityError, IndexStore, index_path
from recengine.inpainting.repair import StoredRepairs
from recengine.store.database import Database
from recengine.store.locks import advisory_key
from recengine.store.models import IndexVersion, Item

_log = logging.getLogger(__name__)
Progress = Callable[[int, int | None], None]
DEFAULT_NAME = "catalogue"
#: How far back the next sync looks when some sessions' transactions cannot be seen (a role without
#: ``pg_read_all_stats`` sees other roles' sessions without their ``xact_start``). Re-embedding is harmless.
WATERMARK_OVERLAP = timedelta(minutes=5)
#: Margin for a transaction that took its start time but was not yet listed in ``pg_stat_activity`` when the
#: watermark was read (microseconds in PostgreSQL's code; a second costs a few re-embedded items at most).
WATERMARK_MARGIN = timedelta(seconds=1)


@dataclass(frozen=True)
class IndexReport:
    index_version_id: int
    version_name: str
    item_count: int
    added: int
    removed: int
    updated: int
    embedded: int
    seconds: float
    full_rebuild: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Consistency:
    """Ids served by the catalogue but absent from the index, and indexed ids the catalogue no longer serves."""

    missing: list[int]
    extra: list[int]
    miscategorised: list[int]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.miscategorised)


@contextmanager
def index_lock(db: Database, name: str) -> Iterator[None]:
    """Serialise the jobs of one index across processes and machines (released if the holder dies)."""
    key = advisory_key(f"recengine-index:{name}")
    with db.engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        conn.commit()  # the lock is the session's; an open transaction here would hold back the sync's watermark
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            conn.commit()


#: The database's clock, the start of the oldest transaction of another client session of this database, and
#: how many sessions of this database this role may not look into (PostgreSQL shows them with every column but
#: pid, database and user empty).
_ACTIVITY = text("""
    SELECT clock_timestamp() AS now,
           min(xact_start) FILTER (WHERE pid <> pg_backend_pid() AND backend_type = 'client backend') AS oldest,
           count(*) FILTER (WHERE backend_type IS NULL) AS hidden
    FROM pg_stat_activity WHERE datname = current_database()
""")


def watermark(now: datetime, oldest: datetime | None, hidden: int) -> datetime:
    """Where the next sync starts looking for changed items.

    ``items.updated_at`` is ``now()``, its transaction's start, so a transaction still open when a sync reads
    the catalogue commits rows stamped before the sync began. Such rows are at or after the start of the oldest
    transaction open at that moment, which is therefore the watermark, less a small margin. Transactions this
    role cannot see are bounded by :data:`WATERMARK_OVERLAP` instead.
    """
    mark = now if oldest is None else min(now, oldest)
    return mark - (WATERMARK_OVERLAP if hidden else WATERMARK_MARGIN)


def _sync_mark(session: Session) -> datetime:
    """:func:`watermark` as of now; the first statement of the session's transaction, because PostgreSQL
    keeps one picture of ``pg_stat_activity`` per transaction."""
    row = session.execute(_ACTIVITY).one()
    if row.now is None:
        raise RuntimeError("the database returned no clock_timestamp()")
    return watermark(row.now, row.oldest, int(row.hidden))


def sync_job_params(*, session: Session, name: str = DEFAULT_NAME) -> dict[str, Any] | None:
    """Parameters of an ``index_sync`` job that keeps index ``name`` in step with the embedder that built it,
    or None when no version is ready (the first index is a deliberate ``recengine index build``)."""
    row = session.scalar(select(IndexVersion).where(IndexVersion.name == name, IndexVersion.status == "ready")
                         .order_by(IndexVersion.id.desc()).limit(1))  # fmt: skip
    if row is None:
        return None
    return {"name": name, "embedder": embedder_kind(row.embedder or ""), "model_version_id": row.embedder_version_id,
            "embedder_version": row.embedder}  # fmt: skip


def build_index(*, db: Database, root: Path, embedder: ImageEmbedder, name: str = DEFAULT_NAME,
                factory: str | None = None, progress: Progress | None = None) -> IndexReport:  # fmt: skip
    """Embed every served item (masked photos repaired first: :mod:`recengine.inpainting.repair`) and save a new
    index version of ``name`` under ``root``."""
    index_path(root, name)  # a bad name fails before the catalogue is embedded, not when the version is saved
    with index_lock(db, name):
        return _build(db, root, embedder, name, factory, progress)


def _build(db: Database, root: Path, embedder: ImageEmbedder, name: str, factory: str | None,
           progress: Progress | None) -> IndexReport:  # fmt: skip
    """:func:`build_index`'s work; the caller holds the index's lock."""
    start = time.perf_counter()
    with db.sessions() as session:
        started = _sync_mark(session)
        items = served_items(session=session)
        vectors = embed_served(session=session, items=items, embedder=embedder, progress=progress,
                               repair=StoredRepairs.load(session))  # fmt: skip
    index = CatalogueIndex.build(items.ids, vectors, items.categories, factory=factory,
                                 embedder_version=embedder.version)  # fmt: skip
    return _publish(db, root, name, index, embedder, started, start, full_rebuild=True,
                    counts=(len(items), 0, 0, len(items)))  # fmt: skip


def sync_index(*, db: Database, root: Path, embedder: ImageEmbedder, name: str = DEFAULT_NAME,
               progress: Progress | None = None) -> IndexReport:  # fmt: skip
    """Apply the catalogue's changes since the current version; a full build when there is none yet, when it
    was made by another embedder (vectors of two embedders are never mixed in one index), or when it fails its
    integrity checks. A mask kept or removed since counts as a change of its item."""
    store = IndexStore(index_path(root, name))
    with index_lock(db, name):  # the current version is read under the lock: no job publishes meanwhile
        try:
            index = store.load_current()
        except IndexIntegrityError as exc:  # derived data: rebuilt from the catalogue rather than failing every sync
            _log.warning("index %s: the current version cannot be loaded (%s); building a new one", name, exc)
            index = None
        if index is None or index.manifest.embedder_version != embedder.version:
            return _build(db, root, embedder, name, None, progress)
        start = time.perf_counter()
        with db.sessions() as session:
            started = _sync_mark(session)
            # The row of this very version: its files' sha256 tells it from a same-named version of another
            # data dir sharing the database, or of this one before its indexes were deleted.
            since = session.scalar(
                select(IndexVersion.synced_through)
                .where(IndexVersion.name == name, IndexVersion.sha256 == index.manifest.sha256)
                .order_by(IndexVersion.id.desc())
                .limit(1)
            )
            served = served_items(session=session)
            indexed = set(index.ids().tolist())
            position = {int(i): n for n, i in enumerate(served.ids)}
            to_add = [i for i in position if i not in indexed]
            to_remove = sorted(indexed - position.keys())
            changed = _changed_since(session, since, position, indexed)
            fresh = served.subset([position[i] for i in sorted({*to_add, *changed})])
            vectors = embed_served(session=session, items=fresh, embedder=embedder, progress=progress,
                                   repair=StoredRepairs.load(session))  # fmt: skip
        removed = index.remove(np.array(to_remove, dtype=np.int64)) if to_remove else 0
        if len(fresh):
            index.update(fresh.ids, vectors, fresh.categories)  # adds the new, replaces the changed
        updated = len(fresh) - len(to_add)
        return _publish(db, root, name, index, embedder, started, start, full_rebuild=False,
                        counts=(len(to_add), removed, updated, len(fresh)))  # fmt: skip


def _changed_since(session: Session, since: datetime | None, position: dict[int, int],
                   indexed: set[int]) -> list[int]:  # fmt: skip
    if since is None:  # a version without its row (crash before recording): re-embed everything indexed
        return [i for i in position if i in indexed]
    ids = session.scalars(select(Item.id).where(Item.updated_at >= since)).all()
    return [int(i) for i in ids if int(i) in position and int(i) in indexed]


def _publish(db: Database, root: Path, name: str, index: CatalogueIndex, embedder: ImageEmbedder,
             started: datetime, start: float, *, full_rebuild: bool,
             counts: tuple[int, int, int, int]) -> IndexReport:  # fmt: skip
    store = IndexStore(index_path(root, name))
    version_name, path = store.save_version(index)
    with db.transaction() as session:
        session.execute(update(IndexVersion).where(IndexVersion.name == name, IndexVersion.status == "ready")
                        .values(status="retired"))  # fmt: skip
        row = IndexVersion(
            name=name, embedder_version_id=embedder.model_version_id, embedder=embedder.version,
            version_name=version_name, synced_through=started, factory=index.manifest.factory,
            metric=index.manifest.metric, dim=index.manifest.dim, item_count=len(index), path=str(path),
            sha256=index.manifest.sha256, status="ready",
        )  # fmt: skip
        session.add(row)
        session.flush()
        row_id = row.id
    store.prune(keep=3)
    added, removed, updated, embedded = counts
    report = IndexReport(row_id, version_name, len(index), added, removed, updated, embedded,
                         time.perf_counter() - start, full_rebuild)  # fmt: skip
    _log.info("index %s version %s: %s", name, version_name, report)
    return report


def check_consistency(*, session: Session, index: CatalogueIndex) -> Consistency:
    """What the index lacks or holds beyond the catalogue's served items (and category disagreements)."""
    served = served_items(session=session)
    indexed = index.ids()
    categories = dict(zip(served.ids.tolist(), served.categories, strict=True))
    present = set(indexed.tolist())
    missing = sorted(set(categories) - present)
    extra = sorted(present - set(categories))
    held = dict(zip(indexed.tolist(), index.categories_of(indexed), strict=True))
    wrong = sorted(i for i in present & set(categories) if held[i] != categories[i])
    return Consistency(missing=missing, extra=extra, miscategorised=wrong)
