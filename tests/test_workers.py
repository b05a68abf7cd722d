"""Background jobs: the job repository, run_job's bookkeeping, the Celery app's configuration, and a real
worker subprocess on PostgreSQL as the broker (and on Redis and RabbitMQ when they answer locally)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from celery.result import AsyncResult
from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from recengine.config import Settings
from recengine.errors import ConfigurationError, InvalidInputError, NotFoundError, RecengineError
from recengine.store.database import Database, make_engine
from recengine.store.jobs import (
    JobAlreadyDone,
    JobReporter,
    JobStateError,
    cancel_job,
    create_job,
    fail_job,
    finish_job,
    get_job,
    list_jobs,
    live_job_ages,
    prune_jobs,
    report_progress,
    start_job,
)
from recengine.store.models import Job
from tests.celery_support import PROJECT_ROOT, WorkerHandle, broker_reachable, celery_worker
from workers.app import PostgresTransport, WorkerSettings, create_app
from workers.housekeeping import Every, prune_ended
from workers.jobs import JobContext, enqueue, run_job, submit_job

REDIS_URL = "redis://127.0.0.1:6379/0"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
PG_URL = "postgresql://rec:secret@db.example:5432/rec"


@pytest.fixture(scope="module")
def db(engine: Engine) -> Database:
    """The module's migrated database, committing for real (workers read it from other connections)."""
    return Database(
        url=engine.url, engine=engine, sessions=sessionmaker(engine, expire_on_commit=False), embedded=False
    )


def _new_job(db: Database, *, running: bool = False, kind: str = "test") -> int:
    with db.transaction() as session:
        job = create_job(session=session, kind=kind, params={"n": 3})
        if running:
            start_job(session=session, job_id=job.id, task_id=None)
        return job.id


def _read(db: Database, job_id: int) -> Job:
    with db.sessions() as session:
        return get_job(session=session, job_id=job_id)


# --- the repository ------------------------------------------------------------------------------------------


def test_transitions(session: Session) -> None:
    job = create_job(session=session, kind="test", params={"a": 1})
    assert (job.status, job.progress, job.params) == ("pending", 0.0, {"a": 1})
    with pytest.raises(JobStateError, match="pending: cannot finish"):
        finish_job(session=session, job_id=job.id, result={})
    with pytest.raises(JobStateError):
        report_progress(session=session, job_id=job.id, progress=0.5)
    fail_job(session=session, job_id=job.id, error="broker down")
    with pytest.raises(JobStateError, match="failed: cannot finish"):
        finish_job(session=session, job_id=job.id, result={})
    with pytest.raises(JobStateError):
        fail_job(session=session, job_id=job.id, error="again")
    start_job(session=session, job_id=job.id, task_id="t-retry")  # a retry of a failed job is allowed
    assert (job.status, job.error, job.task_id) == ("running", None, "t-retry")
    start_job(session=session, job_id=job.id, task_id="t-retry")  # redelivered after a lost worker
    report_progress(session=session, job_id=job.id, progress=0.25, message="a quarter")
    finish_job(session=session, job_id=job.id, result={"ok": True})
    assert (job.status, job.progress, job.result) == ("succeeded", 1.0, {"ok": True})
    assert job.started_at is not None and job.finished_at is not None and job.started_at <= job.finished_at
    with pytest.raises(JobAlreadyDone) as done:
        start_job(session=session, job_id=job.id, task_id="t-again")
    assert isinstance(done.value, RecengineError) and done.value.status == "succeeded"
    with pytest.raises(JobStateError):
        fail_job(session=session, job_id=job.id, error="late")
    assert job.task_id == "t-retry" and job.result == {"ok": True}


def test_a_cancelled_job_never_starts_and_only_live_jobs_cancel(session: Session) -> None:
    job = create_job(session=session, kind="test", params={})
    cancelled = cancel_job(session=session, job_id=job.id)
    assert (cancelled.status, cancelled.message) == ("cancelled", "cancelled") and cancelled.finished_at is not None
    with pytest.raises(JobAlreadyDone):  # a task delivered later has nothing to do
        start_job(session=session, job_id=job.id, task_id=None)
    with pytest.raises(JobStateError, match="is cancelled: cannot cancel"):
        cancel_job(session=session, job_id=job.id)
    done = create_job(session=session, kind="test", params={})
    start_job(session=session, job_id=done.id, task_id=None)
    finish_job(session=session, job_id=done.id, result={})
    with pytest.raises(JobStateError, match="is succeeded: cannot cancel"):
        cancel_job(session=session, job_id=done.id)
    for absent in (10**12, 10**20):
        with pytest.raises(NotFoundError):
            cancel_job(session=session, job_id=absent)


