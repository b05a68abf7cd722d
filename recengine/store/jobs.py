"""Job repository: the lifecycle of a background job's row (pending → running → succeeded or failed).

Functions take ``*, session`` and never commit: the caller owns the transaction. :class:`JobReporter` is the one
exception by design: a running task's progress must be visible to other connections while the task's own work
is still uncommitted, so it writes each update in a transaction of its own.

Transitions::

    pending ─start─▶ running ─finish─▶ succeeded
       │               │  ▲
       ├─────fail──────┴──┼──▶ failed ─start (a retry)─▶ running
       │               │  └── start again (a redelivery after a lost worker)
       └────cancel─────┴─────▶ cancelled

Starting a succeeded or cancelled job raises :class:`JobAlreadyDone`: Celery may deliver a task again after it
ran (late acknowledgement, lost worker), and the task then has nothing to do. A running job that is cancelled
learns it at its next progress report or when it tries to finish (:class:`JobCancelled`): cancellation is
cooperative, since killing a task mid-write is what the jobs' own transactions exist to avoid.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from recengine.errors import InvalidInputError, NotFoundError, RecengineError
from recengine.store.bulk import delete_oldest
from recengine.store.models import JOB_STATUSES, Job, get_row, row_id

#: Status a job may be started from; ``running`` too, because a redelivered task finds its job still marked
#: running after the worker that ran it died.
_STARTABLE = frozenset({"pending", "running", "failed"})
_DONE = frozenset({"succeeded", "cancelled"})
#: Status a job may be failed or cancelled from: it has not ended.
_LIVE = frozenset({"pending", "running"})
#: Status of a job that has ended: only these are ever pruned.
ENDED = ("succeeded", "failed", "cancelled")
#: Ended jobs deleted per prune at most: one prune stays short however long the workers were idle.
PRUNE_BATCH = 1000
_KEPT = "an ended job is deleted RECENGINE_JOB_RETENTION_DAYS after it ended, 7 by default"


class JobStateError(RecengineError):
    """A transition the job's current status does not allow (finishing a failed job, say)."""

    def __init__(self, job_id: int, status: str, action: str) -> None:
        super().__init__(f"job {job_id} is {status}: cannot {action} it")
        self.job_id = job_id
        self.status = status


class JobCancelled(JobStateError):
    """The running job was cancelled: the task should stop and report nothing more."""


class JobAlreadyDone(JobStateError):
    """The job already succeeded (or was cancelled): a task delivered again has nothing to do."""


def _now() -> datetime:
    # Python's clock, not SQL now(): now() is the transaction's start, and an expression would leave the
    # attribute expired on objects the caller keeps after commit.
    return datetime.now(UTC)


def create_job(*, session: Session, kind: str, params: dict[str, Any], task_id: str | None = None) -> Job:
    """Add a pending job and flush it, so its id is known before commit.

    Args:
        session: The caller's session; not committed here.
        kind: What the job does (``"ping"``, ``"fit_preferences"``, ...).
        params: JSON-serialisable arguments the task reads back from the row.
        task_id: Celery's task id, when the caller chose it before enqueueing.

    Returns:
        The new job, status ``pending``.
    """
    if not kind:
        raise InvalidInputError("a job needs a kind")
    job = Job(kind=kind, params=dict(params), task_id=task_id, status="pending", progress=0.0)
    session.add(job)
    session.flush()
    return job


def get_job(*, session: Session, job_id: int) -> Job:
    """The job with this id; :class:`NotFoundError` when there is none."""
    job = get_row(session, Job, job_id)
    if job is None:
        raise NotFoundError(f"job {job_id} does not exist ({_KEPT})")
    return job


def prune_jobs(*, session: Session, older_than: datetime, limit: int = PRUNE_BATCH) -> int:
    """Delete up to ``limit`` ended jobs (succeeded, failed, cancelled) that ended before ``older_than``, oldest
    first (concurrent prunes take disjoint rows); returns how many went. Pending and running jobs are never
    deleted, however old."""
    ended = Job.status.in_(ENDED), Job.finished_at < older_than
    return delete_oldest(session, Job.id, *ended, oldest=Job.finished_at, limit=limit)


