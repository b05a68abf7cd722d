"""Request and response bodies of the HTTP API (pydantic): the contract ``/openapi.json`` publishes.

Requests forbid unknown fields, so a misspelt option (``"catgory"``) is a 422 naming it, not silently ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from recengine.store.catalogue import FILTERABLE
from recengine.store.values import storage_problem

#: Most recommendation requests in one batch call.
BATCH_MAX = 32
#: Most recommendation requests in one batch job (answered by a worker, not within an HTTP request).
BATCH_JOB_MAX = 10_000
#: Most interactions recorded in one call.
INTERACTIONS_MAX = 1000
_EXTERNAL_ID = Field(min_length=1, max_length=128)
FilterValue = str | list[str] | None


def _storable(value: Any) -> Any:
    """Refuse what PostgreSQL cannot store with a 422 here rather than fail in the database."""
    problem = storage_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return _storable(value)


# --- errors ---------------------------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. not_found, validation_error.")
    message: str = Field(description="What went wrong, for people.")
    details: Any = Field(default=None, description="Code-specific detail (validation errors, readiness checks).")


class ErrorResponse(BaseModel):
    error: ErrorDetail


# --- recommendations ------------------------------------------------------------------------------------------


class RecommendationOptions(Strict):
    """Everything a recommendation takes except the query."""

    user: str | None = Field(
        default=None, max_length=128, description="External id; missing or unknown: anonymous (population prior)."
    )
    category: str = Field(min_length=1, max_length=64, description="Category of the items to return (bottom, ...).")
    k: int = Field(default=10, ge=1, le=100, description="Items returned.")
    designs: int = Field(default=4, ge=1, le=16, description="Designs drawn; each retrieves real items.")
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1, description="Makes the designs repeatable.")
    exclude: list[str] = Field(default_factory=list, max_length=1000,
                               description="External ids of items never returned (already bought, ...).")  # fmt: skip
    gender: FilterValue = None
    usage: FilterValue = None
    season: FilterValue = None
    colour: FilterValue = None
    master_category: FilterValue = None
    sub_category: FilterValue = None
    article_type: FilterValue = None

    def filters(self) -> dict[str, list[str]]:
        """The catalogue filters set in this request: column -> allowed values (any of them)."""
        out: dict[str, list[str]] = {}
        for name in FILTERABLE:
            value = getattr(self, name, None)
            if value is not None:
                out[name] = [value] if isinstance(value, str) else list(value)
        return out


class RecommendationRequest(RecommendationOptions):
    item: str = Field(min_length=1, max_length=128, description="External id of the query item.")


class BatchRequest(Strict):
    requests: list[RecommendationRequest] = Field(min_length=1, max_length=BATCH_MAX)


class BatchJobRequest(Strict):
    """A batch for a worker: the shape of :class:`BatchRequest`, with room for a night's worth of requests."""

    requests: list[RecommendationRequest] = Field(min_length=1, max_length=BATCH_JOB_MAX)


class ItemSummary(BaseModel):
    id: int
    external_id: str
    name: str | None
    article_type: str | None
    colour: str | None
    image_url: str | None


class Match(ItemSummary):
    score: float = Field(description="Personalised compatibility with the query, for this user.")
    similarity: float = Field(description="Cosine similarity to the design the item most resembles.")
    design: int = Field(description="Index into `designs` of the design the item most resembles.")


class DesignLink(BaseModel):
    index: int
    id: str
    url: str


class RecommendationResponse(BaseModel):
    user: str | None
    user_id: int | None = Field(description="Database id; null for an anonymous or unknown user.")
    theta_source: Literal["trained", "fitted", "prior", "none"] = Field(
        description="Where the user's preferences came from; prior: the population's (anonymous, new)."
    )
    category: str
    query: ItemSummary | None = Field(description="The query item; null when the query was a photo.")
    items: list[Match]
    designs: list[DesignLink]
    designer: str
    timings_ms: dict[str, float]


class BatchEntry(BaseModel):
    status: int
    result: RecommendationResponse | None = None
    error: ErrorDetail | None = None


class BatchResponse(BaseModel):
    results: list[BatchEntry]


# --- jobs -----------------------------------------------------------------------------------------------------


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    status: str
    progress: float
    message: str | None
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobRef(BaseModel):
    id: int
    kind: str
    status: str
    url: str


# --- users ----------------------------------------------------------------------------------------------------


