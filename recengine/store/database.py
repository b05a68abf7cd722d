"""Engines and sessions, made by functions at the edges (never at import) from :class:`Settings`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from recengine.config import Settings
from recengine.errors import ConfigurationError, DatabaseError
from recengine.store.embedded import embedded_url, start_embedded, stop_embedded


def normalise_url(url: str | URL) -> URL:
    """Accept ``postgresql://`` and ``postgres://`` and pin the psycopg 3 driver."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:  # the value is not repeated: it may hold a password
        raise DatabaseError("the database URL (RECENGINE_DATABASE_URL) is not a URL: expected "
                            "postgresql://user[:password]@host[:port]/database") from None  # fmt: skip
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if not parsed.drivername.startswith("postgresql"):
        raise DatabaseError(f"recengine needs PostgreSQL, got a {parsed.drivername!r} URL")
    return parsed


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    return create_engine(normalise_url(url), pool_pre_ping=True, **kwargs)


def ensure_database(url: URL) -> None:
    """Create the database named in ``url`` when the server lacks it (embedded first run, fresh test DBs)."""
    admin = make_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database})
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    except OperationalError as exc:
        raise DatabaseError(f"cannot reach PostgreSQL at {url.render_as_string()}: {exc.orig}") from exc
    finally:
        admin.dispose()


@dataclass
class Database:
    """A reachable PostgreSQL with recengine's database: an engine and a session factory."""

    url: URL
    engine: Engine
    sessions: sessionmaker[Session]
    embedded: bool
    _server: Any = field(default=None, repr=False)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        with self.sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()
        if self._server is not None:
            stop_embedded(self._server)
            self._server = None


def _check_data_dir(data_dir: Path) -> None:
    """The data dir exists (created if need be) and this process may write in it; else a ConfigurationError
    naming the setting, where the embedded server's start would fail with an OS traceback or a log to look up."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise ConfigurationError(f"cannot use {data_dir} as the data dir (RECENGINE_DATA_DIR): it is a file, not a "
                                 "folder") from exc  # fmt: skip
    except OSError as exc:
        raise ConfigurationError(f"cannot use {data_dir} as the data dir (RECENGINE_DATA_DIR): "
                                 f"{exc.strerror or exc}") from exc  # fmt: skip
    if not os.access(data_dir, os.W_OK | os.X_OK):
        raise ConfigurationError(f"cannot use {data_dir} as the data dir (RECENGINE_DATA_DIR): not writable by "
                                 "this user")  # fmt: skip


def open_database(settings: Settings) -> Database:
    """Connect to the configured server, or start the embedded one when no URL is configured."""
    server = None
    if settings.database_url:
        url = normalise_url(settings.database_url)
    else:
        _check_data_dir(settings.data_dir)
        server = start_embedded(settings.pgdata_dir)
        url = embedded_url(server, settings.database_name)
    try:
        ensure_database(url)
        engine = make_engine(url)
    except BaseException:
        if server is not None:
            stop_embedded(server)
        raise
    return Database(
        url=url,
        engine=engine,
        sessions=sessionmaker(engine, expire_on_commit=False),
        embedded=server is not None,
        _server=server,
    )


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[Database]:
    db = open_database(settings)
    try:
        yield db
    finally:
        db.close()
