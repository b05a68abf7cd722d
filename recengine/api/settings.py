"""Settings of the HTTP API: :class:`Settings` plus the API's limits (same ``RECENGINE_`` prefix)."""

from __future__ import annotations

from pydantic import Field

from recengine.config import Settings
from recengine.indexing.service import DEFAULT_NAME
from recengine.names import NAME_RE


class ApiSettings(Settings):
    """What only the API process reads. Limits are settings, not constants, so an operator can tighten them."""

    api_max_image_bytes: int = Field(default=10 * 2**20, gt=0, description="Largest accepted image upload (bytes).")
    api_max_image_pixels: int = Field(
        default=25_000_000, gt=0, description="Largest accepted width x height, checked before decoding."
    )
    api_design_retention_s: float = Field(
        default=24 * 3600.0, gt=0, description="How long /v1/designs/{id}.png links stay valid."
    )
    api_designer: str | None = Field(default=None, description="Designer version name; unset: the newest.")
    api_index_name: str = Field(
        default=DEFAULT_NAME, pattern=NAME_RE.pattern, description="Index the recommendations search."
    )
    api_index_refresh_s: float = Field(
        default=5.0, ge=0, description="How often a published index version is looked for (0 in tests)."
    )
    api_torch_threads: int = Field(
        default=1,
        ge=0,
        description="Torch threads of the API process (0: torch's default). One per request: "
        "concurrent requests already fill the cores, and idle-spinning intra-op threads stall when a core is busy.",
    )
    api_preload: bool = Field(
        default=True, description="Load the designer and index in the background at startup, not on first use."
    )

    @property
    def max_body_bytes(self) -> int:
        """Largest request body: one image plus room for the other multipart fields."""
        return self.api_max_image_bytes + 2**20


def api_settings(settings: Settings | None) -> ApiSettings:
    """``settings`` as :class:`ApiSettings` (the API-only fields read from the environment when not given)."""
    if isinstance(settings, ApiSettings):
        return settings
    if settings is None:
        return ApiSettings()
    return ApiSettings(**settings.model_dump())
