"""``/v1/recommendations`` (one, a batch, or a photo as the query) and the designs they link to."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from pydantic import ValidationError

from recengine.api.answers import Responder
from recengine.api.auth import StateDep, Writer
from recengine.api.errors import ApiError
from recengine.api.links import job_ref, job_url, request_base
from recengine.api.schemas import (
    BatchJobRequest,
    BatchRequest,
    BatchResponse,
    ErrorResponse,
    JobRef,
    RecommendationOptions,
    RecommendationRequest,
    RecommendationResponse,
)
from recengine.api.state import ApiState
from recengine.api.uploads import read_image
from recengine.datasets.image_cache import prepare_image
from recengine.inpainting.service import decode_photo, read_mask
from recengine.store.designs import encode_png, load_design
from recengine.store.items import item_ids

router = APIRouter(tags=["recommendations"], responses={
    401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 404: {"model": ErrorResponse},
    422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}})  # fmt: skip


def _responder(request: Request, state: ApiState) -> Responder:
    """Answers with links under this request's base; :class:`NotReadyError` (a 503) without a recommender."""
    return Responder(recommender=state.recommender(), db=state.db, retention=state.retention,
                     base_url=request_base(request), prune_gate=state.prune_gate)  # fmt: skip


@router.post("/v1/recommendations", response_model=RecommendationResponse)
def recommend(body: RecommendationRequest, request: Request, state: StateDep, _: Writer) -> RecommendationResponse:
    """Real items of `category` that go with `item` for `user`, and the designs that led to them."""
    return _responder(request, state).recommend(body)


@router.post("/v1/recommendations:batch", response_model=BatchResponse)
def recommend_batch(body: BatchRequest, request: Request, state: StateDep, _: Writer) -> BatchResponse:
    """Up to 32 recommendation requests, answered in order; one failing entry (an unknown item, say) gets its
    own status and error and does not fail the others."""
    # The recommender is opened before the first entry: not ready, the whole batch is a 503, not 32 copies of it.
    return _responder(request, state).batch(body.requests)


@router.post("/v1/recommendations:batchJob", response_model=JobRef, status_code=202)
def recommend_batch_job(body: BatchJobRequest, request: Request, response: Response, state: StateDep,
                        _: Writer) -> JobRef:  # fmt: skip
    """Queue a batch of up to 10,000 requests for a worker (a shop's nightly recommendations, say); follow it at
    the `Location` it returns. Its result, once it succeeded, is the `POST /v1/recommendations:batch` response
    for the same body; design and image links in it are based on `RECENGINE_API_PUBLIC_URL`."""
    # Params are the body as sent (defaults left out): the job is what the client asked for, and the worker
    # validates it again with the same model.
    job, _new = state.submit("recommend_batch", body.model_dump(mode="json", exclude_unset=True))
    response.headers["Location"] = job_url(request_base(request), job.id)
    return job_ref(request_base(request), job)


@router.post("/v1/recommendations:image", response_model=RecommendationResponse)
def recommend_image(
    request: Request,
    state: StateDep,
    _: Writer,
    image: Annotated[UploadFile, File(description="The query: a photo (JPEG, PNG, WEBP, ...).")],
    options: Annotated[str, Form(description="RecommendationOptions as JSON: category, user, k, designs, ...")],
    mask: Annotated[
        UploadFile | None,
        File(
            description="Optional mask of the photo's size (white = hole: a logo, "
            "a banner, an occlusion), repaired by inpainting first."
        ),
    ] = None,
) -> RecommendationResponse:
    """Like `POST /v1/recommendations`, with a photo as the query instead of a catalogue item; with a `mask`, the
    photo's holes are filled by the inpainting model before it is designed for and searched."""
    try:
        body = RecommendationOptions.model_validate(json.loads(options))
    except (json.JSONDecodeError, ValidationError) as exc:
        details = exc.errors(include_url=False, include_input=False) if isinstance(exc, ValidationError) else None
        raise ApiError(422, "validation_error", f"options: {exc}" if details is None else "options are invalid",
                       details=details) from exc  # fmt: skip
    settings = state.settings
    data, _info = read_image(image, max_bytes=settings.api_max_image_bytes, max_pixels=settings.api_max_image_pixels)
    if mask is not None:
        limits = {"max_bytes": settings.api_max_image_bytes, "max_pixels": settings.api_max_image_pixels}
        holes, _mask_info = read_image(mask, what="mask", **limits)
        photo = decode_photo(data)
        repaired = state.inpainter().repair(photo, read_mask(holes, (photo.shape[0], photo.shape[1])))
        data = encode_png(repaired)
    responder = _responder(request, state)
    recommender = responder.recommender
    pixels = prepare_image(data, recommender.image_size)
    with state.db.sessions() as session:
        exclude = list(item_ids(session=session, external_ids=body.exclude).values()) if body.exclude else []
        answer = recommender.recommend_pixels(body.user, pixels, body.category, k=body.k, n_designs=body.designs,
                                              seed=body.seed, exclude=exclude, filters=body.filters(),
                                              session=session)  # fmt: skip
    return responder.respond(answer, body.user)


@router.get("/v1/designs/{design_id}.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}, 404: {"model": ErrorResponse}})  # fmt: skip
def design(design_id: str, state: StateDep) -> Response:
    """A design a recommendation returned. Open: the id is random, so the link is the permission (an `<img>`
    can show it); it expires after the API's retention (a day by default)."""
    with state.db.sessions() as session:
        png = load_design(session=session, design_id=design_id, retention=state.retention)
    max_age = int(state.settings.api_design_retention_s)
    return Response(png, media_type="image/png", headers={"Cache-Control": f"public, max-age={max_age}, immutable"})
