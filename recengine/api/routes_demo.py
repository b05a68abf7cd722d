"""The demo page at ``/``: pick a user and a query item (or upload a photo), see the designs and the real items
they found. Three static files shipped with the package (``recengine/api/static/``), no build step and nothing
fetched from elsewhere, so the page works wherever the API runs; it calls the public endpoints like any client.

Left out of the OpenAPI schema: it is a page for people, not part of the contract.
"""

from __future__ import annotations

import hashlib
from importlib import resources

from fastapi import APIRouter, Request, Response

from recengine.api.caching import not_modified
from recengine.api.errors import ApiError

#: The files the page is made of, with their media types; nothing else under ``static/`` is served.
ASSETS = {"demo.js": "text/javascript; charset=utf-8", "demo.css": "text/css; charset=utf-8"}
#: Scripts, styles and API calls from this origin only; images from anywhere, since the API's image links are
#: absolute and a proxy may present another host; ``blob:`` for the preview of a photo chosen for upload.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src * data: blob:; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")  # fmt: skip

router = APIRouter(include_in_schema=False)


def _read(name: str) -> bytes:
    return (resources.files("recengine.api") / "static" / name).read_bytes()


def _serve(request: Request, data: bytes, media_type: str, headers: dict[str, str] | None = None) -> Response:
    # no-cache means "revalidate": an upgraded server's page shows at once, and an unchanged one costs a 304.
    etag = f'"{hashlib.sha256(data).hexdigest()[:32]}"'
    common = {"ETag": etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", **(headers or {})}
    if not_modified(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=common)
    return Response(data, media_type=media_type, headers=common)


@router.get("/")
def page(request: Request) -> Response:
    # The page's links are relative (static/demo.js, v1/items): it works under a proxy's path prefix too.
    return _serve(request, _read("index.html"), "text/html; charset=utf-8",
                  {"Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer"})  # fmt: skip


@router.get("/static/{name}")
def asset(name: str, request: Request) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise ApiError(404, "not_found", f"no static file {name!r}")
    return _serve(request, _read(name), media_type)
