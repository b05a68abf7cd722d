"""What one API process holds: the database, the recommender and the job queue, each opened on first use.

Lazy on purpose: the app must start (and answer ``/healthz`` and ``/readyz``) with no designer or index yet, or
with the database still starting; ``/readyz`` then says what is missing, and the first request that needs a
missing part gets a 503 naming it. A failed attempt to open the recommender is remembered for a few seconds,
so a burst of requests does not reload a checkpoint per request.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from recengine.api.settings import ApiSettings
from recengine.errors import ConfigurationError, NotFoundError, RecengineError
from recengine.recommend.service import Recommender, served_model_version_id

if TYPE_CHECKING:
    from recengine.inpainting.service import Inpainter
from recengine.store.database import Database, open_database
from recengine.store.designs import PruneGate
from recengine.store.jobs import pending_job
from recengine.store.migrate import current_revision, head_revision
from recengine.store.models import Job

_log = logging.getLogger(__name__)
#: Seconds before another attempt to open a recommender that failed to open.
RETRY_S = 5.0


class NotReadyError(ConfigurationError):
    """A part the request needs (designer, index, database schema) is not available yet."""


class ApiState:
    """The API's lazily opened resources; thread-safe (routes run in a thread pool).

    Args:
        settings: The API's settings.
        celery: The Celery app jobs are sent with; default one built from ``settings`` on first use.
    """

    def __init__(self, settings: ApiSettings, *, celery: Any = None) -> None:
        self.settings = settings
        self._celery = celery
        self._own_celery = celery is None
        self._db: Database | None = None
        self._recommender: Recommender | None = None
        self._inpainter: Inpainter | None = None
        self.prune_gate = PruneGate()
        self._failure: tuple[float, str] | None = None
        self._schema_ok = False
        self._lock = threading.Lock()
        self._open_lock = threading.Lock()  # held while the recommender opens
        self._inpainter_lock = threading.Lock()
        self._loading_since: float | None = None

    @property
    def retention(self) -> timedelta:
        return timedelta(seconds=self.settings.api_design_retention_s)

    @property
    def db(self) -> Database:
        """The database (the embedded server is started here when no URL is configured)."""
        with self._lock:
            if self._db is None:
                self._db = open_database(self.settings)
            return self._db

    def check_schema(self) -> None:
        """Raise :class:`NotReadyError` unless the database is migrated to this code's head revision."""
        if self._schema_ok:
            return
        current, head = current_revision(self.db.engine), head_revision()
        if current != head:
            raise NotReadyError(f"database schema is at {current or 'nothing'}, recengine needs {head}: "
                                "run `recengine db upgrade`")  # fmt: skip
        self._schema_ok = True

    def ping_database(self) -> None:
        with self.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    @property
    def loaded(self) -> Recommender | None:
        """The recommender if it is open already (never opens it: for metrics and probes)."""
        return self._recommender

    def recommender(self) -> Recommender:
        """The recommender, opened on first use; :class:`NotReadyError` naming what is missing.

        While one thread opens it (minutes on a first start, which computes the catalogue latents), every
        other caller gets :class:`NotReadyError` at once rather than waiting: a waiting ``/readyz`` times out
        in the load balancer, and waiting requests take the thread pool that ``/healthz`` needs too.
        """
        if self._recommender is not None:
            return self._recommender
        if not self._open_lock.acquire(blocking=False):
            if self._recommender is not None:  # opened between the two checks
                return self._recommender
            raise NotReadyError(f"loading the designer and the index ({self._loading_for():.0f} s so far)")
        try:
            if self._recommender is not None:
                return self._recommender
            if self._failure is not None and time.monotonic() - self._failure[0] < RETRY_S:
                raise NotReadyError(self._failure[1])
            self._loading_since = time.monotonic()
            try:
                self._recommender = self._open()
            except RecengineError as exc:
                self._failure = (time.monotonic(), f"recommender unavailable: {exc}")
                raise NotReadyError(self._failure[1]) from exc
            self._failure = None
            return self._recommender
        finally:
            self._open_lock.release()

    def _loading_for(self) -> float:
        return 0.0 if self._loading_since is None else time.monotonic() - self._loading_since

    def _open(self) -> Recommender:
        self.check_schema()
        settings = self.settings
        with self.db.sessions() as session:
            recommender = Recommender.open(session, settings, designer=settings.api_designer,
                                           index_name=settings.api_index_name)  # fmt: skip
        recommender.serving.refresh_s = settings.api_index_refresh_s
        _log.info("recommender ready: designer %s, index %s version %s", recommender.designer.label,
                  settings.api_index_name, recommender.serving.version)  # fmt: skip
        return recommender

    def inpainter(self) -> Inpainter:
        """The newest registered inpainting model, loaded on first use (for photos sent with a mask)."""
        with self._inpainter_lock:
            if self._inpainter is None:
                from recengine.inpainting.service import Inpainter

                try:
                    with self.db.sessions() as session:
                        self._inpainter = Inpainter.registered(session=session)
                except NotFoundError as exc:
                    raise NotReadyError(f"inpainting unavailable: {exc}") from exc
            return self._inpainter

    def serving_model_version_id(self) -> int | None:
        """The served designer's model version (whose θu recommendations use), None when there is none. Read
        from the database when the recommender is not open yet: a request must not wait for it to load."""
        if self._recommender is not None:
            return self._recommender.designer.model_version_id
        with self.db.sessions() as session:
            return served_model_version_id(session, self.settings.api_designer)

    def warm_up(self) -> None:
        """Open the database and the recommender now (the startup thread's work); failures are only logged."""
        try:
            self.recommender()
        except RecengineError as exc:
            _log.warning("not ready yet: %s", exc)

    @property
    def celery(self) -> Any:
        with self._lock:
            if self._celery is None:
                from workers.app import create_app

                self._celery = create_app(self.settings)
            return self._celery

    def submit(self, kind: str, params: dict[str, Any], *, join_pending: bool = False) -> tuple[Job, bool]:
        """Queue a job (after its row is committed); returns it and whether it was new.

        With ``join_pending``, a job of the same kind and params that has not started yet is returned instead
        of queueing another: it will see everything committed before it starts.
        """
        from workers.jobs import submit_job

        if join_pending:
            with self.db.sessions() as session:
                waiting = pending_job(session=session, kind=kind, params=params)
            if waiting is not None:
                return waiting, False
        return submit_job(db=self.db, kind=kind, params=params, task=self.celery), True

    def close(self) -> None:
        with self._lock:
            if self._own_celery and self._celery is not None:
                self._celery.close()
                self._celery = None
            if self._db is not None:
                self._db.close()
                self._db = None
