"""A real Celery worker in a subprocess for tests: started on a migrated database (and, optionally, another
broker), ready once it has run a ping job, stopped at teardown."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kombu.connection import Connection
from sqlalchemy.engine import URL
from sqlalchemy.orm import sessionmaker

from recengine.store.database import Database, make_engine
from recengine.store.jobs import get_job
from recengine.store.models import Job
from workers.app import RecengineApp, WorkerSettings, create_app
from workers.jobs import submit_job

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TERMINAL = ("succeeded", "failed", "cancelled")
#: Idle polling of the database broker in tests (production default: 1 s).
POLLING_INTERVAL_S = 0.2


@dataclass
class WorkerHandle:
    """A running worker and the submitting side that talks to it."""

    app: RecengineApp  # the submitter's app: same database, broker and queue as the worker
    db: Database
    node: str
    process: subprocess.Popen[bytes]
    log: Path
    settings: WorkerSettings

    def kill(self) -> None:
        """SIGKILL the worker, as a crash or an OOM kill would: no shutdown code runs."""
        self.process.kill()
        self.process.wait()

    def restart(self) -> None:
        """Start a fresh worker process on the same settings (after :meth:`kill`)."""
        if self.process.poll() is None:
            self.kill()
        self.log = self.log.with_name(f"{self.log.stem}-restarted{self.log.suffix}")
        self.process = _start(self.settings, self.node, self.log)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def read_job(self, job_id: int) -> Job:
        with self.db.sessions() as session:  # a fresh session: what other connections see now
            return get_job(session=session, job_id=job_id)

    def wait_for_job(self, job_id: int, *, timeout_s: float = 20.0, watch: Callable[[Job], None] | None = None) -> Job:
        """Poll the job's row until it is finished; ``watch`` sees every state read on the way."""
        deadline = time.monotonic() + timeout_s
        while True:
            job = self.read_job(job_id)
            if watch is not None:
                watch(job)
            if job.status in TERMINAL:
                return job
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited ({self.process.returncode}):\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.status} after {timeout_s} s:\n{self.log_tail()}")
            time.sleep(0.05)


def broker_reachable(url: str) -> bool:
    """Whether a broker answers (and its client library is installed)."""
    try:
        with Connection(url, connect_timeout=1) as conn:  # type: ignore[no-untyped-call]
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception:  # missing library, refused, bad credentials: all mean "not here"
        return False
    return True


def _worker_env(settings: WorkerSettings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECENGINE_")}
    env.update(
        RECENGINE_DATABASE_URL=str(settings.database_url),
        RECENGINE_BROKER_POLLING_INTERVAL=str(settings.broker_polling_interval),
        RECENGINE_WORKER_QUEUE=settings.worker_queue,
        RECENGINE_DATA_DIR=str(settings.data_dir),
        RECENGINE_JOB_PRUNE_INTERVAL_S=str(settings.job_prune_interval_s),
        PYTHONUNBUFFERED="1",
    )
    if settings.broker_url:
        env["RECENGINE_BROKER_URL"] = settings.broker_url
    return env


def _start(settings: WorkerSettings, node: str, log: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "celery", "-A", "workers.app", "worker", "--pool=solo", "--concurrency=1",
        "-Q", settings.worker_queue, "--without-heartbeat", "--without-gossip", "--without-mingle",
        "--loglevel=INFO", "-n", node,
    ]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=PROJECT_ROOT, env=_worker_env(settings), stdout=out, stderr=out)


def _stop(process: subprocess.Popen[bytes]) -> None:
    # The worker is idle by now and its shutdown is not under test: a warm one (SIGTERM) first waits out a poll
    # timeout (seconds on the database broker, 10 s on RabbitMQ), so a short grace and then SIGKILL.
    process.terminate()
    try:
        process.wait(timeout=1)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _drop_queue(app: RecengineApp, queue: str) -> None:
    # A shared broker (Redis, RabbitMQ) outlives the test: leave no queue behind.
    with contextlib.suppress(Exception), app.connection_for_write() as conn:
        conn.default_channel.queue_delete(queue)


@contextlib.contextmanager
def celery_worker(
    database_url: URL,
    log_dir: Path,
    *,
    broker_url: str | None = None,
    queue: str = "recengine",
    ready_timeout_s: float = 45.0,
    data_dir: Path | None = None,
    job_prune_interval_s: float = 0.0,
) -> Iterator[WorkerHandle]:
    """Run ``celery -A workers.app worker`` (solo pool) on ``database_url`` until the block ends.

    Broker and result backend default to that database, as in production; ``broker_url`` replaces the broker.
    The worker counts as ready once it has run a ping job. It prunes ended jobs after every task unless
    ``job_prune_interval_s`` says otherwise, so a test sees each task's prune.
    """
    settings = WorkerSettings(
        database_url=database_url.render_as_string(hide_password=False),
        broker_url=broker_url,
        result_backend=None,
        broker_polling_interval=POLLING_INTERVAL_S,
        worker_queue=queue,
        data_dir=data_dir or log_dir / "data",
        job_prune_interval_s=job_prune_interval_s,
    )
    node = f"recengine-test-{os.getpid()}@{os.uname().nodename}"
    engine = make_engine(database_url)
    db = Database(url=engine.url, engine=engine, sessions=sessionmaker(engine, expire_on_commit=False), embedded=False)
    app = create_app(settings)
    log = log_dir / f"worker-{queue}.log"
    process = _start(settings, node, log)
    handle = WorkerHandle(app=app, db=db, node=node, process=process, log=log, settings=settings)
    try:
        ping = submit_job(db=db, kind="ping", params={}, task=app)
        job = handle.wait_for_job(ping.id, timeout_s=ready_timeout_s)
        assert job.status == "succeeded", handle.log_tail()
        yield handle
    finally:
        _stop(handle.process)
        if broker_url is not None:
            _drop_queue(app, queue)
        app.close()
        engine.dispose()
