"""The HTTP API (FastAPI, served by uvicorn): ``create_app(settings)`` and its settings."""

from recengine.api.app import create_app
from recengine.api.settings import ApiSettings

__all__ = ["ApiSettings", "create_app"]