def pending_job(*, session: Session, kind: str, params: dict[str, Any]) -> Job | None:
    """The oldest job of ``kind`` that has not started and whose params include ``params`` (JSONB ``@>``).

    A job that has not started will read the database when it does, so a request for the same work can join
    it instead of queueing another (catalogue edits in a burst share one index sync).
    """
    stmt = (
        select(Job)
        .where(Job.kind == kind, Job.status == "pending", Job.params.contains(params))
        .order_by(Job.id)
        .limit(1)
    )
    return session.scalar(stmt)


def job_counts(*, session: Session) -> list[tuple[str, str, int]]:
    """(kind, status, number of jobs) for every pair that has jobs: the metrics' view of the queue."""
    stmt = select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status).order_by(Job.kind, Job.status)
    return [(kind, status, int(n)) for kind, status, n in session.execute(stmt).all()]


def live_job_ages(*, session: Session) -> list[tuple[str, str, float]]:
    """(kind, status, seconds) of the oldest pending job of each kind (since it was created) and the longest
    running one (since it started): a queue no worker consumes shows as a pending age that only grows."""
    since = func.coalesce(Job.started_at, Job.created_at)
    age = func.extract("epoch", func.now() - func.min(since))
    stmt = (
        select(Job.kind, Job.status, age)
        .where(Job.status.in_(_LIVE))
        .group_by(Job.kind, Job.status)
        .order_by(Job.kind, Job.status)
    )
    return [(kind, status, max(float(seconds), 0.0)) for kind, status, seconds in session.execute(stmt).all()]


def list_jobs(*, session: Session, status: str | None = None, kind: str | None = None, limit: int = 20) -> list[Job]:
    """The newest jobs first, optionally of one status and kind: what ops look at first."""
    if status is not None and status not in JOB_STATUSES:
        raise InvalidInputError(f"unknown job status {status!r}; one of {', '.join(JOB_STATUSES)}")
    if limit < 1:
        raise InvalidInputError(f"limit must be at least 1, got {limit}")
    stmt = select(Job).order_by(Job.id.desc()).limit(limit)
    stmt = stmt.where(Job.status == status) if status is not None else stmt
    stmt = stmt.where(Job.kind == kind) if kind is not None else stmt
    return list(session.scalars(stmt))


def cancel_job(*, session: Session, job_id: int) -> Job:
    """Cancel a pending or running job.

    A pending job never runs (its task, when delivered, finds it done). A running one stops at its next written
    progress report (:class:`JobReporter` writes up to 5 a second; every long job reports per training step or
    embedding chunk); what it had already committed stays, as after any failure, and a job that was past its
    last report may still finish its work, though its result is not recorded.

    Raises:
        NotFoundError: No such job.
        JobStateError: The job already succeeded, failed or was cancelled.
    """
    job = _locked(session, job_id)
    if job.status not in _LIVE:
        raise JobStateError(job_id, job.status, "cancel")
    job.status, job.finished_at = "cancelled", _now()
    job.message = "cancelled" if job.started_at is None else f"cancelled while running ({job.message or 'started'})"
    session.flush()
    return job


def _locked(session: Session, job_id: int) -> Job:
    # Row lock: two deliveries of one task (or a task and a canceller) change the row one after the other.
    if row_id(job_id) is None:
        raise NotFoundError(f"job {job_id} does not exist")
    stmt = select(Job).where(Job.id == job_id).with_for_update().execution_options(populate_existing=True)
    job = session.scalars(stmt).one_or_none()
    if job is None:
        raise NotFoundError(f"job {job_id} does not exist")
    return job


