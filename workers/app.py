"""The Celery app factory: broker and result backend default to recengine's own PostgreSQL.

With nothing configured, jobs travel through the database recengine already uses (the embedded server by
default), so a worker needs no other server; ``RECENGINE_BROKER_URL`` (``redis://127.0.0.1:6379/0``,
``amqp://guest:guest@127.0.0.1:5672//``) and ``RECENGINE_RESULT_BACKEND`` replace either.

The app is configured lazily: building it (and importing this module) connects nowhere and starts no server;
the configuration, and with it the embedded server's URL, is worked out when Celery first reads it.
"""

from __future__ import annotations

import json
import logging
import threading
import warnings
from pathlib import Path
from queue import Empty
from typing import TYPE_CHECKING, Any

from celery import Celery
from kombu.transport import sqlalchemy as kombu_sqla
from kombu.transport.sqlalchemy.models import metadata as kombu_metadata
from pydantic import Field
from sqlalchemy import Connection, Engine, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import configure_mappers, sessionmaker

from recengine.config import Settings
from recengine.store.database import Database, ensure_database, make_engine, normalise_url, open_database
from recengine.store.embedded import embedded_url, start_embedded

if TYPE_CHECKING:  # imported when first used: submitters build this app without loading torch or the API
    from recengine.api.settings import ApiSettings
    from recengine.recommend.service import Recommender

_log = logging.getLogger(__name__)

#: URL prefixes of kombu's SQL transport; a PostgreSQL URL behind one is served by :class:`PostgresTransport`.
_SQLA_PREFIXES = ("sqla+", "sqlalchemy+")
_REDIS_SCHEMES = ("redis", "rediss", "sentinel")
_AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")
#: Redis hands an unacknowledged message to another worker after this long; with late acknowledgement it must
#: exceed the longest job (training), or a second worker starts a job that is still running.
_REDIS_VISIBILITY_TIMEOUT_S = 12 * 3600
#: Any constant; serialises creating the broker's tables when several processes start on a fresh database.
_SCHEMA_LOCK = 0x7265_6365_6E67
#: First key of the advisory locks on taken messages (the second is the message's row id).
_MESSAGE_LOCKS = 0x7265_6365


class WorkerSettings(Settings):
    """:class:`Settings` plus what only workers and job submitters need (same ``RECENGINE_`` prefix)."""

    broker_polling_interval: float = Field(
        default=1.0, gt=0, description="Seconds between polls of an idle database broker (0.2 in tests)."
    )
    worker_queue: str = Field(default="recengine", description="Celery queue of recengine's jobs.")


#: Engines of the broker by URL, shared by the channels of a process (not upstream's cache: made otherwise).
_ENGINES: dict[str, tuple[Engine, sessionmaker[Any]]] = {}
_ENGINES_LOCK = threading.Lock()


def _configure_kombu_models() -> None:
    # kombu's models use the ``noload`` strategy, deprecated in SQLAlchemy 2.1 (still working); silenced here,
    # where upstream's code configures, and nowhere else.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"The ``noload`` loader strategy", category=DeprecationWarning)
        configure_mappers()


