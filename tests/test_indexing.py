"""Keeping the FAISS index in step with the catalogue in PostgreSQL: build, change flow, crash safety."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from recengine.datasets.importers.myntra import import_myntra
from recengine.embedding.catalogue import load_prepared, served_items
from recengine.embedding.embedder import PixelEmbedder
from recengine.errors import InvalidInputError, NotFoundError
from recengine.index import IndexIntegrityError, IndexStore
from recengine.indexing.service import build_index, check_consistency, sync_index
from recengine.indexing.serving import ServingIndex
from recengine.store.database import Database
from recengine.store.models import IndexVersion, Item
from tests.conftest import MYNTRA, require


@pytest.fixture(scope="module")
def db(engine: Engine) -> Iterator[Database]:
    with Session(engine) as session, session.begin():
        import_myntra(require(MYNTRA), session=session, limit=800)
    yield Database(url=engine.url, engine=engine, sessions=sessionmaker(engine, expire_on_commit=False),
                   embedded=False)  # fmt: skip


def _served(db: Database) -> set[int]:
    with db.sessions() as session:
        return set(served_items(session=session).ids.tolist())


def _check(db: Database, root: Path) -> tuple[list[int], list[int], list[int]]:
    index = IndexStore(root / "catalogue").load_current()
    assert index is not None
    with db.sessions() as session:
        report = check_consistency(session=session, index=index)
    return report.missing, report.extra, report.miscategorised


def test_build_then_catalogue_changes_reach_the_index_through_sync(db: Database, tmp_path: Path) -> None:
    embedder = PixelEmbedder()
    first = build_index(db=db, root=tmp_path, embedder=embedder)
    assert (first.item_count, first.full_rebuild) == (800, True) and _check(db, tmp_path) == ([], [], [])
    with db.sessions() as session:
        row = session.get(IndexVersion, first.index_version_id)
        assert row is not None and (row.status, row.item_count, row.embedder) == ("ready", 800, embedder.version)
        items = session.scalars(select(Item).order_by(Item.id).limit(3)).all()
        gone, changed, template = items[0], items[1], items[2]
        gone_image = gone.image_sha256
    with db.transaction() as session:  # deactivate one item, give another its photo, add a brand-new one
        session.execute(update(Item).where(Item.id == gone.id).values(is_active=False))
        session.execute(update(Item).where(Item.id == changed.id).values(image_sha256=gone_image))
        fresh = Item(external_id="new-1", source="test", name="new", article_type=template.article_type,
                     master_category=template.master_category, sub_category=template.sub_category,
                     image_sha256=template.image_sha256)  # fmt: skip
        session.add(fresh)
        session.flush()
        fresh_id = fresh.id
    missing, extra, _ = _check(db, tmp_path)
    assert (missing, extra) == ([fresh_id], [gone.id])  # the check sees what the index lacks before any job
    report = sync_index(db=db, root=tmp_path, embedder=embedder)
    assert (report.added, report.removed, report.full_rebuild) == (1, 1, False) and report.updated >= 1
    assert _check(db, tmp_path) == ([], [], []) and report.item_count == 800
    index = IndexStore(tmp_path / "catalogue").load_current()
    assert index is not None and gone.id not in index and fresh_id in index
    with db.sessions() as session:
        query = embedder.embed(load_prepared(session, [str(gone_image)], 64))
        assert session.scalar(select(IndexVersion.status).where(IndexVersion.id == first.index_version_id)) == "retired"
    found = index.search(query, 1)
    assert int(found.ids[0, 0]) == changed.id  # re-embedded with its new photo (the old owner is gone)


def test_sync_twice_changes_nothing_and_keeps_ids_unique(db: Database, tmp_path: Path) -> None:
    embedder = PixelEmbedder()
    build_index(db=db, root=tmp_path, embedder=embedder)
    before = IndexStore(tmp_path / "catalogue").load_current()
    again = sync_index(db=db, root=tmp_path, embedder=embedder)
    after = IndexStore(tmp_path / "catalogue").load_current()
    assert before is not None and after is not None and (again.added, again.removed) == (0, 0)
    assert sorted(after.ids().tolist()) == sorted(before.ids().tolist()) == sorted(_served(db))
    assert len(set(after.ids().tolist())) == len(after)


@pytest.mark.parametrize("name", ["", "../outside", "a/b", ".hidden", "x" * 65])
def test_an_index_name_that_is_not_one_folder_is_refused_before_any_work(db: Database, tmp_path: Path,
                                                                          name: str) -> None:  # fmt: skip
    root = tmp_path / "indexes"
    for job in (build_index, sync_index):
        with pytest.raises(InvalidInputError, match=f"index name {name!r} must be 1 to 64"):
            job(db=db, root=root, embedder=PixelEmbedder(), name=name)
    assert not tmp_path.joinpath("outside").exists() and not root.exists()  # "" wrote versions into root itself
    with db.sessions() as session:
        assert session.scalar(select(IndexVersion).where(IndexVersion.name == name)) is None


def test_crash_while_saving_leaves_the_last_good_version(db: Database, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    embedder = PixelEmbedder()
    built = build_index(db=db, root=tmp_path, embedder=embedder)
    store = IndexStore(tmp_path / "catalogue")
    with db.transaction() as session:
        victim = session.scalars(select(Item.id).where(Item.is_active.is_(True)).limit(1)).one()
        session.execute(update(Item).where(Item.id == victim).values(is_active=False))

    def crash(self: IndexStore, index: object) -> tuple[str, Path]:
        raise OSError("disk full")

    monkeypatch.setattr(IndexStore, "save_version", crash)
    with pytest.raises(OSError, match="disk full"):
        sync_index(db=db, root=tmp_path, embedder=embedder)
    monkeypatch.undo()
    assert store.current_version() == built.version_name
    current = store.load_current()
    assert current is not None and victim in current  # the last good version, unchanged and loadable
    with db.sessions() as session:
        ready = session.scalars(select(IndexVersion.version_name).where(IndexVersion.status == "ready")).all()
        assert built.version_name in ready
    retried = sync_index(db=db, root=tmp_path, embedder=embedder)  # the retry does the same work
    assert retried.removed == 1 and _check(db, tmp_path) == ([], [], [])
    with db.transaction() as session:
        session.execute(update(Item).where(Item.id == victim).values(is_active=True))


def test_another_embedder_means_a_full_rebuild(db: Database, tmp_path: Path) -> None:
    build_index(db=db, root=tmp_path, embedder=PixelEmbedder(side=8))
    other = sync_index(db=db, root=tmp_path, embedder=PixelEmbedder(side=4))
    index = IndexStore(tmp_path / "catalogue").load_current()
    assert other.full_rebuild and index is not None and index.manifest.embedder_version == "pixels:4x4@64"
    assert np.isclose(index.manifest.dim, 48)


def test_serving_index_picks_up_new_versions_without_a_restart(db: Database, tmp_path: Path) -> None:
    serving = ServingIndex(tmp_path / "catalogue", refresh_s=0.0)
    everything = np.ones((1, 192), np.float32) / np.sqrt(192)
    with pytest.raises(NotFoundError, match="recengine index build"):
        serving.search(everything, 3)
    embedder = PixelEmbedder()
    build_index(db=db, root=tmp_path, embedder=embedder)
    served = sorted(_served(db))
    assert served[0] in serving.search(everything, 800).ids
    first_version = serving.version
    with db.transaction() as session:
        session.execute(update(Item).where(Item.id == served[0]).values(is_active=False))
    sync_index(db=db, root=tmp_path, embedder=embedder)
    after = serving.search(everything, 800)
    assert serving.version != first_version and served[0] not in after.ids
    with db.transaction() as session:
        session.execute(update(Item).where(Item.id == served[0]).values(is_active=True))


def test_a_published_version_that_fails_to_load_leaves_the_served_one_in_place(db: Database, tmp_path: Path) -> None:
    """A damaged version (a bad disk, a folder deleted by hand) made every search fail although the version in
    memory was whole."""
    serving = ServingIndex(tmp_path / "catalogue", refresh_s=0.0)
    everything = np.ones((1, 192), np.float32) / np.sqrt(192)
    embedder = PixelEmbedder()
    build_index(db=db, root=tmp_path, embedder=embedder)
    before = serving.search(everything, 5)
    first = serving.version
    damaged = build_index(db=db, root=tmp_path, embedder=embedder)
    data = tmp_path / "catalogue" / damaged.version_name / "index.faiss"
    data.write_bytes(data.read_bytes()[:-8])
    after = serving.search(everything, 5)  # served from the version in memory
    assert serving.version == first and np.array_equal(after.ids, before.ids)
    assert serving.problem is not None and f"version {damaged.version_name} cannot be loaded" in serving.problem
    repaired = sync_index(db=db, root=tmp_path, embedder=embedder)  # rebuilds: the current version is unreadable
    serving.search(everything, 5)
    assert repaired.full_rebuild and repaired.item_count == len(_served(db))
    assert serving.version == repaired.version_name and serving.problem is None
    fresh = ServingIndex(tmp_path / "catalogue", refresh_s=0.0)  # a process with nothing loaded still says why
    (tmp_path / "catalogue" / "CURRENT").write_text(f"{damaged.version_name}\n")
    with pytest.raises(IndexIntegrityError, match="does not match its sha256"):
        fresh.search(everything, 5)
