"""What the HTTP API tests share: an app over the recommendation tests' shop, API keys, images, error checks."""

from __future__ import annotations

import contextlib
import io
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image as PILImage
from sqlalchemy import select

from recengine.api import ApiSettings, create_app
from recengine.store.api_keys import create_key, revoke_key
from recengine.store.models import Item
from tests.test_recommend import Shop

#: Small limits, so the tests can pass them with small files.
MAX_IMAGE_BYTES = 300_000
MAX_IMAGE_PIXELS = 1_000_000


@dataclass(frozen=True)
class Keys:
    writer: str
    admin: str
    revoked: str

    @staticmethod
    def header(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


def api_settings(shop: Shop, **overrides: Any) -> ApiSettings:
    values: dict[str, Any] = {
        **shop.settings.model_dump(),
        "api_preload": False,
        "api_index_refresh_s": 0.0,
        "api_max_image_bytes": MAX_IMAGE_BYTES,
        "api_max_image_pixels": MAX_IMAGE_PIXELS,
    }
    return ApiSettings(**(values | overrides))


def make_keys(shop: Shop, suffix: str = "") -> Keys:
    """A writer, an admin and a revoked key, committed."""
    with shop.db.transaction() as session:
        _, writer = create_key(session=session, name=f"shop-backend{suffix}")
        _, admin = create_key(session=session, name=f"ops{suffix}", role="admin")
        _, revoked = create_key(session=session, name=f"old{suffix}", role="admin")
        revoke_key(session=session, name=f"old{suffix}")
    return Keys(writer, admin, revoked)


@contextlib.contextmanager
def client_for(shop: Shop, **overrides: Any) -> Iterator[TestClient]:
    """A TestClient whose lifespan runs (and closes the app's resources) around the tests."""
    with TestClient(create_app(api_settings(shop, **overrides))) as client:
        yield client


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is ``status`` with the one error shape and ``code``; returns its ``error`` object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code and body["error"]["message"], body
    error: dict[str, Any] = body["error"]
    return error


def external_ids(shop: Shop, ids: set[int] | list[int]) -> list[str]:
    with shop.db.sessions() as session:
        return list(session.scalars(select(Item.external_id).where(Item.id.in_(list(ids))).order_by(Item.id)))


def png_bytes(width: int = 40, height: int = 60, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def flipped(data: bytes) -> bytes:
    """Another photo (another sha256) with the same garment: mirrored left to right."""
    with PILImage.open(io.BytesIO(data)) as img:
        out = io.BytesIO()
        img.convert("RGB").transpose(PILImage.Transpose.FLIP_LEFT_RIGHT).save(out, format="PNG")
    return out.getvalue()


def png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header announces ``width`` x ``height`` pixels (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body
