"""recengine's Celery tasks: each takes a job id and makes one library call through :func:`workers.jobs.run_job`.

Tasks are shared (registered on every app :func:`workers.app.create_app` makes) and are sent by name
(:func:`workers.jobs.task_name`), so submitters never import this module or what the tasks need.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from celery import Task, shared_task

from workers import housekeeping  # noqa: F401  # connects the pruning of ended jobs to every task's end
from workers.app import RecengineApp
from workers.jobs import JobContext, run_job, task_name, worker_app, worker_database

if TYPE_CHECKING:  # the API's answers import torch and FastAPI: loaded by the tasks that need them
    from recengine.api.answers import Responder

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


def fit_user_job(context: JobContext) -> dict[str, Any]:
    """The preference-fitting job: one library call (:func:`recengine.preferences.service.fit_and_store`)."""
    from recengine.preferences.service import fit_and_store

    params = context.params
    return fit_and_store(sessions=context.db.sessions, user_id=int(params["user_id"]),
                         model_version_id=params.get("model_version_id"), progress=context.progress)  # fmt: skip


@shared_task(name=task_name("fit_preferences"), bind=True)
def fit_preferences(self: Task, job_id: int) -> dict[str, Any] | None:
    """Fit θu of ``params["user_id"]`` against ``params["model_version_id"]`` (default: newest) and store it."""
    return run_job(job_id, self.request.id, fit_user_job, db=worker_database(self.app))


def index_job(context: JobContext, indexes_dir: Path, *, full: bool) -> dict[str, Any]:
    """The indexing jobs: one library call (:mod:`recengine.indexing.service`) with the embedder the params name
    (and, with ``inpaint_masks``, a folder of ``<external_id>.png`` masks on the worker's machine, kept with the
    items first: :func:`recengine.inpainting.repair.store_masks` with ``inpaint_model``, default the newest)."""
    from recengine.embedding.embedder import EMBEDDERS, resolve_embedder
    from recengine.indexing.service import DEFAULT_NAME, build_index, sync_index
    from recengine.inpainting.repair import store_masks

    params = context.params
    masks = params.get("inpaint_masks")
    if masks:
        with context.db.transaction() as session:
            store_masks(session=session, directory=Path(str(masks)), model=params.get("inpaint_model"))
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


def responder(app: RecengineApp) -> Responder:
    """What recommendation jobs answer with: the process's recommender, links under ``api_public_url``."""
    from recengine.api.answers import Responder
    from recengine.store.designs import PruneGate

    settings = app.serving_settings
    return Responder(recommender=app.recommender(), db=app.database(),
                     retention=timedelta(seconds=settings.api_design_retention_s),
                     base_url=settings.api_public_url.rstrip("/"), prune_gate=PruneGate())  # fmt: skip


def recommend_job(context: JobContext, answer_with: Callable[[], Responder]) -> dict[str, Any]:
    """One recommendation: params are a ``POST /v1/recommendations`` body, the result is the API's response.

    Args:
        context: The job's context.
        answer_with: Gives the responder; called once the params are valid, so that invalid params fail the
            job at once, without loading a designer.

    Raises:
        InvalidInputError: The params are not a valid request (the message names each invalid field).
    """
    from recengine.api.answers import parse_body
    from recengine.api.schemas import RecommendationRequest

    body = parse_body(RecommendationRequest, context.params, what="recommend job params")
    return answer_with().recommend(body).model_dump(mode="json")


def recommend_batch_job(context: JobContext, answer_with: Callable[[], Responder]) -> dict[str, Any]:
    """A batch of recommendations: params are ``{"requests": [...]}`` as for ``POST /v1/recommendations:batch``
    (up to :data:`~recengine.api.schemas.BATCH_JOB_MAX` entries), the result is the batch response; each entry
    has its own status and error, and progress counts the entries answered.

    Raises:
        InvalidInputError: The params are not a valid batch (the message names each invalid field).
    """
    from recengine.api.answers import parse_body
    from recengine.api.schemas import BatchJobRequest

    body = parse_body(BatchJobRequest, context.params, what="recommend_batch job params")
    return answer_with().batch(body.requests, progress=context.progress).model_dump(mode="json")


@shared_task(name=task_name("recommend"), bind=True)
def recommend(self: Task, job_id: int) -> dict[str, Any] | None:
    """Answer one recommendation request (params: the body of ``POST /v1/recommendations``)."""
    app = worker_app(self.app)
    return run_job(job_id, self.request.id, lambda ctx: recommend_job(ctx, lambda: responder(app)),
                   db=app.database())  # fmt: skip


@shared_task(name=task_name("recommend_batch"), bind=True)
def recommend_batch(self: Task, job_id: int) -> dict[str, Any] | None:
    """Answer a batch of recommendation requests (params: ``{"requests": [...]}``); returns a summary only.

    The job's row holds the whole result (``GET /v1/jobs/{id}``); Celery's result backend gets the counts by
    status, so a 10,000-entry answer is not stored twice.
    """
    from recengine.api.answers import batch_summary

    app = worker_app(self.app)
    result = run_job(job_id, self.request.id, lambda ctx: recommend_batch_job(ctx, lambda: responder(app)),
                     db=app.database())  # fmt: skip
    return None if result is None else batch_summary(result)
