"""Shared fixtures: a real PostgreSQL (embedded by default; RECENGINE_TEST_DATABASE_URL for another server),
a fresh migrated database per test module, and a per-test session rolled back afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from recengine.devices import torch_threads
from recengine.store.database import make_engine, normalise_url
from recengine.store.embedded import embedded_url, start_embedded, stop_embedded
from recengine.store.migrate import upgrade

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MYNTRA = SHARED_DATA / "myntra"
POLYVORE = SHARED_DATA / "polyvore-outfits-valid"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[URL]:
    """URL of the ``postgres`` database on the server under test."""
    configured = os.environ.get("RECENGINE_TEST_DATABASE_URL")
    if configured:
        yield normalise_url(configured)
        return
    server = start_embedded(tmp_path_factory.mktemp("embedded") / "pgdata")
    try:
        yield embedded_url(server, "postgres")
    finally:
        stop_embedded(server)


@pytest.fixture(scope="session")
def create_database(server_url: URL) -> Iterator[object]:
    """Factory: a new, empty database on the server; all are dropped at the end of the session."""
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make() -> URL:
        name = f"recengine_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return server_url.set(database=name)

    yield make
    with admin.connect() as conn:
        for name in made:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def engine(create_database: object) -> Iterator[Engine]:
    """A database migrated to head, shared by the tests of one module."""
    eng = make_engine(create_database())  # type: ignore[operator]
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test, even where the code under test commits."""
    with engine.connect() as conn:
        outer = conn.begin()
        with Session(bind=conn, join_transaction_mode="create_savepoint") as sess:
            yield sess
        outer.rollback()


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not on this machine")
    return path


_DB_FIXTURES = {"server_url", "create_database", "engine", "session"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that touches PostgreSQL, so CI can re-run exactly those on another server."""
    for item in items:
        if _DB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Tiny tensors: thread wake-ups would dominate (100x slower on two threads beside a busy process)."""
    with torch_threads(1):
        yield
