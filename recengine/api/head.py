"""HEAD answered as GET without its body (RFC 9110, section 9.3.2).

FastAPI routes only the methods a route declares, so ``HEAD /healthz`` (a load balancer's health check) and
``HEAD /v1/items/{id}/image`` (a cache or CDN revalidating) were 405s, although HTTP requires every server that
answers GET to answer HEAD with the same headers.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """ASGI middleware: a HEAD request runs as the GET it mirrors; its headers go out and its body does not."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # a streamed body's chunks are dropped; the last message ends the response
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        inner = {**scope, "method": "GET"}  # a copy: the server's access log and the metrics still say HEAD
        try:
            await self.app(inner, receive, headers_only)
        finally:
            if "route" in inner:  # the metrics middleware outside labels by the route the router found
                scope["route"] = inner["route"]
