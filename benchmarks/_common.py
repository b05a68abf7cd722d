"""Shared by the benchmark scripts: a throw-away migrated database on the embedded server or a given one."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, text

from recengine.store.database import make_engine, normalise_url
from recengine.store.embedded import embedded_url, start_embedded, stop_embedded
from recengine.store.migrate import upgrade


@contextlib.contextmanager
def scratch_database() -> Iterator[Engine]:
    """A fresh database migrated to head, dropped afterwards (and its embedded server stopped)."""
    server = None
    if os.environ.get("RECENGINE_DATABASE_URL"):
        url = normalise_url(os.environ["RECENGINE_DATABASE_URL"])
    else:
        server = start_embedded(Path(tempfile.mkdtemp(prefix="recengine-bench-")) / "pgdata")
        url = embedded_url(server, "postgres")
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(url.set(database=name))
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        if server is not None:
            stop_embedded(server)


def describe_database() -> str:
    return os.environ.get("RECENGINE_DATABASE_URL") or "embedded"
