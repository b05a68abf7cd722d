"""Uploaded images: bounded in bytes while they are read, in pixels before they are decoded.

Three limits, in the order a hostile upload meets them: the request body (:class:`BodyLimit`, counted as it
arrives, so a chunked upload without ``Content-Length`` is cut off too, before it fills a disk), the image's
bytes, and its pixel count, read from the header before any decoding (a decompression bomb is a small file
that decodes to gigabytes). Only then is it fully decoded, which also proves it is an image.
"""

from __future__ import annotations

import json

from fastapi import UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recengine.api.errors import ApiError, error_body
from recengine.errors import InvalidInputError
from recengine.store.images import ImageInfo, TooManyPixelsError, inspect_image


class BodyTooLargeError(Exception):
    """Raised from ``receive`` when a request body passes the limit; turned into a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds {limit} bytes")
        self.limit = limit


class BodyLimit:
    """ASGI middleware: refuse bodies over ``limit`` bytes (by ``Content-Length`` at once, else while read)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _send_413(send, self.limit)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLargeError(self.limit)
            return message

        await self.app(scope, counted, send)


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps(error_body("payload_too_large", f"request body exceeds {limit} bytes")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def read_image(upload: UploadFile, *, max_bytes: int, max_pixels: int, what: str = "image") -> tuple[bytes, ImageInfo]:
    """The upload's bytes and what they hold, or the API error that says why they are refused."""
    declared = (upload.content_type or "").split(";")[0].strip().lower()
    if declared and declared != "application/octet-stream" and not declared.startswith("image/"):
        raise ApiError(415, "unsupported_media_type", f"{what} must be an image, got content type {declared}")
    data = upload.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiError(413, "payload_too_large", f"{what} exceeds {max_bytes} bytes")
    try:
        info = inspect_image(data, what=what, max_pixels=max_pixels)
    except TooManyPixelsError as exc:
        raise ApiError(413, "too_many_pixels", str(exc), details={"max_pixels": max_pixels}) from exc
    except InvalidInputError as exc:
        raise ApiError(422, "invalid_image", str(exc)) from exc
    return data, info
