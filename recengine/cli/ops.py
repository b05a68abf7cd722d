"""`recengine worker` and `recengine jobs ...`: background jobs for ops."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from recengine.cli.common import console, open_db
from recengine.store.jobs import get_job

jobs_app = typer.Typer(help="Background jobs run by Celery workers.", no_args_is_help=True)


def worker(
    queue: Annotated[str, typer.Option(help="Queue to consume.")] = "recengine",
    concurrency: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """Start a Celery worker for recengine's jobs (broker: the database unless RECENGINE_BROKER_URL is set)."""
    args = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-Q", queue,
            f"--concurrency={concurrency}", f"--loglevel={loglevel}"]  # fmt: skip
    os.execv(sys.executable, args)


@jobs_app.command("show")
def show(job_id: Annotated[int, typer.Argument(help="Job id.")]) -> None:
    """Status, progress and result of one job."""
    with open_db() as db, db.sessions() as session:
        job = get_job(session=session, job_id=job_id)
        console.print(f"job {job.id} ({job.kind}): {job.status}, {job.progress:.0%} {job.message or ''}")
        if job.result is not None:
            console.print(job.result)
        if job.error:
            console.print(f"[red]{job.error}[/red]")
