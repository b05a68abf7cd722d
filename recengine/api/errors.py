"""One error shape for every failure: ``{"error": {"code": ..., "message": ..., "details": ...}}``.

The library raises :mod:`recengine.errors`; this module is the one place that maps them to status codes, so
a route never picks a status for a library error itself.
"""

from __future__ import annotations

from typing import Any

from recengine.errors import (
    BusyError,
    ConfigurationError,
    ConflictError,
    DatabaseError,
    InvalidInputError,
    NotFoundError,
    RecengineError,
)
from recengine.store.images import TooManyPixelsError
from recengine.store.jobs import JobStateError


class ApiError(Exception):
    """An HTTP error with a machine-readable ``code`` (stable across releases) and a message for people."""

    def __init__(self, status: int, code: str, message: str, *, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:  # fmt: skip
        super().__init__(message)
        self.status, self.code, self.message, self.details, self.headers = status, code, message, details, headers

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


#: Library errors by class, most specific first: (status, code).
_MAPPING: tuple[tuple[type[RecengineError], int, str], ...] = (
    (TooManyPixelsError, 413, "too_many_pixels"),
    (NotFoundError, 404, "not_found"),
    (InvalidInputError, 422, "invalid_input"),
    (BusyError, 503, "busy"),
    (ConflictError, 409, "conflict"),
    (JobStateError, 409, "conflict"),
    (ConfigurationError, 503, "not_ready"),
    (DatabaseError, 503, "database_unavailable"),
)


#: Seconds a client should wait before asking again after a 503 (``Retry-After``): what is missing (a model
#: loading, the database restarting) usually comes within seconds, and the API retries opening a failed
#: recommender no sooner than this either (``recengine.api.state.RETRY_S``).
RETRY_AFTER = {"Retry-After": "5"}


def from_library(exc: RecengineError) -> ApiError:
    """The HTTP error of a library error; a 503 says when to retry."""
    for cls, status, code in _MAPPING:
        if isinstance(exc, cls):
            headers = RETRY_AFTER if status == 503 else None
            if isinstance(exc, BusyError):
                headers = {"Retry-After": str(exc.retry_after_s)}
            return ApiError(status, code, str(exc), headers=headers)
    return ApiError(500, "internal_error", str(exc))


#: Codes of the HTTP errors Starlette raises itself (unknown route, wrong method, ...).
HTTP_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type"}  # fmt: skip
