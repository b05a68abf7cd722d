"""Operations: liveness, readiness, Prometheus metrics, and background jobs.

``/healthz`` says the process answers (it touches nothing); ``/readyz`` says it can serve recommendations
(database reachable and migrated, a designer and an index loaded) and what is missing when it cannot, so a
load balancer only sends traffic to a process that will answer it. ``/metrics`` is open, as Prometheus scrapes
it without credentials: it holds counts and latencies, no user or catalogue data; restrict it at the network
edge where that matters. A job can name users and items, so reading one needs a key.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from recengine.api.auth import Admin, StateDep, Writer
from recengine.api.errors import RETRY_AFTER, ApiError
from recengine.api.metrics import CONTENT_TYPE, ApiMetrics
from recengine.api.schemas import ErrorResponse, Health, JobOut, Readiness
from recengine.api.state import ApiState
from recengine.errors import RecengineError
from recengine.store.jobs import cancel_job, get_job


def build_router(metrics: ApiMetrics) -> APIRouter:
    """The operations routes; ``metrics`` is the app's own registry."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", response_model=Health)
    def healthz() -> Health:
        """The process is up (it checks nothing else: a restart would not fix a missing model)."""
        return Health(status="ok")

    @router.get("/readyz", response_model=Readiness, responses={503: {"model": ErrorResponse}})
    def readyz(state: StateDep) -> Readiness:
        """Ready to serve recommendations: 200, or 503 with each check's outcome in `error.details`."""
        checks, ok = _checks(state)
        if not ok:
            failed = [name for name, outcome in checks.items() if not outcome.startswith("ok")]
            raise ApiError(503, "not_ready", f"not ready: {', '.join(failed)}", details={"checks": checks},
                           headers=RETRY_AFTER)  # fmt: skip
        return Readiness(status="ready", checks=checks)

    @router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
    def prometheus() -> Response:
        """Prometheus text format: request latency by route, index size, jobs by kind and status, and the age of
        the oldest pending and longest running job by kind."""
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @router.get("/v1/jobs/{job_id}", response_model=JobOut, tags=["jobs"],
                responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse},
                           404: {"model": ErrorResponse}})  # fmt: skip
    def job(job_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="The job's id.")], state: StateDep,
            _: Writer) -> JobOut:  # fmt: skip
        """A background job's status, progress and result (or error). An ended job is kept for
        `RECENGINE_JOB_RETENTION_DAYS` (7 by default) after it ended, then deleted: 404."""
        with state.db.sessions() as session:
            return JobOut.model_validate(get_job(session=session, job_id=job_id))

    @router.post("/v1/jobs/{job_id}:cancel", response_model=JobOut, tags=["jobs"],
                 responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse},
                            404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})  # fmt: skip
    def cancel(job_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="The job's id.")], state: StateDep,
               _: Admin) -> JobOut:  # fmt: skip
        """Cancel a pending job (it never runs) or a running one (it stops at its next progress report); 409
        when it already ended. An admin's call: any job, whoever queued it."""
        with state.db.transaction() as session:
            return JobOut.model_validate(cancel_job(session=session, job_id=job_id))

    return router


def _checks(state: ApiState) -> tuple[dict[str, str], bool]:
    checks: dict[str, str] = {}
    try:
        state.ping_database()
        state.check_schema()
        checks["database"] = "ok"
    except RecengineError as exc:
        checks["database"] = str(exc)
    except Exception as exc:  # a driver error: unreachable, refused, authentication
        checks["database"] = f"unreachable: {type(exc).__name__}: {exc}"
    if checks["database"] != "ok":
        checks["recommender"] = "not tried: the database is not ready"
        return checks, False
    try:
        recommender = state.recommender()
    except RecengineError as exc:
        checks["recommender"] = str(exc)
        return checks, False
    index = recommender.serving.current().index
    checks["designer"] = f"ok: {recommender.designer.label}"
    checks["index"] = f"ok: {state.settings.api_index_name} {recommender.serving.version} ({len(index)} items)"
    if recommender.serving.problem is not None:  # still ready: the version served is whole
        checks["index"] += f"; {recommender.serving.problem}"
    return checks, True
