"""Deleting what ended jobs leave behind: their rows in ``jobs`` and Celery's rows of their tasks.

A batch recommendation job's row holds every answer (about 0.8 MB stored per 1,000 requests), and Celery's
database result backend keeps a row per task (a batch's counts, a fit's summary); neither was ever deleted, so
every nightly batch and every newcomer's fit grew the database for good. A worker now prunes after each task
it runs: jobs are seconds to hours long, so one short ``DELETE`` per task costs nothing next to them, and no
beat process or cron job has to be deployed for it. Celery's own
``result_expires`` is set to the same retention (:func:`workers.app.celery_config`), so backends that expire
entries themselves (Redis) agree with the database ones, which :meth:`cleanup` empties here.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Task
from celery.signals import task_postrun

from recengine.store.database import Database
from recengine.store.jobs import PRUNE_BATCH, prune_jobs
from workers.app import RecengineApp

_log = logging.getLogger(__name__)


def prune_ended(*, db: Database, backend: Any, retention: timedelta, limit: int = PRUNE_BATCH) -> int:
    """Delete up to ``limit`` ended jobs older than ``retention``, and the expired results of Celery's
    ``backend``; returns how many jobs went."""
    cutoff = datetime.now(UTC) - retention
    with db.transaction() as session:
        pruned = prune_jobs(session=session, older_than=cutoff, limit=limit)
    backend.cleanup()  # the database backend deletes its rows older than result_expires; Redis expires its own
    if pruned:
        _log.info("deleted %d jobs that ended before %s", pruned, cutoff.isoformat(timespec="seconds"))
    return pruned


@task_postrun.connect(weak=False, dispatch_uid="recengine.prune_ended")
def _after_task(sender: Task | None = None, **_: Any) -> None:
    app = getattr(sender, "app", None)
    if not isinstance(app, RecengineApp):
        return
    try:
        prune_ended(db=app.database(), backend=app.backend, retention=app.settings.job_retention)
    except Exception:  # housekeeping must never fail a task that succeeded: the next task tries again
        _log.warning("could not prune ended jobs", exc_info=True)