def test_jobs_are_listed_newest_first_by_status_and_kind(session: Session) -> None:
    first = create_job(session=session, kind="listed-a", params={})
    second = create_job(session=session, kind="listed-b", params={})
    cancel_job(session=session, job_id=second.id)
    assert [j.id for j in list_jobs(session=session, limit=2)] == [second.id, first.id]
    assert [j.id for j in list_jobs(session=session, kind="listed-a")] == [first.id]
    assert second.id in [j.id for j in list_jobs(session=session, status="cancelled")]
    assert second.id not in [j.id for j in list_jobs(session=session, status="pending")]
    with pytest.raises(InvalidInputError, match="unknown job status 'done'"):
        list_jobs(session=session, status="done")


def _planted(session: Session, status: str, ended_days_ago: float, *, task_id: str | None = None) -> int:
    """A job of ``status`` created and (when it ended) finished ``ended_days_ago`` days ago."""
    at = datetime.now(UTC) - timedelta(days=ended_days_ago)
    job = create_job(session=session, kind="test", params={}, task_id=task_id)
    job.status, job.created_at = status, at
    job.finished_at = at if status in ("succeeded", "failed", "cancelled") else None
    job.result = {"answers": ["..."] * 100} if status == "succeeded" else None
    session.flush()
    return job.id


def test_concurrent_prunes_take_disjoint_rows_without_waiting(db: Database) -> None:
    with db.transaction() as session:
        planted = [_planted(session, "succeeded", 60 + i) for i in range(3)]
    cutoff = datetime.now(UTC) - timedelta(days=50)
    with db.sessions() as first, db.sessions() as second:
        assert prune_jobs(session=first, older_than=cutoff, limit=2) == 2  # its rows stay locked until it commits
        second.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting on the first's locks fails the test
        assert prune_jobs(session=second, older_than=cutoff) == 1
        second.commit()
        first.commit()
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Job).where(Job.id.in_(planted))) == 0


def test_live_job_ages_name_the_oldest_pending_and_longest_running_job(session: Session) -> None:
    now = datetime.now(UTC)
    for created in (100, 40):
        job = create_job(session=session, kind="age-test", params={})
        job.created_at = now - timedelta(seconds=created)
    running = create_job(session=session, kind="age-test", params={})
    start_job(session=session, job_id=running.id, task_id=None)
    running.created_at, running.started_at = now - timedelta(seconds=500), now - timedelta(seconds=30)
    _planted(session, "succeeded", 3)  # ended jobs have no age to report
    ages = {(k, st): sec for k, st, sec in live_job_ages(session=session) if k == "age-test"}
    assert set(ages) == {("age-test", "pending"), ("age-test", "running")}
    assert ages["age-test", "pending"] == pytest.approx(100, abs=10)
    assert ages["age-test", "running"] == pytest.approx(30, abs=10)  # since it started, not since it was queued


def test_prune_deletes_ended_jobs_past_the_cutoff_only(session: Session) -> None:
    old = {s: _planted(session, s, 10) for s in ("succeeded", "failed", "cancelled", "running", "pending")}
    recent = _planted(session, "succeeded", 0.5)
    assert prune_jobs(session=session, older_than=datetime.now(UTC) - timedelta(days=1)) == 3
    left = set(session.scalars(select(Job.id).where(Job.id.in_([*old.values(), recent]))))
    assert left == {old["running"], old["pending"], recent}  # a stuck job is ops' to look at, not to lose
    more = [_planted(session, "failed", 20 + i) for i in range(5)]
    assert prune_jobs(session=session, older_than=datetime.now(UTC) - timedelta(days=1), limit=2) == 2
    assert set(session.scalars(select(Job.id).where(Job.id.in_(more)))) == set(more[:3])  # oldest went first
    with pytest.raises(NotFoundError, match="RECENGINE_JOB_RETENTION_DAYS"):
        get_job(session=session, job_id=more[4])


