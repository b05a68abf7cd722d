"""Job bookkeeping around Celery tasks: enqueue after commit, run idempotently, record the outcome.

A task body is one call::

    @shared_task(name=task_name("fit_preferences"), bind=True)
    def fit_preferences(self, job_id: int) -> dict[str, Any] | None:
        return run_job(job_id, self.request.id, lambda ctx: fit(ctx.db, **ctx.params, progress=ctx.progress),
                       db=worker_database(self.app))
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import Celery, Task

from recengine.errors import ConfigurationError, InvalidInputError
from recengine.store.database import Database
from recengine.store.jobs import (
    JobAlreadyDone,
    JobCancelled,
    JobReporter,
    JobStateError,
    create_job,
    fail_job,
    finish_job,
    get_job,
    start_job,
)
from recengine.store.models import Job
from workers.app import RecengineApp

_log = logging.getLogger(__name__)


def task_name(kind: str) -> str:
    """Celery's name of the task that runs jobs of ``kind``: submitters send by name, importing no task code."""
    return f"recengine.{kind}"


@dataclass(frozen=True)
class JobContext:
    """What a job's function is given: the job's database, its parameters and its progress callback."""

    job_id: int
    params: dict[str, Any]
    db: Database
    progress: JobReporter


JobFunction = Callable[[JobContext], dict[str, Any]]


def worker_app(app: Celery) -> RecengineApp:
    """A task's app as recengine's (its settings, database and recommender); other apps are refused."""
    if not isinstance(app, RecengineApp):
        raise ConfigurationError(f"recengine's tasks need an app from workers.app.create_app, got {app!r}")
    return app


def worker_database(app: Celery) -> Database:
    """The database of a task's app (one per worker process, opened on first use)."""
    return worker_app(app).database()


def run_job(job_id: int, task_id: str | None, fn: JobFunction, *, db: Database) -> dict[str, Any] | None:
    """Run ``fn`` as job ``job_id``: mark it running, then succeeded with ``fn``'s result, or failed.

    A job that already succeeded is not run again (Celery redelivers tasks after the fact, see
    :class:`~recengine.store.jobs.JobAlreadyDone`); its stored result is returned instead.

    Args:
        job_id: The job's row.
        task_id: Celery's id of this delivery, recorded on the row.
        fn: The work; returns a JSON-serialisable result.
        db: The job's database.

    Returns:
        The job's result; ``None`` for a cancelled job (before it ran, or while it ran).

    Raises:
        Exception: Whatever ``fn`` raised, after the job was marked failed with its message, so that Celery
            records the failure too.
    """
    try:
        with db.transaction() as session:
            params = dict(start_job(session=session, job_id=job_id, task_id=task_id).params)
    except JobAlreadyDone as done:
        _log.info("job %s is already %s: nothing to do", job_id, done.status)
        with db.sessions() as session:
            return get_job(session=session, job_id=job_id).result
    context = JobContext(job_id=job_id, params=params, db=db, progress=JobReporter(db.sessions, job_id))
    try:
        result = fn(context)
        with db.transaction() as session:
            finish_job(session=session, job_id=job_id, result=result)
    except JobCancelled:
        _log.info("job %s was cancelled while it ran: stopped", job_id)
        return None
    except Exception as exc:  # BaseException (worker shutdown) is not a failure: the message is redelivered
        if _record_failure(db, job_id, exc) == "cancelled":  # the work wrapped the cancellation in its own error
            _log.info("job %s was cancelled while it ran: stopped (%s)", job_id, exc)
            return None
        raise
    return result


def _record_failure(db: Database, job_id: int, exc: Exception) -> str | None:
    """Mark the job failed; returns the status that forbade it, if one did (``cancelled``, say)."""
    try:
        with db.transaction() as session:
            fail_job(session=session, job_id=job_id, error=f"{type(exc).__name__}: {exc}")
    except JobStateError as state:  # the row already tells the story
        _log.warning("job %s raised after it became %s: %s", job_id, state.status, exc)
        return state.status
    except Exception:  # the database itself is failing: log it, and let the task's own error go to Celery
        _log.exception("could not record the failure of job %s", job_id)
    return None


def enqueue(target: Celery | Task, job: Job) -> Any:
    """Send a committed job to its task; returns Celery's ``AsyncResult``.

    Call it only after the transaction that created the job has committed: a worker may pick the message up
    at once, and must find the row (the database a worker reads is not the submitter's transaction).

    Args:
        target: A Celery app (the task is sent by the name :func:`task_name` gives the job's kind) or a task.
        job: The job, with the ``task_id`` it was created with.
    """
    if job.task_id is None:
        raise InvalidInputError(f"job {job.id} has no task id to enqueue under")
    if isinstance(target, Celery):
        return target.send_task(task_name(job.kind), args=[job.id], task_id=job.task_id)
    return target.apply_async(args=[job.id], task_id=job.task_id)


def submit_job(*, db: Database, kind: str, params: dict[str, Any], task: Celery | Task) -> Job:
    """Create a job in its own transaction, commit, then enqueue it.

    Args:
        db: The database the workers read.
        kind: The job's kind; with an app as ``task``, it also names the task (:func:`task_name`).
        params: JSON-serialisable parameters, stored on the row for the task to read.
        task: A Celery app or task, as for :func:`enqueue`.

    Returns:
        The job (detached, status ``pending``); its ``task_id`` is Celery's task id.

    Raises:
        Exception: The broker refused the message; the job is then marked failed.
    """
    with db.transaction() as session:
        job = create_job(session=session, kind=kind, params=params, task_id=str(uuid.uuid4()))
    try:
        enqueue(task, job)
    except Exception as exc:
        with db.transaction() as session:
            fail_job(session=session, job_id=job.id, error=f"could not enqueue: {exc}")
        raise
    return job
