"""Settings recengine gives the embedded PostgreSQL (the default on a user's machine)."""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import URL, Engine, text

from recengine.store.database import make_engine
from recengine.store.embedded import MAX_WAL_SIZE


def _max_wal_size(eng: Engine) -> str | None:
    with eng.connect() as conn:
        return conn.execute(text("SHOW max_wal_size")).scalar()


def test_the_embedded_server_keeps_its_wal_small(server_url: URL) -> None:
    if os.environ.get("RECENGINE_TEST_DATABASE_URL"):
        pytest.skip("the machine's own server keeps its own settings")
    want = f"{MAX_WAL_SIZE // 2**20}MB"
    eng = make_engine(server_url)
    try:
        deadline = time.monotonic() + 10  # the reload that applies it is asynchronous: new connections see it
        while (size := _max_wal_size(eng)) != want and time.monotonic() < deadline:
            time.sleep(0.2)
        assert size == want == "256MB"
    finally:
        eng.dispose()
