"""API keys on requests: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.

No key: 401 (with ``WWW-Authenticate``), so a client knows to send one. A key that was never issued or was
revoked, or a writer key on an admin route: 403. Roles: ``writer`` is a shop's backend serving its users
(recommendations, interactions, preferences, job status); ``admin`` may do all that and change the catalogue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from recengine.api.errors import ApiError
from recengine.api.state import ApiState
from recengine.store.api_keys import find_key

# auto_error=False: the dependencies only read the headers (and document them in OpenAPI); the errors and
# their shape are ours.
_bearer = HTTPBearer(auto_error=False, description="An API key from `recengine keys create`.")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The same key, in a header of its own.")

_RANK = {"writer": 0, "admin": 1}


@dataclass(frozen=True)
class Principal:
    """Who made a request: the key's id, name and role."""

    key_id: int
    name: str
    role: str


def get_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


#: A route's parameter that receives the process's :class:`ApiState`.
StateDep = Annotated[ApiState, Depends(get_state)]


def require(role: str) -> Callable[..., Principal]:
    """A dependency that admits keys of ``role`` or above and returns who made the request."""
    if role not in _RANK:
        raise ValueError(f"unknown role {role!r}")

    def dependency(
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        header: Annotated[str | None, Depends(_header)],
        state: StateDep,
    ) -> Principal:
        key = bearer.credentials if bearer is not None else header
        if not key:
            raise ApiError(401, "unauthenticated", "this endpoint needs an API key: `Authorization: Bearer <key>` "
                           "or `X-API-Key: <key>`", headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        with state.db.sessions() as session:
            row = find_key(session=session, key=key)
        if row is None:
            raise ApiError(403, "forbidden", "unknown API key")
        if row.revoked_at is not None:
            raise ApiError(403, "forbidden", f"API key {row.name!r} was revoked")
        if _RANK[row.role] < _RANK[role]:
            raise ApiError(403, "forbidden", f"this endpoint needs an {role} key; {row.name!r} is a {row.role} key")
        return Principal(row.id, row.name, row.role)

    return dependency


#: Route parameters that admit writer (or admin) keys, and admin keys only.
Writer = Annotated[Principal, Depends(require("writer"))]
Admin = Annotated[Principal, Depends(require("admin"))]
