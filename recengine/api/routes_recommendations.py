"""``/v1/recommendations`` (one, a batch, or a photo as the query) and the designs they link to."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from pydantic import ValidationError

from recengine.api.auth import StateDep, Writer
from recengine.api.errors import ApiError, from_library
from recengine.api.links import design_url, item_image_url
from recengine.api.schemas import (
    BatchEntry,
    BatchRequest,
    BatchResponse,
    DesignLink,
    ErrorDetail,
    ErrorResponse,
    ItemSummary,
    Match,
    RecommendationOptions,
    RecommendationRequest,
    RecommendationResponse,
)
from recengine.api.state import ApiState
from recengine.api.uploads import read_image
from recengine.datasets.image_cache import prepare_image
from recengine.errors import RecengineError
from recengine.recommend.service import ItemInfo, Recommended
from recengine.store.designs import load_design, save_designs
from recengine.store.items import item_ids

router = APIRouter(tags=["recommendations"], responses={
    401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 404: {"model": ErrorResponse},
    422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}})  # fmt: skip


def _summary(request: Request, info: ItemInfo) -> ItemSummary:
    return ItemSummary(id=info.item_id, external_id=info.external_id, name=info.name, article_type=info.article_type,
                       colour=info.colour, image_url=item_image_url(request, info.external_id)
                       if info.image_sha256 else None)  # fmt: skip


def _respond(request: Request, state: ApiState, answer: Recommended, user: str | None) -> RecommendationResponse:
    """Store the designs (their links must outlive this response) and describe the answer."""
    with state.db.transaction() as session:
        ids = save_designs(session=session, designs=answer.recommendation.designs, retention=state.retention)
    matches = [Match(**_summary(request, info).model_dump(), score=m.score, similarity=m.similarity, design=m.design)
               for m, info in answer.rows()]  # fmt: skip
    return RecommendationResponse(
        user=user, user_id=answer.user_id, theta_source=answer.theta_source, category=answer.category,
        query=None if answer.query is None else _summary(request, answer.query), items=matches,
        designs=[DesignLink(index=n, id=i, url=design_url(request, i)) for n, i in enumerate(ids)],
        designer=state.recommender().designer.label,
        timings_ms={k: round(v, 3) for k, v in answer.recommendation.timings_ms.items()},
    )  # fmt: skip


def _recommend(request: Request, state: ApiState, body: RecommendationRequest) -> RecommendationResponse:
    recommender = state.recommender()
    with state.db.sessions() as session:
        exclude = list(item_ids(session=session, external_ids=body.exclude).values()) if body.exclude else []
        answer = recommender.recommend(body.user, body.item, body.category, k=body.k, n_designs=body.designs,
                                       seed=body.seed, exclude=exclude, filters=body.filters(),
                                       session=session)  # fmt: skip
    return _respond(request, state, answer, body.user)


@router.post("/v1/recommendations", response_model=RecommendationResponse)
def recommend(body: RecommendationRequest, request: Request, state: StateDep, _: Writer) -> RecommendationResponse:
    """Real items of `category` that go with `item` for `user`, and the designs that found them."""
    return _recommend(request, state, body)


@router.post("/v1/recommendations:batch", response_model=BatchResponse)
def recommend_batch(body: BatchRequest, request: Request, state: StateDep, _: Writer) -> BatchResponse:
    """Up to 32 recommendation requests, answered in order; one failing entry (an unknown item, say) gets its
    own status and error and does not fail the others."""
    state.recommender()  # not ready: the whole batch is a 503, not 32 copies of it
    results: list[BatchEntry] = []
    for entry in body.requests:
        try:
            results.append(BatchEntry(status=200, result=_recommend(request, state, entry)))
        except (ApiError, RecengineError) as exc:
            error = exc if isinstance(exc, ApiError) else from_library(exc)
            results.append(BatchEntry(status=error.status, error=ErrorDetail(code=error.code, message=error.message,
                                                                             details=error.details)))  # fmt: skip
    return BatchResponse(results=results)


@router.post("/v1/recommendations:image", response_model=RecommendationResponse)
def recommend_image(
    request: Request,
    state: StateDep,
    _: Writer,
    image: Annotated[UploadFile, File(description="The query: a photo (JPEG, PNG, WEBP, ...).")],
    options: Annotated[str, Form(description="RecommendationOptions as JSON: category, user, k, designs, ...")],
) -> RecommendationResponse:
    """Like `POST /v1/recommendations`, with a photo as the query instead of a catalogue item."""
    try:
        body = RecommendationOptions.model_validate(json.loads(options))
    except (json.JSONDecodeError, ValidationError) as exc:
        details = exc.errors(include_url=False, include_input=False) if isinstance(exc, ValidationError) else None
        raise ApiError(422, "validation_error", f"options: {exc}" if details is None else "options are invalid",
                       details=details) from exc  # fmt: skip
    settings = state.settings
    data, _info = read_image(image, max_bytes=settings.api_max_image_bytes, max_pixels=settings.api_max_image_pixels)
    recommender = state.recommender()
    pixels = prepare_image(data, recommender.image_size)
    with state.db.sessions() as session:
        exclude = list(item_ids(session=session, external_ids=body.exclude).values()) if body.exclude else []
        answer = recommender.recommend_pixels(body.user, pixels, body.category, k=body.k, n_designs=body.designs,
                                              seed=body.seed, exclude=exclude, filters=body.filters(),
                                              session=session)  # fmt: skip
    return _respond(request, state, answer, body.user)


@router.get("/v1/designs/{design_id}.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}, 404: {"model": ErrorResponse}})  # fmt: skip
def design(design_id: str, state: StateDep) -> Response:
    """A design a recommendation returned. Open: the id is random, so the link is the permission (an `<img>`
    can show it); it expires after the API's retention (a day by default)."""
    with state.db.sessions() as session:
        png = load_design(session=session, design_id=design_id, retention=state.retention)
    max_age = int(state.settings.api_design_retention_s)
    return Response(png, media_type="image/png", headers={"Cache-Control": f"public, max-age={max_age}, immutable"})
