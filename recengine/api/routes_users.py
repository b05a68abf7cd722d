"""``/v1/users/{user_id}/...``: a user's interactions, the fitting of their θu, and the vectors stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from recengine.api.auth import StateDep, Writer
from recengine.api.links import job_ref, job_url, request_base
from recengine.api.paths import UserKey
from recengine.api.routes_items import NO_NUL, OFFSET_MAX
from recengine.api.schemas import (
    LIST_MAX,
    ErrorResponse,
    FitRequest,
    InteractionsRequest,
    InteractionsResponse,
    JobRef,
    PreferenceOut,
    PreferencesResponse,
    UserListed,
    UserPage,
)
from recengine.errors import NotFoundError
from recengine.store.items import item_ids
from recengine.store.models import ModelVersion, get_row
from recengine.store.users import (
    NewInteraction,
    add_interactions,
    ensure_user,
    find_user,
    list_users,
    preferences_of,
)

router = APIRouter(tags=["users"], responses={
    401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 404: {"model": ErrorResponse},
    422: {"model": ErrorResponse}})  # fmt: skip


@router.get("/v1/users", response_model=UserPage)
def listing(
    state: StateDep,
    _: Writer,
    q: Annotated[str | None, Query(max_length=128, pattern=NO_NUL, description="Text in the external id.")] = None,
    limit: Annotated[int, Query(ge=1, le=LIST_MAX)] = 50,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> UserPage:
    """Users in id order, a page at a time, with whether a θu of their own is stored. Needs a key, like
    everything else about users: ids and histories are the shop's, not public."""
    with state.db.sessions() as session:
        rows, total = list_users(session=session, q=q or None, limit=limit, offset=offset)
    users = [UserListed(id=u.id, external_id=u.external_id, has_theta=u.has_theta, interactions=u.interactions)
             for u in rows]  # fmt: skip
    return UserPage(users=users, total=total, limit=limit, offset=offset)


@router.post("/v1/users/{user_id}/interactions", response_model=InteractionsResponse, status_code=201)
def record_interactions(user_id: UserKey, body: InteractionsRequest, state: StateDep,
                        _: Writer) -> InteractionsResponse:  # fmt: skip
    """Record views, likes and purchases of catalogue items (by external id). A user seen for the first time is
    created; all interactions are stored or none (an unknown item is a 404 naming it)."""
    with state.db.transaction() as session:
        user = ensure_user(session=session, external_id=user_id)
        ids = item_ids(session=session, external_ids=[i.item for i in body.interactions])
        rows = [NewInteraction(ids[i.item], i.kind, i.weight, i.occurred_at) for i in body.interactions]
        recorded = add_interactions(session=session, user_id=user.id, rows=rows)
        return InteractionsResponse(user=user.external_id, user_id=user.id, recorded=recorded)


@router.post("/v1/users/{user_id}/preferences:fit", response_model=JobRef, status_code=202)
def fit_preferences(user_id: UserKey, request: Request, response: Response, state: StateDep, _: Writer,
                    body: FitRequest | None = None) -> JobRef:  # fmt: skip
    """Queue a job fitting the user's θu from their history; follow it at the `Location` it returns. By default
    θu is fitted against the served designer's model, the one recommendations condition on."""
    model_version_id = body.model_version_id if body is not None else None
    if model_version_id is None:
        model_version_id = state.serving_model_version_id()
    with state.db.sessions() as session:
        user = find_user(session=session, user=user_id)
        if model_version_id is not None and get_row(session, ModelVersion, model_version_id) is None:
            raise NotFoundError(f"no model version {model_version_id}")
    job, _new = state.submit("fit_preferences", {"user_id": user.id, "model_version_id": model_version_id})
    response.headers["Location"] = job_url(request_base(request), job.id)
    return job_ref(request_base(request), job)


@router.get("/v1/users/{user_id}/preferences", response_model=PreferencesResponse)
def preferences(user_id: UserKey, state: StateDep, _: Writer) -> PreferencesResponse:
    """Every θu stored for the user; an empty list means recommendations use the population prior."""
    loaded = state.loaded
    with state.db.sessions() as session:
        user = find_user(session=session, user=user_id)
        rows = preferences_of(session=session, user_id=user.id)
        out = [PreferenceOut(model_version_id=v.id, model_family=v.family, model_name=v.name, dim=p.dim,
                             vector=list(p.vector), is_prior=p.is_prior, loss=p.loss, n_examples=p.n_examples,
                             fitted_at=p.fitted_at,
                             serving=None if loaded is None else v.id == loaded.designer.model_version_id)
               for p, v in rows]  # fmt: skip
        return PreferencesResponse(user=user.external_id, user_id=user.id, preferences=out)
