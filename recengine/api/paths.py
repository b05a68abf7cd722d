"""External ids in URL paths, slashes and percent signs included.

A shop's ids are free text (``SKU/1042``, ``50%-off``), and the links the API hands out encode them
(``/v1/items/SKU%2F1042``). ASGI servers decode the whole path before routing, so that link would reach the
router as ``/v1/items/SKU/1042`` and match no route: the item could be created but never read, changed or
deleted. :class:`EncodedSlashes` routes on the raw path instead, decoded except for ``%2F`` and ``%25``, so a
slash inside a segment stays inside it; routes take ids through :data:`ItemKey` and :data:`UserKey`, which
decode those two escapes last (only in a path it rerouted: without a raw path, a server's decoding stands).
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import unquote

from fastapi import Depends, Path, Request
from starlette.types import ASGIApp, Receive, Scope, Send

#: Scope key set when the path was rerouted, so its ids still hold escapes.
REROUTED = "recengine.rerouted"
#: The escapes left in a routed path: a slash and the percent sign that would otherwise make them ambiguous.
_KEPT = re.compile(r"(%2[fF]|%25)")


def route_path(raw: str) -> str:
    """``raw`` percent-decoded except for ``%2F`` and ``%25`` (and any ``%`` that decoding yields)."""
    # A UTF-8 sequence never holds the bytes 0x2F or 0x25, so splitting at those escapes cuts no character.
    pieces = _KEPT.split(raw)
    return "".join(p.upper() if i % 2 else unquote(p).replace("%", "%25") for i, p in enumerate(pieces))


class EncodedSlashes:
    """ASGI middleware: route on :func:`route_path` of the raw path whenever it holds an escape.

    The raw path, not a re-encoding of ``path``: only the raw bytes still tell ``a%2Fb`` from ``a/b`` (and
    Starlette's test client decodes ``path`` twice, which the raw path does not inherit).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path") if scope["type"] == "http" else None
        if raw and b"%" in raw:
            try:
                routed = route_path(raw.decode("ascii"))
            except UnicodeDecodeError:
                routed = None
            if routed is not None:
                # Servers differ on whether raw_path holds the root path; path always does (ASGI).
                root = scope.get("root_path", "")
                if root and scope["path"].startswith(root) and not routed.startswith(root):
                    routed = root + routed
                # In place, not a copy: the metrics middleware outside reads the matched route off this scope.
                scope["path"], scope[REROUTED] = routed, True
        await self.app(scope, receive, send)


#: PostgreSQL text cannot hold NUL, so such an id is a 422 here rather than a database error.
_ID = Path(pattern=r"^[^\x00]*$", description="The external id, URL-encoded (`SKU%2F1042` for `SKU/1042`).")


def _decoded(request: Request, value: str) -> str:
    return unquote(value) if request.scope.get(REROUTED) else value


def _item_key(request: Request, item_id: Annotated[str, _ID]) -> str:
    return _decoded(request, item_id)


def _user_key(request: Request, user_id: Annotated[str, _ID]) -> str:
    return _decoded(request, user_id)


#: A catalogue item's external id from the path, exactly as stored.
ItemKey = Annotated[str, Depends(_item_key)]
#: A user's external id from the path, exactly as stored.
UserKey = Annotated[str, Depends(_user_key)]