class InteractionIn(Strict):
    item: str = _EXTERNAL_ID
    kind: Literal["view", "like", "purchase"]  # recengine.store.models.INTERACTION_KINDS
    weight: float = Field(default=1.0, gt=0, le=1000)
    occurred_at: AwareDatetime | None = Field(default=None, description="Default: now. Needs a time zone.")


class InteractionsRequest(Strict):
    interactions: list[InteractionIn] = Field(min_length=1, max_length=INTERACTIONS_MAX)


class InteractionsResponse(BaseModel):
    user: str
    user_id: int
    recorded: int


class FitRequest(Strict):
    model_version_id: int | None = Field(
        default=None,
        description="Default: the served designer's model (its θu condition the designs); with no designer "
        "loaded, the newest compatibility model.",
    )


class PreferenceOut(BaseModel):
    model_version_id: int
    model_family: str
    model_name: str
    dim: int
    vector: list[float]
    is_prior: bool
    loss: float | None
    n_examples: int
    fitted_at: datetime
    serving: bool | None = Field(
        description="Whether recommendations use this vector now (the serving designer's); null before the "
        "recommender is loaded."
    )


class PreferencesResponse(BaseModel):
    user: str
    user_id: int
    preferences: list[PreferenceOut]


# --- items ----------------------------------------------------------------------------------------------------


class ItemFields(Strict):
    """Catalogue columns a shop sets; lengths are the database's."""

    name: str | None = Field(default=None, max_length=10_000)
    gender: str | None = Field(default=None, max_length=32)
    master_category: str | None = Field(default=None, max_length=64)
    sub_category: str | None = Field(default=None, max_length=64)
    article_type: str | None = Field(default=None, max_length=64)
    colour: str | None = Field(default=None, max_length=64)
    season: str | None = Field(default=None, max_length=32)
    usage: str | None = Field(default=None, max_length=32)
    year: int | None = Field(default=None, ge=1900, le=2200)
    attributes: dict[str, Any] = Field(default_factory=dict)


class ItemCreate(ItemFields):
    external_id: str = _EXTERNAL_ID
    source: str = Field(default="api", min_length=1, max_length=64)


class ItemPatch(ItemFields):
    """Fields present are set (null clears a text field); fields left out keep their value."""

    source: str | None = Field(default=None, min_length=1, max_length=64)
    attributes: dict[str, Any] | None = Field(default=None, description="Replaces the whole object.")  # type: ignore[assignment]
    is_active: bool | None = None

    @field_validator("source", "attributes", "is_active")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null")
        return value


class ImageOut(BaseModel):
    sha256: str
    format: str
    width: int
    height: int
    byte_size: int


class ItemOut(BaseModel):
    id: int
    external_id: str
    source: str
    name: str | None
    gender: str | None
    master_category: str | None
    sub_category: str | None
    article_type: str | None
    colour: str | None
    season: str | None
    usage: str | None
    year: int | None
    attributes: dict[str, Any]
    is_active: bool
    image: ImageOut | None
    image_url: str | None
    created_at: datetime
    updated_at: datetime


class ItemChange(BaseModel):
    item: ItemOut
    changed: bool
    index_sync: Literal["queued", "joined", "unchanged", "no_index", "failed"] = Field(
        description="queued: a sync job was queued; joined: one that had not started yet will include this "
        "change; no_index: no index is built yet; failed: the job could not be queued (see message)."
    )
    index_job: JobRef | None = None
    message: str | None = None


# --- operations -----------------------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]
    checks: dict[str, str]


# --- listings (the demo page's pickers) -----------------------------------------------------------------------

#: Most rows one listing page returns.
LIST_MAX = 200


class ItemListed(ItemSummary):
    category: str = Field(description="The recommendation category the item is served in (its outfit slot, or "
                          "`other`): the `category` of a request that should return items like it.")  # fmt: skip
    has_image: bool = Field(description="Only items with an image can be a query or be recommended.")


class ItemPage(BaseModel):
    items: list[ItemListed]
    total: int = Field(description="Items matching the filters, all pages together.")
    limit: int
    offset: int


class UserListed(BaseModel):
    id: int
    external_id: str
    has_theta: bool = Field(description="A θu trained or fitted on the user's history is stored (for some model "
                            "version); false: recommendations use the population prior.")  # fmt: skip
    interactions: int


class UserPage(BaseModel):
    users: list[UserListed]
    total: int
    limit: int
    offset: int


class CategoryOut(BaseModel):
    name: str
    items: int = Field(description="Items the serving index holds in this category.")


class Categories(BaseModel):
    index: str
    categories: list[CategoryOut] = Field(description="The categories a recommendation may ask for.")
