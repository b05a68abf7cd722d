"""The HTTP API's app factory and its error handlers.

``create_app(settings)`` builds a FastAPI app that connects nowhere until it must: the database and the
recommender open on first use (or in a background thread at startup with ``api_preload``), so the process
starts, and ``/healthz`` and ``/readyz`` answer, before a model or an index exists. Every error, from a route,
from the library, from FastAPI's request validation or from Starlette's routing (an unknown path), leaves in
one JSON shape: ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from recengine.api import routes_demo, routes_items, routes_masks, routes_recommendations, routes_users
from recengine.api.errors import HTTP_CODES, ApiError, error_body, from_library
from recengine.api.head import HeadAsGet
from recengine.api.metrics import ApiMetrics, MetricsMiddleware
from recengine.api.paths import EncodedSlashes
from recengine.api.routes_ops import build_router
from recengine.api.settings import api_settings
from recengine.api.state import ApiState
from recengine.api.uploads import BodyLimit, BodyTooLargeError
from recengine.config import Settings
from recengine.errors import RecengineError

_log = logging.getLogger(__name__)
API_VERSION = "1"


def create_app(settings: Settings | None = None, *, celery: Any = None) -> FastAPI:
    """The API as an ASGI app (``uvicorn`` serves it: ``recengine serve``).

    Args:
        settings: Settings (:class:`~recengine.api.settings.ApiSettings` or plain ones, whose API fields then
            come from the environment); None reads everything from the environment.
        celery: The Celery app jobs are sent with; default one built from ``settings`` on first use.
    """
    state = ApiState(api_settings(settings), celery=celery)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if state.settings.api_torch_threads:
            import torch

            torch.set_num_threads(state.settings.api_torch_threads)
        if state.settings.api_preload:  # a thread: startup must not wait for a checkpoint and latents to load
            threading.Thread(target=state.warm_up, name="recengine-warm-up", daemon=True).start()
        yield
        state.close()

    # FastAPIOffline: FastAPI whose /docs and /redoc take Swagger UI and ReDoc from files it serves itself, not
    # from a CDN, so the pages work on a network without the internet.
    description = ("Fashion recommendation: designs for a user and a query item, retrieved as real catalogue items. "
                   "Errors: `{\"error\": {\"code\", \"message\", \"details\"}}`.")  # fmt: skip
    app = FastAPIOffline(title="recengine", version=API_VERSION, lifespan=lifespan, description=description)
    app.state.api = state
    metrics = ApiMetrics(state)
    app.include_router(build_router(metrics))
    app.include_router(routes_recommendations.router)
    app.include_router(routes_users.router)
    app.include_router(routes_items.router)
    app.include_router(routes_masks.router)
    app.include_router(routes_demo.router)  # the demo page at /, outside the OpenAPI schema
    _add_error_handlers(app)
    app.add_middleware(BodyLimit, limit=state.settings.max_body_bytes)
    app.add_middleware(EncodedSlashes)
    app.add_middleware(HeadAsGet)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: times everything, 413s included
    return app


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _json(exc.status, jsonable_encoder(exc.body()), exc.headers)

    @app.exception_handler(RecengineError)
    async def library_error(request: Request, exc: RecengineError) -> JSONResponse:
        error = from_library(exc)
        if error.status >= 500:
            _log.warning("%s %s: %s", request.method, request.url.path, exc)
        return _json(error.status, error.body(), error.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Each error's location, message and type; not its input, which may be a whole upload.
        details = [{k: v for k, v in e.items() if k in ("loc", "msg", "type", "ctx")} for e in exc.errors()]
        return _json(422, error_body("validation_error", "the request is invalid", jsonable_encoder(details)))

    @app.exception_handler(BodyTooLargeError)
    async def too_large(request: Request, exc: BodyTooLargeError) -> JSONResponse:
        return _json(413, error_body("payload_too_large", str(exc), {"limit": exc.limit}))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, BodyTooLargeError):  # FastAPI wraps errors raised while parsing a body
            return await too_large(request, exc.__cause__)
        code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}"
        return _json(exc.status_code, error_body(code, message), dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("%s %s failed", request.method, request.url.path)
        return _json(500, error_body("internal_error", "internal error; the server log has the details"))