class _CountingBackend:
    """Celery's real result backend, counting its cleanups."""

    def __init__(self, real: Any) -> None:
        self.real, self.cleanups = real, 0

    def cleanup(self) -> None:
        self.cleanups += 1
        self.real.cleanup()


def test_one_prune_deletes_in_batches_and_cleans_celery_once(db: Database, tmp_path: Path) -> None:
    """`recengine jobs prune` cleaned Celery's results once per 1,000 jobs; a worker prune stops after its batches."""
    with db.transaction() as session:
        planted = [_planted(session, "succeeded", 400 + i) for i in range(5)]
    app = create_app(WorkerSettings(database_url=db.url.render_as_string(hide_password=False), data_dir=tmp_path))
    backend = _CountingBackend(app.backend)
    try:
        assert prune_ended(db=db, backend=backend, retention=timedelta(days=399), limit=2, batches=2) == 4
        assert backend.cleanups == 1
        assert prune_ended(db=db, backend=backend, retention=timedelta(days=399), limit=2) == 1
        assert backend.cleanups == 2
    finally:
        app.close()
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Job).where(Job.id.in_(planted))) == 0


def test_prunes_are_due_once_per_interval() -> None:
    every = Every()
    assert every.due(300, now=1000.0) and not every.due(300, now=1299.0)
    assert every.due(300, now=1300.0) and not every.due(300, now=1300.5)
    assert every.due(0, now=1300.5) and every.due(0, now=1300.5)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), float("inf")])
def test_progress_must_be_a_fraction(session: Session, bad: float) -> None:
    job = create_job(session=session, kind="test", params={})
    start_job(session=session, job_id=job.id, task_id=None)
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        report_progress(session=session, job_id=job.id, progress=bad)


def test_missing_job_and_kind(session: Session) -> None:
    with pytest.raises(NotFoundError):
        get_job(session=session, job_id=10**12)
    with pytest.raises(NotFoundError):
        start_job(session=session, job_id=10**12, task_id=None)
    with pytest.raises(InvalidInputError):
        create_job(session=session, kind="", params={})


# --- JobReporter ---------------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_reporter_throttles_and_always_writes_the_end(db: Database) -> None:
    job_id, clock = _new_job(db, running=True), FakeClock()
    report = JobReporter(db.sessions, job_id, clock=clock)
    report(1, 10)  # the first call is written
    for step, at in [(2, 0.05), (3, 0.1), (4, 0.19)]:
        clock.now = at
        report(step, 10)
    assert report.writes == 1
    assert (_read(db, job_id).progress, _read(db, job_id).message) == (0.1, "1/10")  # seen from another session
    clock.now = 0.25
    report(5, 10)
    clock.now = 0.26
    report(10, 10)  # within the interval, but final: written
    report(10, 10)  # the same again: not
    assert report.writes == 3
    job = _read(db, job_id)
    assert (job.progress, job.message, job.status) == (1.0, "10/10", "running")


def test_reporter_rate_is_bounded_in_real_time(db: Database) -> None:
    job_id = _new_job(db, running=True)
    report = JobReporter(db.sessions, job_id)
    started = time.monotonic()
    for done in range(2000):
        report(done, 2000)
    report(2000, 2000)
    elapsed = time.monotonic() - started
    assert report.writes <= 2 + elapsed / 0.2 and _read(db, job_id).progress == 1.0


def test_reporter_unknown_total_overshoot_and_bad_counts(db: Database) -> None:
    job_id, clock = _new_job(db, running=True), FakeClock()
    report = JobReporter(db.sessions, job_id, clock=clock)
    report(5, None)
    assert (_read(db, job_id).progress, _read(db, job_id).message) == (0.0, "5 done")
    clock.now = 1.0
    report(12, 10)  # an estimated total was exceeded: clamped
    assert _read(db, job_id).progress == 1.0
    with pytest.raises(InvalidInputError):
        report(-1, 10)


# --- run_job in-process ----------------------------------------------------------------------------------------


