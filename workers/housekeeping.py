"""Deleting what ended jobs leave behind: their rows in ``jobs`` and Celery's rows of their tasks.

A batch recommendation job's row holds every answer (about 0.8 MB stored per 1,000 requests), and Celery's
database result backend keeps a row per task (a batch's counts, a fit's summary); neither was ever deleted, so
every nightly batch and every newcomer's fit grew the database for good. A worker now prunes after each task
has run, at most once per ``RECENGINE_JOB_PRUNE_INTERVAL_S`` (300 s), so no beat process or cron job has to be
deployed for it. Not after every task: with a week of a busy shop's jobs kept (100,000 jobs and as many Celery
rows) one prune takes 21 ms (113 ms with 1,000,000; ``python -m benchmarks.housekeeping``), which a one-second
newcomer fit should not pay each time; one prune per five minutes deletes what expired since, 1,000 jobs per
transaction. Celery's own
``result_expires`` is set to the same retention (:func:`workers.app.celery_config`), so backends that expire
entries themselves (Redis) agree with the database ones, which :meth:`cleanup` empties here.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Task
from celery.signals import task_postrun

from recengine.store.database import Database
from recengine.store.jobs import PRUNE_BATCH, prune_jobs
from workers.app import RecengineApp

_log = logging.getLogger(__name__)


WORKER_BATCHES = 10
"""Batches one worker prune deletes at most: 10,000 jobs per interval is far more than a shop ends, and a backlog
(workers stopped for weeks) is worked off over a few prunes without holding up the next task for long."""


def prune_ended(*, db: Database, backend: Any, retention: timedelta, limit: int = PRUNE_BATCH,
                batches: int | None = None) -> int:  # fmt: skip
    """Delete the ended jobs older than ``retention``, ``limit`` per transaction and at most ``batches`` of them
    (None: all), then the expired results of Celery's ``backend``; returns how many jobs went."""
    cutoff = datetime.now(UTC) - retention
    total, done = 0, 0
    while batches is None or done < batches:
        with db.transaction() as session:
            pruned = prune_jobs(session=session, older_than=cutoff, limit=limit)
        total, done = total + pruned, done + 1
        if pruned < limit:
            break
    backend.cleanup()  # the database backend deletes its rows older than result_expires; Redis expires its own
    if total:
        _log.info("deleted %d jobs that ended before %s", total, cutoff.isoformat(timespec="seconds"))
    return total


class Every:
    """Says when ``interval_s`` has passed since it last said so (first: at once)."""

    def __init__(self) -> None:
        self.last: float | None = None

    def due(self, interval_s: float, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if self.last is not None and now - self.last < interval_s:
            return False
        self.last = now
        return True


_prunes = Every()  # per worker process: prefork children each prune on their own clock


@task_postrun.connect(weak=False, dispatch_uid="recengine.prune_ended")
def _after_task(sender: Task | None = None, **_: Any) -> None:
    app = getattr(sender, "app", None)
    if not isinstance(app, RecengineApp) or not _prunes.due(app.settings.job_prune_interval_s):
        return
    try:
        prune_ended(
            db=app.database(), backend=app.backend, retention=app.settings.job_retention, batches=WORKER_BATCHES
        )
    except Exception:  # housekeeping must never fail a task that succeeded: the next prune tries again
        _log.warning("could not prune ended jobs", exc_info=True)