class PostgresChannel(kombu_sqla.Channel):
    """kombu's SQL channel, fitted for PostgreSQL and several workers, with at-least-once delivery.

    Over upstream it: builds the engine with recengine's psycopg 3 URL handling and no stray transport options
    (upstream passes ``polling_interval`` on to ``create_engine``, which refuses it); takes messages with
    ``FOR UPDATE SKIP LOCKED`` so workers do not queue up behind one another's row lock; creates queues and
    tables race-free when a worker and a submitter start together on a fresh database; and keeps a taken
    message until it is acknowledged, so a worker killed mid-job loses nothing.

    The last point is how Redis and RabbitMQ behave too, without a visibility timeout: the taker holds a
    session-level advisory lock on the message (keyed by its row id) on a connection of its own, from before the
    message turns invisible until it is acknowledged or rejected. PostgreSQL releases the lock when the taker's
    connection dies, with its process; an invisible message whose lock can be taken is therefore orphaned, and
    the next ``_get`` of any worker delivers it again (upstream leaves it invisible forever).
    """

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        self._rows: dict[str, int] = {}  # delivery tag -> row id of the messages this channel holds
        self._lock_connection: Connection | None = None
        super().__init__(connection, **kwargs)  # type: ignore[no-untyped-call]

    def _open(self) -> tuple[Engine, sessionmaker[Any]]:
        url: str = self.connection.client.hostname
        with _ENGINES_LOCK:
            if url not in _ENGINES:
                engine = make_engine(url)
                _configure_kombu_models()
                with engine.begin() as conn:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
                    kombu_metadata.create_all(conn)
                _ENGINES[url] = engine, sessionmaker(bind=engine)
            return _ENGINES[url]

    def _get_or_create(self, queue: str) -> Any:
        table = self.queue_cls.__table__
        obj = self.session.query(self.queue_cls).filter(self.queue_cls.name == queue).first()
        if obj is None:
            self.session.execute(insert(table).values(name=queue).on_conflict_do_nothing(index_elements=["name"]))
            self.session.commit()
            obj = self.session.query(self.queue_cls).filter(self.queue_cls.name == queue).one()
        return obj

    def _locks(self) -> Connection:
        if self._lock_connection is None:
            engine, _ = self._open()
            self._lock_connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._lock_connection

    def _try_lock(self, message_id: int) -> bool:
        got = self._locks().scalar(text("SELECT pg_try_advisory_lock(:ns, :id)"), {"ns": _MESSAGE_LOCKS,
                                                                                   "id": message_id})  # fmt: skip
        return bool(got)

    def _unlock(self, message_id: int) -> None:
        self._locks().execute(text("SELECT pg_advisory_unlock(:ns, :id)"), {"ns": _MESSAGE_LOCKS, "id": message_id})

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        message_cls = self.message_cls
        queue_id = self._get_or_create(queue).id
        base = self.session.query(message_cls).filter(message_cls.queue_id == queue_id)
        try:
            candidates = base.filter(message_cls.visible.is_(True)).order_by(message_cls.id)
            for msg in candidates.with_for_update(skip_locked=True).limit(1):
                if self._try_lock(msg.id):  # only an orphan scan (below) could hold it: skip it this round
                    msg.visible = False
                    return self._taken(msg)
            invisible = base.filter(message_cls.visible.is_(False)).order_by(message_cls.id).limit(20)
            for row_id in [m.id for m in invisible]:
                if not self._try_lock(row_id):
                    continue  # its taker is alive
                # Its taker is gone (the lock died with its connection), unless it acked between our read and
                # our lock: then the row is gone too.
                msg = base.filter(message_cls.id == row_id).populate_existing().first()
                if msg is None:
                    self._unlock(row_id)
                    continue
                _log.warning("redelivering message %s of queue %s: its consumer died before acking", row_id, queue)
                return self._taken(msg)
            raise Empty()
        finally:
            self.session.commit()

    def _taken(self, msg: Any) -> Any:
        payload = json.loads(msg.payload)  # a text column: already str
        self._rows[payload["properties"]["delivery_tag"]] = msg.id
        return payload

    def _release(self, delivery_tag: str) -> None:
        row = self._rows.pop(delivery_tag, None)
        if row is None:
            return
        self.session.query(self.message_cls).filter(self.message_cls.id == row).delete()
        self.session.commit()
        self._unlock(row)

    def basic_ack(self, delivery_tag: str, multiple: bool = False) -> None:
        self._release(delivery_tag)
        super().basic_ack(delivery_tag, multiple=multiple)  # type: ignore[no-untyped-call]

    def basic_reject(self, delivery_tag: str, requeue: bool = False) -> None:
        self._release(delivery_tag)  # a requeue puts a fresh row (upstream's _restore)
        super().basic_reject(delivery_tag, requeue=requeue)  # type: ignore[no-untyped-call]

    def _restore(self, message: Any) -> None:
        self._release(message.delivery_tag)
        super()._restore(message)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        # Upstream's close restores the unacknowledged messages (through _restore) before the locks go.
        super().close()  # type: ignore[no-untyped-call]
        if self._lock_connection is not None:
            self._lock_connection.close()
            self._lock_connection = None


class PostgresTransport(kombu_sqla.Transport):
    """The SQL transport with :class:`PostgresChannel`; its URL is a plain ``postgresql://`` one."""

    Channel = PostgresChannel


_EMBEDDED: dict[Path, Any] = {}
_EMBEDDED_LOCK = threading.Lock()


def resolve_database_url(settings: Settings) -> URL:
    """The database's URL: the configured one, or the embedded server's, started (or joined) on first use.

    The embedded handle is kept for the life of the process: the server stops when its last holder exits.
    """
    if settings.database_url:
        return normalise_url(settings.database_url)
    with _EMBEDDED_LOCK:
        if settings.pgdata_dir not in _EMBEDDED:
            _EMBEDDED[settings.pgdata_dir] = start_embedded(settings.pgdata_dir)
        url = embedded_url(_EMBEDDED[settings.pgdata_dir], settings.database_name)
    ensure_database(url)  # the broker creates its tables there before anything else may have
    return url


