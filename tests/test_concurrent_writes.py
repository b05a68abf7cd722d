"""Writes that race: two imports of one file, an API creation during an import, two keys of one name (real
connections to a real PostgreSQL)."""

from __future__ import annotations

import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from recengine.datasets.importers.csv_generic import import_csv
from recengine.datasets.importers.records import ImportReport
from recengine.datasets.outfits.build import claim_dataset
from recengine.errors import ConflictError, InvalidInputError
from recengine.store.api_keys import create_key
from recengine.store.catalogue_lock import lock_for_import
from recengine.store.items import create_item
from recengine.store.models import Image, Item, ModelVersion
from recengine.training.register import register_checkpoint
from tests.conftest import MYNTRA, require

T = TypeVar("T")
PHOTOS = ("1163", "1164", "1165", "1525")
CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "compatibility-default-full.pt"


@pytest.fixture
def catalogue(tmp_path: Path) -> Path:
    with zipfile.ZipFile(require(MYNTRA) / "images.zip") as zf:
        for name in PHOTOS:
            (tmp_path / f"{name}.jpg").write_bytes(zf.read(f"images/{name}.jpg"))
    path = tmp_path / "catalogue.csv"
    path.write_text("id,image,name\n" + "".join(f"lock-{n},{n}.jpg,item {n}\n" for n in PHOTOS))
    return path


def _second_while_first_is_open(engine: Engine, first: Callable[[Session], object],
                                 second: Callable[[Session], T]) -> T | BaseException:  # fmt: skip
    """Run ``first`` in a transaction, then ``second`` in another thread's while the first is still open: the
    second must wait, and gets to run once the first commits. Its value, or what it raised."""
    outcome: list[T | BaseException] = []

    def run() -> None:
        try:
            with Session(engine) as session, session.begin():
                outcome.append(second(session))
        except BaseException as exc:  # handed to the test's thread
            outcome.append(exc)

    with Session(engine) as session:
        first(session)
        thread = threading.Thread(target=run)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive() and not outcome, "the second writer did not wait for the first"
        session.commit()
    thread.join(timeout=60)
    assert not thread.is_alive() and len(outcome) == 1
    return outcome[0]


def _version_id(engine: Engine, name: str) -> int:
    with Session(engine) as session:
        return int(session.scalars(select(ModelVersion.id).where(ModelVersion.name == name)).one())


def _count(engine: Engine, model: type[Item] | type[Image]) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_second_import_of_the_same_file_waits_and_finds_the_rows_unchanged(engine: Engine, catalogue: Path) -> None:
    """It used to run alongside, block on the first one's new keys and end in a UniqueViolation traceback."""
    items_before, images_before = _count(engine, Item), _count(engine, Image)

    def load(session: Session) -> ImportReport:
        return import_csv(catalogue, session=session, source="lock")

    report = _second_while_first_is_open(engine, load, load)
    assert isinstance(report, ImportReport), report
    assert (report.items.added, report.items.updated, report.items.unchanged) == (0, 0, len(PHOTOS))
    assert _count(engine, Item) == items_before + len(PHOTOS) and _count(engine, Image) == images_before + len(PHOTOS)


def test_creating_an_item_during_an_import_is_refused_clearly_and_works_after(engine: Engine) -> None:
    with Session(engine) as importing:
        lock_for_import(importing)
        with Session(engine) as api, pytest.raises(ConflictError, match="a catalogue import is running"):
            create_item(session=api, external_id="lock-api", fields={"name": "during"})
        importing.rollback()  # the import ends: its lock goes with its transaction
    with Session(engine) as api, api.begin():
        assert create_item(session=api, external_id="lock-api", fields={"name": "after"}).name == "after"
    with Session(engine) as a, Session(engine) as b:  # single-item creations share the lock
        create_item(session=a, external_id="lock-api-a", fields={})
        create_item(session=b, external_id="lock-api-b", fields={})
        a.commit()
        b.commit()


def test_two_keys_of_one_name_created_at_once_give_one_key_and_one_conflict(engine: Engine) -> None:
    """The second creation checked before the first committed, then failed with a UniqueViolation traceback."""
    error = _second_while_first_is_open(engine, lambda session: create_key(session=session, name="race"),
                                        lambda session: create_key(session=session, name="race"))  # fmt: skip
    assert isinstance(error, ConflictError) and "a live key is already named 'race'" in str(error), error


def test_one_checkpoint_registered_twice_at_once_gives_one_row(engine: Engine) -> None:
    """Two registrations of one name (two training jobs of one dataset and variant, `models register` run twice):
    the later one looked before the first committed and failed with a UniqueViolation after its work."""
    path = require(CHECKPOINT)
    second = _second_while_first_is_open(
        engine,
        lambda session: register_checkpoint(session=session, path=path, name="race"),
        lambda session: register_checkpoint(session=session, path=path, name="race").id,
    )
    assert second == _version_id(engine, "race")  # the same row, found once the first registration committed
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(ModelVersion).where(ModelVersion.name == "race")) == 1


def test_two_datasets_of_one_name_built_at_once_give_one_and_a_clear_refusal(engine: Engine) -> None:
    error = _second_while_first_is_open(
        engine, lambda session: claim_dataset(session, "race-ds", "simulated-users", 0, {}, replace=False),
        lambda session: claim_dataset(session, "race-ds", "simulated-users", 1, {}, replace=False))  # fmt: skip
    assert isinstance(error, InvalidInputError) and "dataset 'race-ds' exists (built with seed 0)" in str(error), error
