"""The sync watermark: a sync re-embeds what changed since the last one, no more, and misses nothing that a
transaction still open at the last sync committed afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from recengine.datasets.importers.myntra import import_myntra
from recengine.embedding.catalogue import load_prepared
from recengine.embedding.embedder import PixelEmbedder
from recengine.index import IndexStore
from recengine.indexing import service
from recengine.indexing.service import build_index, sync_index, watermark
from recengine.store.database import Database, make_engine
from recengine.store.models import Item
from tests.conftest import MYNTRA, require

N_ITEMS = 300


@pytest.fixture(scope="module")
def db(engine: Engine) -> Iterator[Database]:
    with Session(engine) as session, session.begin():
        import_myntra(require(MYNTRA), session=session, limit=N_ITEMS)
    yield Database(url=engine.url, engine=engine, sessions=sessionmaker(engine, expire_on_commit=False),
                   embedded=False)  # fmt: skip


def _stamp_everything_now(db: Database) -> None:
    """As a catalogue imported a moment ago looks."""
    with db.transaction() as session:
        session.execute(update(Item).values(updated_at=text("now()")))


def _first_items(db: Database, n: int) -> list[Item]:
    with db.sessions() as session:
        return list(session.scalars(select(Item).where(Item.is_active.is_(True)).order_by(Item.id).limit(n)).all())


def test_a_sync_soon_after_an_import_and_a_build_embeds_only_what_changed(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first sync after a fresh import re-embedded the whole catalogue (every item stamped within the 5
    minutes it looked back), and so did a second sync straight after it."""
    # The one-second margin would re-embed this test's changes once more: they are all made within a second.
    monkeypatch.setattr(service, "WATERMARK_MARGIN", timedelta(0))
    _stamp_everything_now(db)
    embedder = PixelEmbedder()
    built = build_index(db=db, root=tmp_path, embedder=embedder)
    gone, renamed = _first_items(db, 2)
    with db.transaction() as session:
        session.execute(update(Item).where(Item.id == gone.id).values(is_active=False))
        session.execute(update(Item).where(Item.id == renamed.id).values(name="renamed"))
    assert built.embedded == N_ITEMS
    first = sync_index(db=db, root=tmp_path, embedder=embedder)
    assert (first.removed, first.updated, first.embedded) == (1, 1, 1)
    second = sync_index(db=db, root=tmp_path, embedder=embedder)
    assert (second.added, second.removed, second.updated, second.embedded) == (0, 0, 0, 0)
    with db.transaction() as session:
        session.execute(update(Item).where(Item.id == gone.id).values(is_active=True))


def test_a_change_committed_after_a_sync_by_a_transaction_open_during_it_reaches_the_next_one(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``updated_at`` is its transaction's start: such a change is stamped before the sync it was hidden from."""
    monkeypatch.setattr(service, "WATERMARK_MARGIN", timedelta(0))  # the open transaction alone must hold it back
    _stamp_everything_now(db)
    embedder = PixelEmbedder()
    build_index(db=db, root=tmp_path, embedder=embedder)
    donor, changed = _first_items(db, 2)
    with db.engine.connect() as other:
        other.execute(update(Item).where(Item.id == changed.id).values(image_sha256=donor.image_sha256))
        during = sync_index(db=db, root=tmp_path, embedder=embedder)  # cannot see the uncommitted change
        other.commit()
    assert during.embedded == 0
    after = sync_index(db=db, root=tmp_path, embedder=embedder)
    assert (after.updated, after.embedded) == (1, 1)
    index = IndexStore(tmp_path / "catalogue").load_current()
    assert index is not None
    with db.sessions() as session:
        query = embedder.embed(load_prepared(session, [str(donor.image_sha256)], 64))
    assert set(index.search(query, 2).ids[0].tolist()) == {donor.id, changed.id}  # re-embedded with its new photo
    with db.transaction() as session:
        session.execute(update(Item).where(Item.id == changed.id).values(image_sha256=changed.image_sha256))


def test_the_watermark_is_the_oldest_open_transaction_less_a_margin() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    older = now - timedelta(minutes=30)
    assert watermark(now, None, 0) == now - service.WATERMARK_MARGIN
    assert watermark(now, older, 0) == older - service.WATERMARK_MARGIN
    assert watermark(now, now + timedelta(seconds=1), 0) == now - service.WATERMARK_MARGIN
    # Sessions this role may not look into could hold older transactions: the fixed overlap bounds them.
    assert watermark(now, None, 2) == now - service.WATERMARK_OVERLAP


def test_sessions_hidden_from_a_role_without_pg_read_all_stats_fall_back_to_the_overlap(db: Database) -> None:
    role = f"recengine_watch_{uuid.uuid4().hex[:8]}"
    with db.engine.connect() as admin:
        admin.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        admin.commit()
    watcher = make_engine(db.url.set(username=role, password=None))
    try:
        with db.engine.connect() as holder:  # another role's open transaction, as a catalogue import would be
            holder_start = holder.scalar(text("SELECT now()"))
            with Session(db.engine) as mine, Session(watcher) as theirs:
                seen = service._sync_mark(mine)
                hidden = service._sync_mark(theirs)
                clock = mine.scalar(select(text("clock_timestamp()")))
            holder.rollback()
        assert holder_start is not None and seen <= holder_start - service.WATERMARK_MARGIN
        assert clock - seen < service.WATERMARK_OVERLAP  # a superuser sees every session: no fallback
        assert clock - hidden >= service.WATERMARK_OVERLAP
    finally:
        watcher.dispose()
        with db.engine.connect() as admin:
            admin.execute(text(f'DROP ROLE "{role}"'))
            admin.commit()
