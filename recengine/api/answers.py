"""Recommendation answers as the API gives them, built without an HTTP request.

``POST /v1/recommendations`` and ``:batch`` answer through :class:`Responder`, and so do the workers'
``recommend`` and ``recommend_batch`` jobs: a job's result is the very JSON the API would have returned for the
same body. Only the links differ by caller: a route bases them on its request, a worker on the configured
``api_public_url``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from recengine.api.errors import ApiError, from_library
from recengine.api.links import design_url, item_image_url
from recengine.api.schemas import (
    BatchEntry,
    BatchResponse,
    DesignLink,
    ErrorDetail,
    ItemSummary,
    Match,
    RecommendationRequest,
    RecommendationResponse,
)
from recengine.errors import InvalidInputError, RecengineError
from recengine.recommend.service import ItemInfo, Recommended, Recommender
from recengine.store.database import Database
from recengine.store.designs import PruneGate, save_designs
from recengine.store.items import item_ids

#: Validation errors named in one message at most: a 10,000-entry batch may hold thousands.
MAX_NAMED_ERRORS = 10
Body = TypeVar("Body", bound=BaseModel)


def parse_body(model: type[Body], data: Any, *, what: str) -> Body:
    """``data`` validated as ``model``, or :class:`InvalidInputError` naming each invalid field.

    For bodies that arrive other than through FastAPI (a job's params, a file given to the CLI), whose
    validation errors must still say where the problem is (``requests.3.category: Field required``).

    Args:
        model: The request model (:class:`RecommendationRequest`, :class:`BatchJobRequest`, ...).
        data: The decoded JSON.
        what: What ``data`` is, for the message ("recommend job params").
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        named = [f"{'.'.join(str(part) for part in e['loc']) or '(the whole body)'}: {e['msg']}"
                 for e in errors[:MAX_NAMED_ERRORS]]  # fmt: skip
        more = f"; and {len(errors) - MAX_NAMED_ERRORS} more" if len(errors) > MAX_NAMED_ERRORS else ""
        raise InvalidInputError(f"invalid {what}: {'; '.join(named)}{more}") from exc


def error_detail(exc: ApiError | RecengineError) -> tuple[int, ErrorDetail]:
    """The status and the error body of one failed request."""
    error = exc if isinstance(exc, ApiError) else from_library(exc)
    return error.status, ErrorDetail(code=error.code, message=error.message, details=error.details)


@dataclass(frozen=True)
class Responder:
    """Answers recommendation requests with the API's response bodies.

    Attributes:
        recommender: The open recommender (its designer and serving index).
        db: The database the designs are stored in and the requests read.
        retention: How long design links stay valid; saving designs prunes those older than this.
        base_url: Prefix of every link, without a trailing slash; empty for root-relative links.
        prune_gate: The process's pruning schedule; None prunes on every save.
    """

    recommender: Recommender
    db: Database
    retention: timedelta
    base_url: str
    prune_gate: PruneGate | None = None

    def summary(self, info: ItemInfo) -> ItemSummary:
        """An item as a response shows it, with the link to its image if it has one."""
        image_url = item_image_url(self.base_url, info.external_id) if info.image_sha256 else None
        return ItemSummary(id=info.item_id, external_id=info.external_id, name=info.name,
                           article_type=info.article_type, colour=info.colour, image_url=image_url)  # fmt: skip

    def respond(self, answer: Recommended, user: str | None) -> RecommendationResponse:
        """Store the designs (their links must outlive this response) and describe the answer."""
        with self.db.transaction() as session:
            prune = self.prune_gate is None or self.prune_gate.due()
            ids = save_designs(session=session, designs=answer.recommendation.designs, retention=self.retention,
                               prune=prune)  # fmt: skip
        matches = [Match(**self.summary(info).model_dump(), score=m.score, similarity=m.similarity,
                         design=m.design) for m, info in answer.rows()]  # fmt: skip
        return RecommendationResponse(
            user=user, user_id=answer.user_id, theta_source=answer.theta_source, category=answer.category,
            query=None if answer.query is None else self.summary(answer.query), items=matches,
            designs=[DesignLink(index=n, id=i, url=design_url(self.base_url, i)) for n, i in enumerate(ids)],
            designer=self.recommender.designer.label,
            timings_ms={k: round(v, 3) for k, v in answer.recommendation.timings_ms.items()},
        )  # fmt: skip

    def recommend(self, body: RecommendationRequest) -> RecommendationResponse:
        """The answer to one ``POST /v1/recommendations`` body."""
        with self.db.sessions() as session:
            exclude = list(item_ids(session=session, external_ids=body.exclude).values()) if body.exclude else []
            answer = self.recommender.recommend(body.user, body.item, body.category, k=body.k,
                                                n_designs=body.designs, seed=body.seed, exclude=exclude,
                                                filters=body.filters(), session=session)  # fmt: skip
        return self.respond(answer, body.user)

    def batch(self, requests: Sequence[RecommendationRequest],
              progress: Callable[[int, int], None] | None = None) -> BatchResponse:  # fmt: skip
        """Answers in order; an entry that fails (an unknown item, say) gets its own status and error and does
        not fail the others.

        Args:
            requests: The entries.
            progress: Called with (entries answered, entries) before the first and after each one.

        Raises:
            Exception: Anything but a request's own error (:class:`ApiError`, :class:`RecengineError`): the
                database or the recommender failing fails the whole batch, as it would every entry.
        """
        results: list[BatchEntry] = []
        if progress is not None:
            progress(0, len(requests))
        for n, entry in enumerate(requests, 1):
            try:
                results.append(BatchEntry(status=200, result=self.recommend(entry)))
            except (ApiError, RecengineError) as exc:
                status, error = error_detail(exc)
                results.append(BatchEntry(status=status, error=error))
            if progress is not None:
                progress(n, len(requests))
        return BatchResponse(results=results)


def batch_summary(result: Mapping[str, Any]) -> dict[str, Any]:
    """A batch result in brief: entries, and how many ended with each status (``{"200": 9, "404": 1}``)."""
    statuses: dict[str, int] = {}
    for entry in result.get("results", []):
        key = str(entry.get("status"))
        statuses[key] = statuses.get(key, 0) + 1
    return {"entries": sum(statuses.values()), "statuses": dict(sorted(statuses.items()))}