def test_run_job_records_success_and_does_not_run_twice(db: Database) -> None:
    job_id, calls = _new_job(db), []

    def work(ctx: JobContext) -> dict[str, Any]:
        calls.append(ctx.params)
        ctx.progress(3, 3)
        return {"sum": ctx.params["n"] * 2}

    assert run_job(job_id, "task-1", work, db=db) == {"sum": 6}
    before = _read(db, job_id)
    assert run_job(job_id, "task-2", work, db=db) == {"sum": 6}  # redelivered: the stored result
    after = _read(db, job_id)
    assert calls == [{"n": 3}]
    assert (after.status, after.task_id, after.finished_at) == ("succeeded", "task-1", before.finished_at)


def test_run_job_records_failure_and_reraises(db: Database) -> None:
    job_id = _new_job(db)

    def broken(ctx: JobContext) -> dict[str, Any]:
        ctx.progress(1, 4)
        raise ValueError("the catalogue has no items")

    with pytest.raises(ValueError, match="no items"):
        run_job(job_id, "task-f", broken, db=db)
    job = _read(db, job_id)
    assert (job.status, job.error, job.progress) == ("failed", "ValueError: the catalogue has no items", 0.25)
    assert job.finished_at is not None
    assert run_job(job_id, "task-g", lambda ctx: {"ok": 1}, db=db) == {"ok": 1}  # a retry may succeed
    assert _read(db, job_id).status == "succeeded"


def test_a_job_cancelled_while_it_runs_stops_at_its_next_report(db: Database) -> None:
    job_id, steps = _new_job(db), []

    def long_work(ctx: JobContext) -> dict[str, Any]:
        for step in range(100):
            steps.append(step)
            ctx.progress(step, 100)
            if step == 3:  # ops cancel it from another connection meanwhile
                with db.transaction() as session:
                    cancel_job(session=session, job_id=job_id)
            time.sleep(0.02)
        return {"finished": True}

    assert run_job(job_id, "task-c", long_work, db=db) is None
    job = _read(db, job_id)
    # Reports are written at most every 0.2 s: the next written one, about ten steps later, stops it.
    assert 4 <= len(steps) <= 40 and (job.status, job.result, job.error) == ("cancelled", None, None), steps
    assert job.message is not None and job.message.startswith("cancelled while running")
    ran = len(steps)
    assert run_job(job_id, "task-d", long_work, db=db) is None and len(steps) == ran  # a redelivery does nothing

    wrapped = _new_job(db)

    def wrapping(ctx: JobContext) -> dict[str, Any]:  # work that turns any error into its own
        with db.transaction() as session:
            cancel_job(session=session, job_id=wrapped)
        try:
            ctx.progress(1, 2)
        except Exception as exc:
            raise RuntimeError("training interrupted") from exc
        return {}

    assert run_job(wrapped, None, wrapping, db=db) is None and _read(db, wrapped).status == "cancelled"

    late = _new_job(db)

    def past_its_last_report(ctx: JobContext) -> dict[str, Any]:
        with db.transaction() as session:
            cancel_job(session=session, job_id=late)
        return {"done": True}

    assert run_job(late, None, past_its_last_report, db=db) is None  # its result is not recorded
    assert (_read(db, late).status, _read(db, late).result) == ("cancelled", None)


def test_unserialisable_result_fails_the_job(db: Database) -> None:
    job_id = _new_job(db)
    with pytest.raises(Exception, match="serializable"):
        run_job(job_id, None, lambda ctx: {"when": object()}, db=db)
    assert _read(db, job_id).status == "failed"


def test_enqueue_failure_marks_the_job_failed(db: Database) -> None:
    settings = WorkerSettings(database_url=str(db.url), broker_url="amqp://guest:guest@127.0.0.1:1//")
    app = create_app(settings)
    # Fail at once (nothing listens on port 1) rather than after kombu's retries.
    app.conf.task_publish_retry = False
    app.conf.broker_transport_options = {"max_retries": 1, "interval_start": 0}
    with pytest.raises(Exception):  # noqa: B017  # kombu's OperationalError; the row is what matters
        submit_job(db=db, kind="ping", params={}, task=app)
    with db.sessions() as session:
        job = session.scalars(select(Job).where(Job.error.like("could not enqueue%"))).one()
    assert job.status == "failed"


