"""`recengine worker` and `recengine jobs ...`: background jobs for ops."""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from recengine.cli.common import console, open_db
from recengine.cli.outputs import output_file
from recengine.cli.prose import Typer
from recengine.store.jobs import cancel_job, get_job, list_jobs

jobs_app = Typer(help="Background jobs run by Celery workers.", no_args_is_help=True)


def worker(
    queue: Annotated[str, typer.Option(help="Queue to consume.")] = "recengine",
    concurrency: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    loglevel: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        typer.Option(help="Celery log level.", case_sensitive=False),
    ] = "INFO",
) -> None:
    """Start a Celery worker for recengine's jobs (broker: the database unless RECENGINE_BROKER_URL is set)."""
    from workers.app import WorkerSettings

    WorkerSettings()  # a bad setting is one line here, not a traceback from inside Celery's loader
    args = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-Q", queue,
            f"--concurrency={concurrency}", f"--loglevel={loglevel}"]  # fmt: skip
    os.execv(sys.executable, args)


ResultFile = Annotated[Path | None, typer.Option(help="Write the job's result here (JSON) instead of showing it.",
                                                 callback=output_file)]  # fmt: skip


@jobs_app.command("show")
def show(
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    out: ResultFile = None,
) -> None:
    """Status, progress and result of one job (a large result is summarised: --out writes it whole)."""
    with open_db() as db, db.sessions() as session:
        job = get_job(session=session, job_id=job_id)
        console.print(f"job {job.id} ({job.kind}): {job.status}, {job.progress:.0%} {job.message or ''}")
        if job.result is not None:
            text = json.dumps(job.result, ensure_ascii=False)
            if out is not None:
                out.write_text(text + "\n", encoding="utf-8")
                console.print(f"result: {out} ({len(text):,} characters of JSON)")
            elif len(text) > SHOWN_MAX:  # a batch of 10,000 answers would scroll by for minutes
                console.print(f"result: {_outline(job.result)}, {len(text):,} characters of JSON; "
                              f"`recengine jobs show {job.id} --out FILE` writes it")  # fmt: skip
            else:
                console.print(job.result)
        if job.error:
            console.print(f"[red]{job.error}[/red]")


#: Results longer than this (as JSON) are summarised rather than printed.
SHOWN_MAX = 20_000


def _outline(result: dict[str, Any]) -> str:
    """The keys of a result, lists by their length and scalars as they are."""
    parts = []
    for key, value in result.items():
        if isinstance(value, list):
            parts.append(f"{key}: {len(value):,} entries")
        elif isinstance(value, dict):
            parts.append(f"{key}: {len(value):,} keys")
        else:
            parts.append(f"{key}: {value!r}")
    return "{" + ", ".join(parts) + "}"


@jobs_app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="Only jobs of this status (pending, running, failed, ...).")]
    = None,
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind (index_sync, fit_preferences, ...).")]
    = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
) -> None:  # fmt: skip
    """The newest jobs: kind, status, progress, and the error of a failed one."""
    with open_db() as db, db.sessions() as session:
        jobs = list_jobs(session=session, status=status, kind=kind, limit=limit)
    table = Table(title=f"jobs, newest first ({len(jobs)}" + (f", {status}" if status else "") + ")")
    for col in ("id", "kind", "status", "progress", "created", "message / error"):
        table.add_column(col)
    for job in jobs:
        note = job.error or job.message or ""
        table.add_row(str(job.id), job.kind, job.status, f"{job.progress:.0%}",
                      job.created_at.isoformat(timespec="seconds"), note[:120])  # fmt: skip
    console.print(table)


@jobs_app.command("cancel")
def cancel(job_id: Annotated[int, typer.Argument(help="Job id.")]) -> None:
    """Cancel a pending job (it never runs) or a running one (it stops at its next progress report)."""
    with open_db() as db, db.transaction() as session:
        job = cancel_job(session=session, job_id=job_id)
    console.print(f"job {job.id} ({job.kind}): {job.message}")


@jobs_app.command("prune")
def prune(
    older_than_days: Annotated[float | None, typer.Option(
        help="Delete jobs that ended more than this many days ago; default RECENGINE_JOB_RETENTION_DAYS (7).",
        min=0)] = None,
) -> None:  # fmt: skip
    """Delete ended jobs (succeeded, failed, cancelled) and Celery's stored results older than the retention now.

    Workers already do this every RECENGINE_JOB_PRUNE_INTERVAL_S (300 s); this is for a deployment whose workers are
    stopped, or to free
    space at once with a shorter retention. Pending and running jobs are never deleted."""
    from workers.app import WorkerSettings, create_app
    from workers.housekeeping import prune_ended

    settings = WorkerSettings()
    days = settings.job_retention_days if older_than_days is None else older_than_days
    retention = timedelta(days=days)
    app = create_app(settings)
    app.conf.result_expires = retention  # what Celery's database backend deletes up to
    try:
        with open_db() as db:
            total = prune_ended(db=db, backend=app.backend, retention=retention)
    finally:
        app.close()
    console.print(f"deleted {total:,} jobs that ended more than {days:g} days ago, and Celery's results as old")
