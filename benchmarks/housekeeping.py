"""What a worker's job housekeeping costs each task, with a week of a busy shop's jobs kept.

A scratch database (embedded PostgreSQL unless RECENGINE_DATABASE_URL is set) gets ``--jobs`` ended jobs spread
over the retention (none old enough to delete) and as many rows in Celery's ``celery_taskmeta``, as a shop that
ends that many tasks a week keeps. Then, with Celery's real database result backend:

* the reference, the earlier design: :func:`workers.housekeeping.prune_ended` after every task, so each task
  pays one full prune (the jobs delete and the backend's ``cleanup()``);
* recengine: the same prune at most once per ``RECENGINE_JOB_PRUNE_INTERVAL_S`` per worker process, so a task
  pays the prune divided by the tasks that end in one interval at this rate, plus the interval check.

    .venv/bin/python -m benchmarks.housekeeping [--jobs 100000] [--interval-s 300] [--rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta

from sqlalchemy import Engine, text
from sqlalchemy.orm import sessionmaker

from benchmarks._common import describe_database, scratch_database
from recengine.store.database import Database
from workers.app import WorkerSettings, create_app
from workers.housekeeping import WORKER_BATCHES, Every, prune_ended

RETENTION = timedelta(days=7)


def _fill(db: Database, backend: object, jobs: int) -> None:
    spread_s = int(RETENTION.total_seconds()) - 3600  # all inside the retention: a steady state prunes ~nothing
    backend.cleanup()  # type: ignore[attr-defined]  # Celery creates its tables on first use
    with db.transaction() as session:
        session.execute(text(
            "INSERT INTO jobs (kind, status, progress, params, created_at, started_at, finished_at) "
            "SELECT 'fit_preferences', 'succeeded', 1, '{}', t, t, t FROM "
            "(SELECT now() - (g % :spread) * interval '1 second' AS t FROM generate_series(1, :n) g) s"),
            {"n": jobs, "spread": spread_s})  # fmt: skip
        session.execute(text(
            "INSERT INTO celery_taskmeta (id, task_id, status, date_done) "
            "SELECT g, 'bench-' || g, 'SUCCESS', (now() AT TIME ZONE 'UTC') - (g % :spread) * interval '1 second' "
            "FROM generate_series(1, :n) g"), {"n": jobs, "spread": spread_s})  # fmt: skip
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


def _ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def run(engine: Engine, jobs: int, interval_s: float, rounds: int) -> dict[str, float]:
    db = Database(url=engine.url, engine=engine, sessions=sessionmaker(engine, expire_on_commit=False),
                  embedded=False)  # fmt: skip
    app = create_app(WorkerSettings(database_url=engine.url.render_as_string(hide_password=False)))
    app.conf.result_expires = RETENTION
    try:
        _fill(db, app.backend, jobs)
        prunes, checks = [], []
        for _ in range(rounds):
            start = time.perf_counter()
            pruned = prune_ended(db=db, backend=app.backend, retention=RETENTION, batches=WORKER_BATCHES)
            prunes.append(time.perf_counter() - start)
            assert pruned == 0, "the filled jobs are all inside the retention"
        every = Every()
        for _ in range(1000):
            start = time.perf_counter()
            every.due(interval_s)
            checks.append(time.perf_counter() - start)
    finally:
        app.close()
    tasks_per_interval = jobs / RETENTION.total_seconds() * interval_s
    prune_ms = _ms(prunes)
    throttled_ms = prune_ms / max(tasks_per_interval, 1.0) + _ms(checks)
    return {"prune_ms": prune_ms, "tasks_per_interval": tasks_per_interval, "check_ms": _ms(checks),
            "throttled_ms": throttled_ms}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="Ended jobs (and Celery rows) kept.")
    parser.add_argument("--interval-s", type=float, default=300.0, help="RECENGINE_JOB_PRUNE_INTERVAL_S.")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with scratch_database() as engine:
        r = run(engine, args.jobs, args.interval_s, args.rounds)
    print(f"database: {describe_database()}; {args.jobs:,} ended jobs and Celery rows inside a 7-day retention")
    print(f"one prune (jobs delete + Celery cleanup), p50 of {args.rounds}: {r['prune_ms']:.1f} ms")
    print(f"tasks ending per {args.interval_s:g} s interval at this rate: {r['tasks_per_interval']:.1f}")
    print(
        f"per task: {r['prune_ms']:.2f} ms pruning after every task (reference), "
        f"{r['throttled_ms']:.3f} ms once per interval (interval check {r['check_ms'] * 1000:.2f} us)"
    )
    ratio = r["prune_ms"] / r["throttled_ms"]
    print(
        f"RESULT jobs={args.jobs} prune_ms_p50={r['prune_ms']:.1f} per_task_ms_every_task={r['prune_ms']:.2f} "
        f"per_task_ms_throttled={r['throttled_ms']:.3f} ratio={ratio:.0f}"
    )


if __name__ == "__main__":
    main()