def broker_config(settings: WorkerSettings, database_url: URL) -> dict[str, Any]:
    """Celery's broker settings: the database through :class:`PostgresTransport`, or the configured broker."""
    url = settings.broker_url or f"sqla+{database_url.render_as_string(hide_password=False)}"
    prefix = next((p for p in _SQLA_PREFIXES if url.startswith(p)), None)
    if prefix is not None and make_url(url[len(prefix) :]).get_backend_name() == "postgresql":
        # kombu takes the transport from a URL's "x+" prefix over any configured one, so the URL handed to
        # it must have none: the channel puts the psycopg driver back.
        plain = make_url(url[len(prefix) :]).set(drivername="postgresql")
        return {
            "broker_url": plain.render_as_string(hide_password=False),
            "broker_transport": f"{__name__}:{PostgresTransport.__name__}",
            "broker_transport_options": {"polling_interval": settings.broker_polling_interval},
            # A lost database connection releases the message's lock and another worker redelivers it, as
            # RabbitMQ would: the running copy must stop, or the job runs twice side by side.
            "worker_cancel_long_running_tasks_on_connection_loss": True,
        }
    scheme = url.split("://", 1)[0]
    options: dict[str, Any] = {}
    if scheme in _REDIS_SCHEMES:
        options["visibility_timeout"] = _REDIS_VISIBILITY_TIMEOUT_S
    return {
        "broker_url": url,
        "broker_transport": None,
        "broker_transport_options": options,
        # RabbitMQ redelivers a lost connection's unacknowledged messages at once: the running copy must stop,
        # or the job runs twice side by side. Redis waits for the visibility timeout, so the task may finish.
        "worker_cancel_long_running_tasks_on_connection_loss": scheme in _AMQP_SCHEMES,
    }


def celery_config(settings: WorkerSettings) -> dict[str, Any]:
    """The whole Celery configuration of recengine's workers and job submitters."""
    database_url = resolve_database_url(settings)
    backend = settings.result_backend or f"db+{database_url.render_as_string(hide_password=False)}"
    return {
        **broker_config(settings, database_url),
        "result_backend": backend,
        "task_default_queue": settings.worker_queue,
        # A job's message is acknowledged after the job ran, and put back when the worker dies: jobs are
        # idempotent (see workers.jobs.run_job), so running one twice is safe, losing one is not.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_track_started": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "broker_connection_retry_on_startup": True,
        # Celery's result row lives as long as recengine's job row (workers.housekeeping deletes both).
        "result_expires": settings.job_retention,
    }


class RecengineApp(Celery):  # type: ignore[misc]  # celery ships no type hints
    """A Celery app that knows the settings it was built from and opens their database (and, for recommendation
    jobs, a recommender) once per process."""

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__("recengine", include=["workers.tasks"])
        self._given = settings
        self._settings: WorkerSettings | None = None
        self._database: Database | None = None
        self._serving: ApiSettings | None = None
        self._recommender: Recommender | None = None
        self._lock = threading.Lock()
        self._recommender_lock = threading.Lock()  # not _lock: loading takes seconds, the database is wanted meanwhile
        self.add_defaults(lambda: celery_config(self.settings))

    @property
    def settings(self) -> WorkerSettings:
        """The app's settings, read from the environment on first use unless given."""
        if self._settings is None:
            if isinstance(self._given, WorkerSettings):
                self._settings = self._given
            elif self._given is not None:  # plain Settings: the worker-only fields come from the environment
                self._settings = WorkerSettings(**self._given.model_dump())
            else:
                self._settings = WorkerSettings()
        return self._settings

    def database(self) -> Database:
        """The database of this process's tasks, opened on first use and kept open."""
        with self._lock:
            if self._database is None:
                self._database = open_database(self.settings)
            return self._database

    @property
    def serving_settings(self) -> ApiSettings:
        """The API's settings over the app's: recommendation jobs serve what the API serves (``api_designer``,
        ``api_index_name``, design retention, ``api_public_url``), read from the same environment."""
        from recengine.api.settings import api_settings

        if self._serving is None:
            self._serving = api_settings(self.settings)
        return self._serving

    def recommender(self) -> Recommender:
        """The recommender of this process's recommendation jobs, opened on first use and kept open.

        Loading a designer and the catalogue's latents takes seconds, answering takes milliseconds: every job a
        process runs shares one. A published index version is picked up by the recommender itself; a failed
        open is not remembered, so the next job tries again.
        """
        with self._recommender_lock:
            if self._recommender is None:
                from recengine.recommend.service import Recommender

                settings = self.serving_settings
                with self.database().sessions() as session:
                    recommender = Recommender.open(session, settings, designer=settings.api_designer,
                                                   index_name=settings.api_index_name)  # fmt: skip
                recommender.serving.refresh_s = settings.api_index_refresh_s
                _log.info("recommender ready: designer %s, index %s version %s", recommender.designer.label,
                          settings.api_index_name, recommender.serving.version)  # fmt: skip
                self._recommender = recommender
            return self._recommender


def create_app(settings: Settings | None = None) -> RecengineApp:
    """Build recengine's Celery app; nothing is connected or started until the configuration is first read.

    Args:
        settings: Settings to use; ``None`` reads them from the environment when first needed.

    Returns:
        The app, with the tasks of :mod:`workers.tasks` included when a worker starts.
    """
    return RecengineApp(settings)


#: The app of ``celery -A workers.app worker``; configured from the environment when first used.
app = create_app()