# --- the app's configuration -------------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("RECENGINE_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_defaults_to_the_configured_database(clean_env: pytest.MonkeyPatch) -> None:
    conf = create_app(Settings(database_url=PG_URL)).conf
    assert conf.broker_url == PG_URL  # kombu must see no "sqla+": the transport is named apart
    assert conf.broker_transport == f"workers.app:{PostgresTransport.__name__}"
    assert conf.broker_transport_options == {"polling_interval": 1.0}
    assert conf.result_backend == "db+postgresql+psycopg://rec:secret@db.example:5432/rec"
    assert conf.task_default_queue == "recengine"
    assert (conf.task_acks_late, conf.task_reject_on_worker_lost, conf.worker_prefetch_multiplier) == (True, True, 1)
    assert (conf.task_serializer, conf.accept_content, conf.task_track_started) == ("json", ["json"], True)
    assert conf.worker_cancel_long_running_tasks_on_connection_loss is True  # its lock died: redelivered elsewhere
    assert conf.result_expires == timedelta(days=7)  # Celery's copy of a result lives as long as the job's row
    clean_env.setenv("RECENGINE_JOB_RETENTION_DAYS", "0.5")
    assert create_app(Settings(database_url=PG_URL)).conf.result_expires == timedelta(hours=12)


def test_explicit_broker_and_backend(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("RECENGINE_BROKER_URL", REDIS_URL)
    conf = create_app(Settings(database_url=PG_URL)).conf
    assert (conf.broker_url, conf.broker_transport) == (REDIS_URL, None)
    assert conf.broker_transport_options["visibility_timeout"] >= 6 * 3600
    assert conf.result_backend.startswith("db+postgresql+psycopg://")
    clean_env.setenv("RECENGINE_RESULT_BACKEND", "redis://127.0.0.1:6379/1")
    clean_env.setenv("RECENGINE_BROKER_POLLING_INTERVAL", "0.2")
    assert create_app(Settings(database_url=PG_URL)).conf.result_backend == "redis://127.0.0.1:6379/1"
    clean_env.setenv("RECENGINE_BROKER_URL", AMQP_URL)
    conf = create_app(Settings(database_url=PG_URL)).conf
    assert (conf.broker_url, conf.worker_cancel_long_running_tasks_on_connection_loss) == (AMQP_URL, True)


def test_a_bad_setting_is_one_line_naming_its_variable(clean_env: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from recengine.api.settings import ApiSettings
    from recengine.cli import app as cli_app
    from recengine.devices import resolve_device

    clean_env.setenv("RECENGINE_API_TORCH_THREADS", "abc")
    with pytest.raises(ConfigurationError, match="RECENGINE_API_TORCH_THREADS='abc': Input should be a valid integer"):
        ApiSettings()
    clean_env.delenv("RECENGINE_API_TORCH_THREADS")
    clean_env.setenv("RECENGINE_API_INDEX_NAME", "../elsewhere")  # one folder under the indexes dir, no more
    with pytest.raises(ConfigurationError, match=r"RECENGINE_API_INDEX_NAME='\.\./elsewhere': String should match"):
        ApiSettings()
    clean_env.delenv("RECENGINE_API_INDEX_NAME")
    clean_env.setenv("RECENGINE_BROKER_POLLING_INTERVAL", "soon")
    with pytest.raises(ConfigurationError, match="RECENGINE_BROKER_POLLING_INTERVAL='soon'"):
        WorkerSettings()

    def no_exec(*args: object) -> None:  # were the check gone, the test process must not turn into a worker
        raise AssertionError("recengine worker handed a bad setting over to Celery")

    clean_env.setattr(os, "execv", no_exec)
    worker = CliRunner().invoke(cli_app, ["worker"])  # checked before Celery's loader would trace back
    assert isinstance(worker.exception, ConfigurationError), worker.output
    with pytest.raises(ConfigurationError, match="'gpu9' is not a torch device"):
        resolve_device("gpu9")
    clean_env.setenv("RECENGINE_DEVICE", "gpu9")  # refused when read, not when the first model loads
    with pytest.raises(ConfigurationError, match="RECENGINE_DEVICE='gpu9': String should match"):
        Settings()
    clean_env.setenv("RECENGINE_DEVICE", "cuda:1")
    assert Settings().device == "cuda:1"
    clean_env.delenv("RECENGINE_DEVICE")
    for url in ("recs.example.com", "ftp://recs.example.com", "https://", "https://recs.example.com/?a=1"):
        clean_env.setenv("RECENGINE_API_PUBLIC_URL", url)  # "recs.example.com" made relative links
        with pytest.raises(ConfigurationError, match=r"RECENGINE_API_PUBLIC_URL=.*must be empty or an http"):
            Settings()
    clean_env.setenv("RECENGINE_API_PUBLIC_URL", "https://shop.example.com/recs/")
    assert Settings().api_public_url == "https://shop.example.com/recs"
    clean_env.setenv("RECENGINE_BROKER_URL", "rabbit://guest:s3cret@mq.example.com//")
    with pytest.raises(ConfigurationError, match="unknown broker transport") as info:
        Settings()
    assert "s3cret" not in str(info.value) and "guest:***@mq.example.com" in str(info.value)
    for url in ("foo://x", "127.0.0.1:6379"):  # kombu's KeyError traceback when the worker connected
        clean_env.setenv("RECENGINE_BROKER_URL", url)
        with pytest.raises(ConfigurationError, match=r"RECENGINE_BROKER_URL=.*unknown broker transport"):
            Settings()
        worker = CliRunner().invoke(cli_app, ["worker"])
        assert isinstance(worker.exception, ConfigurationError), worker.output
    for url in (REDIS_URL, AMQP_URL, "sqla+postgresql+psycopg://q@broker/jobs"):
        clean_env.setenv("RECENGINE_BROKER_URL", url)
        assert Settings().broker_url == url
    clean_env.delenv("RECENGINE_BROKER_URL")
    clean_env.setenv("RECENGINE_RESULT_BACKEND", "foo://x")  # Celery's "No module named 'foo'" at worker start
    with pytest.raises(ConfigurationError, match=r"RECENGINE_RESULT_BACKEND=.*unknown result backend 'foo'"):
        Settings()
    for url in (REDIS_URL, "rpc://", "db+postgresql+psycopg://q@h/results"):
        clean_env.setenv("RECENGINE_RESULT_BACKEND", url)
        assert Settings().result_backend == url


def test_sqla_broker_urls(clean_env: pytest.MonkeyPatch) -> None:
    settings = WorkerSettings(database_url=PG_URL, broker_url="sqla+postgresql+psycopg://q@broker/jobs")
    conf = create_app(settings).conf
    assert (conf.broker_url, conf.broker_transport) == ("postgresql://q@broker/jobs", "workers.app:PostgresTransport")
    other = WorkerSettings(database_url=PG_URL, broker_url="sqla+sqlite:///jobs.db")
    conf = create_app(other).conf
    assert (conf.broker_url, conf.broker_transport_options) == ("sqla+sqlite:///jobs.db", {})  # upstream's own


def test_paths_in_settings_are_absolute_and_expanded(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A service manager or an .env file does not expand "~"; a relative data dir was stored relative in
    model_versions and index_versions, where a worker started in another folder found nothing."""
    clean_env.setenv("HOME", str(tmp_path / "home"))
    clean_env.chdir(tmp_path)
    clean_env.setenv("RECENGINE_DATA_DIR", "~/shop")
    clean_env.setenv("RECENGINE_CATALOGUE_PATH", "catalogue")
    settings = Settings()
    assert settings.data_dir == tmp_path / "home" / "shop" and settings.checkpoints_dir.is_absolute()
    assert settings.catalogue_path == tmp_path / "catalogue"
    assert Settings(data_dir=Path("data")).indexes_dir == tmp_path / "data" / "indexes"


def test_building_the_app_starts_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECENGINE_")}
    env["XDG_DATA_HOME"] = str(tmp_path)
    code = "import workers.app, workers.tasks, workers.jobs; assert not workers.app.app.configured"
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, check=True, timeout=60)
    assert not (tmp_path / "recengine").exists()  # no pgdata: the embedded server was not started


def test_embedded_default_joins_the_server(server_url: URL, clean_env: pytest.MonkeyPatch) -> None:
    host = Path(str(server_url.query.get("host", "")))
    if os.environ.get("RECENGINE_TEST_DATABASE_URL") or host.name != "pgdata":
        pytest.skip("the tests do not run on an embedded server")
    name = f"recengine_test_{uuid.uuid4().hex[:12]}"
    app = create_app(Settings(database_url=None, data_dir=host.parent, database_name=name))
    try:
        broker, backend = make_url(app.conf.broker_url), make_url(app.conf.result_backend.removeprefix("db+"))
        assert (broker.drivername, broker.database, broker.query["host"]) == ("postgresql", name, str(host))
        assert (backend.drivername, backend.database, backend.query["host"]) == ("postgresql+psycopg", name, str(host))
    finally:
        admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --- a real worker ----------------------------------------------------------------------------------------------


@pytest.fixture(
    scope="module",
    params=[pytest.param(None, id="postgres"), pytest.param(REDIS_URL, id="redis"), pytest.param(AMQP_URL, id="amqp")],
)
def worker(
    request: pytest.FixtureRequest, engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerHandle]:
    broker: str | None = request.param
    if broker is not None and not broker_reachable(broker):
        pytest.skip(f"no broker answers at {broker} (or its client library is missing)")
    # The database is this module's own; a shared broker gets a queue of its own too.
    queue = "recengine" if broker is None else f"recengine-test-{uuid.uuid4().hex[:8]}"
    with celery_worker(engine.url, tmp_path_factory.mktemp("worker"), broker_url=broker, queue=queue) as handle:
        yield handle


def test_ping_goes_pending_running_succeeded(worker: WorkerHandle) -> None:
    job = submit_job(db=worker.db, kind="ping", params={"hold_s": 0.5}, task=worker.app)
    assert job.status == "pending" and job.task_id and job.created_at is not None  # readable though detached
    seen: list[tuple[str, float]] = []
    done = worker.wait_for_job(job.id, watch=lambda j: seen.append((j.status, j.progress)))
    assert ("running", 0.5) in seen  # progress written by the worker, visible here while it runs
    assert (done.status, done.progress, done.error) == ("succeeded", 1.0, None)
    assert done.result == {"worker": worker.node, "host": os.uname().nodename, "pid": worker.process.pid}
    assert AsyncResult(job.task_id, app=worker.app).get(timeout=10) == done.result  # the result backend too


def test_a_worker_deletes_ended_jobs_and_their_celery_results_past_the_retention(worker: WorkerHandle) -> None:
    """A nightly batch's result (about 0.8 MB stored per 1,000 requests) in jobs, and a row per task in Celery's
    celery_taskmeta, were never deleted."""
    stale_task = str(uuid.uuid4())
    with worker.db.transaction() as session:
        old = {s: _planted(session, s, 30, task_id=str(uuid.uuid4())) for s in ("succeeded", "failed", "running")}
        recent = _planted(session, "succeeded", 1)
    worker.app.backend.store_result(stale_task, {"answers": 1000}, "SUCCESS")
    with worker.db.engine.begin() as conn:
        conn.execute(text("UPDATE celery_taskmeta SET date_done = date_done - interval '30 days' WHERE task_id = :t"),
                     {"t": stale_task})  # fmt: skip
    try:
        ping = submit_job(db=worker.db, kind="ping", params={}, task=worker.app)
        done = worker.wait_for_job(ping.id)
        deadline = time.monotonic() + 20
        while (_exists(worker.db, old["succeeded"]) or _stored(worker.db, stale_task)) and time.monotonic() < deadline:
            time.sleep(0.2)  # the worker prunes after the task's result is recorded: jobs, then Celery's rows
        wanted = {old["running"], recent, ping.id}
        with worker.db.sessions() as session:
            left = set(session.scalars(select(Job.id).where(Job.id.in_([*old.values(), recent, ping.id]))))
        stale_rows = _stored(worker.db, stale_task)
        assert left == wanted, worker.log_tail()
        assert stale_rows == 0, worker.log_tail()
        assert AsyncResult(ping.task_id, app=worker.app).get(timeout=10) == done.result  # today's result stays
    finally:
        with worker.db.transaction() as session:
            session.execute(delete(Job).where(Job.id.in_([old["running"], recent])))


def test_a_worker_prunes_at_most_once_per_interval(engine: Engine, tmp_path: Path) -> None:
    """Each task paid both deletes: 20 ms and 17 ms with a week of a busy shop's 100,000 jobs and Celery rows."""
    with celery_worker(engine.url, tmp_path, job_prune_interval_s=3600) as worker:  # its ready ping pruned
        with worker.db.transaction() as session:
            old = _planted(session, "succeeded", 30)
        try:
            ping = submit_job(db=worker.db, kind="ping", params={}, task=worker.app)
            worker.wait_for_job(ping.id)
            AsyncResult(ping.task_id, app=worker.app).get(timeout=10)
            time.sleep(1.0)  # the prune, had it been due, runs after the result is stored
            assert _exists(worker.db, old), worker.log_tail()
        finally:
            with worker.db.transaction() as session:
                session.execute(delete(Job).where(Job.id == old))


def _stored(db: Database, task_id: str) -> int:
    with db.sessions() as session:
        return int(session.scalar(text("SELECT count(*) FROM celery_taskmeta WHERE task_id = :t"), {"t": task_id}))


def _exists(db: Database, job_id: int) -> bool:
    with db.sessions() as session:
        return session.get(Job, job_id) is not None


def test_succeeded_job_is_not_run_twice(worker: WorkerHandle) -> None:
    job = submit_job(db=worker.db, kind="ping", params={}, task=worker.app)
    first = worker.wait_for_job(job.id)
    result = AsyncResult(job.task_id, app=worker.app)
    result.get(timeout=10)
    result.forget()
    enqueue(worker.app, job)  # the same job and task id again, as a redelivery would
    assert AsyncResult(job.task_id, app=worker.app).get(timeout=15) == first.result
    again = worker.read_job(job.id)
    assert (again.status, again.result, again.started_at, again.finished_at) == (
        "succeeded", first.result, first.started_at, first.finished_at,
    )  # fmt: skip
    with worker.db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Job).where(Job.task_id == job.task_id)) == 1


def test_jobs_cli_lists_and_cancels_what_a_worker_runs(worker: WorkerHandle) -> None:
    from typer.testing import CliRunner

    from recengine.cli import app as cli_app

    env = {"RECENGINE_DATABASE_URL": worker.db.url.render_as_string(hide_password=False), "COLUMNS": "200"}
    job = submit_job(db=worker.db, kind="ping", params={"hold_s": 8}, task=worker.app)  # time to list and cancel
    deadline = time.monotonic() + 20
    while worker.read_job(job.id).status != "running":
        assert time.monotonic() < deadline, worker.log_tail()
        time.sleep(0.05)
    listed = CliRunner().invoke(cli_app, ["jobs", "list", "--status", "running"], env=env)
    assert listed.exit_code == 0 and f"{job.id} " in listed.output and "ping" in listed.output, listed.output
    cancelled = CliRunner().invoke(cli_app, ["jobs", "cancel", str(job.id)], env=env)
    assert cancelled.exit_code == 0 and "cancelled while running" in cancelled.output, cancelled.output
    assert AsyncResult(job.task_id, app=worker.app).get(timeout=30) is None  # the task stopped without a result
    done = worker.read_job(job.id)
    assert (done.status, done.result) == ("cancelled", None), worker.log_tail()
    again = CliRunner().invoke(cli_app, ["jobs", "cancel", str(job.id)], env=env)
    assert isinstance(again.exception, JobStateError)  # `main` prints it as one line


def test_killed_worker_job_is_redelivered_and_finished(worker: WorkerHandle) -> None:
    if worker.settings.broker_url and worker.settings.broker_url.startswith("redis"):
        pytest.skip("Redis redelivers only after its visibility timeout (12 h, longer than any job)")
    job = submit_job(db=worker.db, kind="ping", params={"hold_s": 5}, task=worker.app)
    deadline = time.monotonic() + 20
    while worker.read_job(job.id).status != "running":
        assert time.monotonic() < deadline, worker.log_tail()
        time.sleep(0.05)
    first_pid = worker.process.pid
    worker.kill()
    assert worker.read_job(job.id).status == "running"  # nobody is left to say otherwise
    worker.restart()
    done = worker.wait_for_job(job.id, timeout_s=60)
    assert done.status == "succeeded", worker.log_tail()
    assert done.result is not None and done.result["pid"] == worker.process.pid != first_pid
    with worker.db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Job).where(Job.task_id == job.task_id)) == 1
