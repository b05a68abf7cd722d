"""recengine's Celery tasks: each takes a job id and makes one library call through :func:`workers.jobs.run_job`.

Tasks are shared (registered on every app :func:`workers.app.create_app` makes) and are sent by name
(:func:`workers.jobs.task_name`), so submitters never import this module or what the tasks need.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

from celery import Task, shared_task

from workers.jobs import JobContext, run_job, task_name, worker_database

#: A ping may hold the running state this long at most, for a check that watches its progress.
MAX_PING_HOLD_S = 30.0


def pong(context: JobContext, worker: str) -> dict[str, Any]:
    """The health check's work: report half-way, hold ``params["hold_s"]`` seconds, name the worker.

    Args:
        context: The ping job's context; ``params`` may hold ``hold_s`` (seconds, capped at 30).
        worker: Celery's node name of the worker running the task.

    Returns:
        ``{"worker": node name, "host": host name, "pid": process id}``.
    """
    context.progress(1, 2)
    hold_s = min(max(float(context.params.get("hold_s", 0.0)), 0.0), MAX_PING_HOLD_S)
    time.sleep(hold_s)
    return {"worker": worker, "host": socket.gethostname(), "pid": os.getpid()}


@shared_task(name=task_name("ping"), bind=True)
def ping(self: Task, job_id: int) -> dict[str, Any] | None:
    """Health check of the worker deployment: job ``job_id`` (kind ``ping``) goes running, half, succeeded."""
    return run_job(job_id, self.request.id, lambda ctx: pong(ctx, self.request.hostname), db=worker_database(self.app))


def fit_user_job(context: JobContext, cache_dir: Path) -> dict[str, Any]:
    """The preference-fitting job: one library call (:func:`recengine.preferences.service.fit_and_store`)."""
    from recengine.preferences.service import fit_and_store

    return fit_and_store(sessions=context.db.sessions, user_id=int(context.params["user_id"]),
                         model_version_id=context.params.get("model_version_id"), cache_dir=cache_dir,
                         progress=context.progress)  # fmt: skip


@shared_task(name=task_name("fit_preferences"), bind=True)
def fit_preferences(self: Task, job_id: int) -> dict[str, Any] | None:
    """Fit θu of ``params["user_id"]`` against ``params["model_version_id"]`` (default: newest) and store it."""
    cache_dir = self.app.settings.data_dir / "cache"
    return run_job(job_id, self.request.id, lambda ctx: fit_user_job(ctx, cache_dir), db=worker_database(self.app))


def index_job(context: JobContext, indexes_dir: Path, *, full: bool) -> dict[str, Any]:
    """The indexing jobs: one library call (:mod:`recengine.indexing.service`) with the embedder the params name."""
    from recengine.embedding.embedder import EMBEDDERS, resolve_embedder
    from recengine.indexing.service import DEFAULT_NAME, build_index, sync_index

    params = context.params
    with context.db.sessions() as session:
        embedder = resolve_embedder(session=session, kind=str(params.get("embedder", EMBEDDERS[0])),
                                    model_version_id=params.get("model_version_id"),
                                    version=params.get("embedder_version"))  # fmt: skip
    run = build_index if full else sync_index
    report = run(db=context.db, root=indexes_dir, embedder=embedder, name=str(params.get("name", DEFAULT_NAME)),
                 progress=context.progress)  # fmt: skip
    return report.as_dict()


@shared_task(name=task_name("index_build"), bind=True)
def index_build(self: Task, job_id: int) -> dict[str, Any] | None:
    """Embed every served item and publish a new index version (params: name, embedder, model_version_id)."""
    indexes_dir = self.app.settings.indexes_dir
    return run_job(job_id, self.request.id, lambda ctx: index_job(ctx, indexes_dir, full=True),
                   db=worker_database(self.app))  # fmt: skip


@shared_task(name=task_name("index_sync"), bind=True)
def index_sync(self: Task, job_id: int) -> dict[str, Any] | None:
    """Bring the index in step with the catalogue: add, remove and re-embed what changed (same params)."""
    indexes_dir = self.app.settings.indexes_dir
    return run_job(job_id, self.request.id, lambda ctx: index_job(ctx, indexes_dir, full=False),
                   db=worker_database(self.app))  # fmt: skip


@shared_task(name=task_name("train"), bind=True)
def train(self: Task, job_id: int) -> dict[str, Any] | None:
    """Train a model (params: family, variant, dataset, TrainConfig fields, ...; see recengine.training.jobs)."""
    from recengine.training.jobs import train_from_params

    data_dir = self.app.settings.data_dir
    return run_job(job_id, self.request.id,
                   lambda ctx: train_from_params(db=ctx.db, data_dir=data_dir, params=ctx.params,
                                                 progress=ctx.progress),
                   db=worker_database(self.app))  # fmt: skip
