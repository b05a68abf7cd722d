"""Writes that race: two imports of one file, an API creation during an import, two keys of one name (real
connections to a real PostgreSQL)."""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path

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


def _count(engine: Engine, model: type[Item] | type[Image]) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_second_import_of_the_same_file_waits_and_finds_the_rows_unchanged(engine: Engine, catalogue: Path) -> None:
    """It used to run alongside, block on the first one's new keys and end in a UniqueViolation traceback."""
    items_before, images_before = _count(engine, Item), _count(engine, Image)
    outcome: dict[str, ImportReport | BaseException] = {}

    def second() -> None:
        try:
            with Session(engine) as session, session.begin():
                outcome["report"] = import_csv(catalogue, session=session, source="lock")
        except BaseException as exc:  # handed to the test thread, which re-raises it
            outcome["error"] = exc

    with Session(engine) as first:
        import_csv(catalogue, session=first, source="lock")  # written, not committed
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive()  # waiting for the first import
        first.commit()
    thread.join(timeout=60)
    assert not thread.is_alive()
    if "error" in outcome:
        raise AssertionError("the second import failed") from outcome["error"]  # type: ignore[arg-type]
    report = outcome["report"]
    assert isinstance(report, ImportReport)
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
    outcome: dict[str, BaseException] = {}

    def second() -> None:
        try:
            with Session(engine) as session, session.begin():
                create_key(session=session, name="race")
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc

    with Session(engine) as first:
        create_key(session=first, name="race")
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=1.0)  # the second insert waits for the first transaction
        first.commit()
    thread.join(timeout=30)
    assert isinstance(outcome.get("error"), ConflictError), outcome
    assert "a live key is already named 'race'" in str(outcome["error"])


def test_one_checkpoint_registered_twice_at_once_gives_one_row(engine: Engine) -> None:
    """Two registrations of one name (two training jobs of one dataset and variant, `models register` run twice):
    the later one looked before the first committed and failed with a UniqueViolation after its work."""
    path = require(CHECKPOINT)
    outcome: dict[str, int | BaseException] = {}

    def second() -> None:
        try:
            with Session(engine) as session, session.begin():
                outcome["id"] = register_checkpoint(session=session, path=path, name="race").id
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc

    with Session(engine) as first:
        version_id = register_checkpoint(session=first, path=path, name="race").id
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=1.0)  # waits for the first registration's transaction
        first.commit()
    thread.join(timeout=60)
    assert outcome == {"id": version_id}
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(ModelVersion).where(ModelVersion.name == "race")) == 1


def test_two_datasets_of_one_name_built_at_once_give_one_and_a_clear_refusal(engine: Engine) -> None:
    outcome: dict[str, BaseException] = {}

    def second() -> None:
        try:
            with Session(engine) as session, session.begin():
                claim_dataset(session, "race-ds", "simulated-users", 1, {}, replace=False)
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc

    with Session(engine) as first:
        claim_dataset(first, "race-ds", "simulated-users", 0, {}, replace=False)
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=1.0)  # the second build waits for the first one's transaction
        first.commit()
    thread.join(timeout=30)
    assert isinstance(outcome.get("error"), InvalidInputError), outcome
    assert "dataset 'race-ds' exists (built with seed 0)" in str(outcome["error"])