def start_job(*, session: Session, job_id: int, task_id: str | None) -> Job:
    """Mark the job running under ``task_id``; progress, result and error start afresh.

    Raises:
        JobAlreadyDone: The job succeeded or was cancelled; the caller should do nothing.
        NotFoundError: No such job.
    """
    job = _locked(session, job_id)
    if job.status in _DONE:
        raise JobAlreadyDone(job_id, job.status, "start")
    if job.status not in _STARTABLE:
        raise JobStateError(job_id, job.status, "start")
    job.status, job.progress, job.result, job.error = "running", 0.0, None, None
    job.message, job.started_at, job.finished_at = None, _now(), None
    if task_id is not None:
        job.task_id = task_id
    session.flush()
    return job


def report_progress(*, session: Session, job_id: int, progress: float | None, message: str | None = None) -> None:
    """Record how far a running job is.

    Args:
        session: The caller's session; not committed here.
        job_id: The job.
        progress: Fraction done in [0, 1]; ``None`` keeps the current value (work of unknown size).
        message: What the job is doing now; ``None`` keeps the current message.

    Raises:
        InvalidInputError: ``progress`` is not a number in [0, 1].
        JobStateError: The job is not running.
    """
    if progress is not None and not (math.isfinite(progress) and 0.0 <= progress <= 1.0):
        raise InvalidInputError(f"job progress must be in [0, 1], got {progress}")
    job = _locked(session, job_id)
    if job.status == "cancelled":
        raise JobCancelled(job_id, job.status, "report progress of")
    if job.status != "running":
        raise JobStateError(job_id, job.status, "report progress of")
    if progress is not None:
        job.progress = progress
    if message is not None:
        job.message = message
    session.flush()


def finish_job(*, session: Session, job_id: int, result: dict[str, Any]) -> Job:
    """Mark a running job succeeded with its JSON result; progress becomes 1."""
    job = _locked(session, job_id)
    if job.status == "cancelled":
        raise JobCancelled(job_id, job.status, "finish")
    if job.status != "running":
        raise JobStateError(job_id, job.status, "finish")
    job.status, job.progress, job.result, job.finished_at = "succeeded", 1.0, dict(result), _now()
    session.flush()
    return job


def fail_job(*, session: Session, job_id: int, error: str) -> Job:
    """Mark a pending or running job failed with a message for whoever looks at it."""
    job = _locked(session, job_id)
    if job.status not in _LIVE:
        raise JobStateError(job_id, job.status, "fail")
    job.status, job.error, job.finished_at = "failed", error, _now()
    session.flush()
    return job


class JobReporter:
    """A progress callback ``(done, total) -> None`` that writes to a job's row, throttled.

    Each write is its own short transaction, so other connections see it at once while the task's main work
    is still running. Writes happen at most once per ``min_interval_s`` (5 per second by default); the first
    call and the final one (``done >= total``) are always written.

    Args:
        sessions: Session factory of the job's database.
        job_id: The running job.
        min_interval_s: Least time between two writes.
        clock: Monotonic seconds; injectable for tests.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        job_id: int,
        *,
        min_interval_s: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._job_id = job_id
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._last_at: float | None = None
        self._last: tuple[int, int | None] | None = None
        self.writes = 0

    def __call__(self, done: int, total: int | None) -> None:
        if done < 0 or (total is not None and total < 0):
            raise InvalidInputError(f"progress counts must not be negative, got {done}/{total}")
        final = total is not None and done >= total
        now = self._clock()
        if (done, total) == self._last:
            return
        if not final and self._last_at is not None and now - self._last_at < self._min_interval_s:
            return
        self._write(done, total)
        self._last_at, self._last = now, (done, total)

    def _write(self, done: int, total: int | None) -> None:
        if total is None:
            progress, message = None, f"{done} done"
        else:
            # done may overshoot an estimated total: clamp rather than refuse.
            progress, message = (min(done / total, 1.0) if total else 1.0), f"{done}/{total}"
        with self._sessions.begin() as session:
            report_progress(session=session, job_id=self._job_id, progress=progress, message=message)
        self.writes += 1
