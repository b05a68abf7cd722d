"""Content-addressed images: the ``images`` table keys each photo's bytes (``bytea``) by their sha256.

Why ``bytea`` rather than files under the data dir: an image is then written in the same transaction as the
item that shows it, so a failed import leaves neither rows nor stray files; workers on other hosts read images
over the connection they already have, with no shared file system; one backup holds the whole catalogue; and
identical photos are stored once. Catalogue photos are small (Myntra's are ~1.5 KB, shop photos tens of KB),
well inside what TOAST handles; measured on this machine, creating one file per photo cost 50-100 us, more than
decoding it, while COPY into ``bytea`` is a fraction of that. Training reads images in bulk into tensor caches,
so the database is not on the hot path of a model.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image as PILImage
from PIL import UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from recengine.errors import InvalidInputError, NotFoundError
from recengine.store.models import Image

#: Decompression-bomb guard: catalogue photos are far below this.
MAX_PIXELS = 40_000_000
_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"}


@dataclass(frozen=True, slots=True)
class ImageInfo:
    sha256: str
    format: str
    width: int
    height: int
    byte_size: int


class TooManyPixelsError(InvalidInputError):
    """An image whose header announces more pixels than allowed: refused before decoding (a decompression bomb)."""


def inspect_image(data: bytes, *, what: str = "image", max_pixels: int = MAX_PIXELS) -> ImageInfo:
    """Hash and fully decode ``data``; raise :class:`InvalidInputError` naming ``what`` if it is not a usable image.

    The pixel count is checked from the header, before anything is decoded, against ``max_pixels`` (PIL's own
    bomb limit, ``PIL.Image.MAX_IMAGE_PIXELS``, applies too and raises the same error).
    """
    if not data:
        raise InvalidInputError(f"{what}: empty file")
    try:
        with PILImage.open(io.BytesIO(data)) as img:
            if img.format not in _FORMATS:
                raise InvalidInputError(f"{what}: unsupported image format {img.format}")
            if img.width * img.height > max_pixels:
                raise TooManyPixelsError(f"{what}: {img.width}x{img.height} pixels exceeds {max_pixels}")
            img.load()  # a full decode: truncated or corrupt files fail here, not later in training
            fmt, width, height = img.format, img.width, img.height
    except PILImage.DecompressionBombError as exc:
        raise TooManyPixelsError(f"{what}: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InvalidInputError(f"{what}: not a readable image ({decode_problem(exc)})") from exc
    return ImageInfo(hashlib.sha256(data).hexdigest(), fmt, width, height, len(data))


def decode_problem(exc: Exception) -> str:
    """Why PIL could not read an image, for a message (its own text names an internal buffer object)."""
    if isinstance(exc, UnidentifiedImageError):
        return "not a format recengine reads: JPEG, PNG, WebP, GIF, BMP or TIFF"
    return str(exc)


def load_image(session: Session, sha256: str) -> bytes:
    """The stored bytes of image ``sha256``."""
    data = session.scalar(select(Image.data).where(Image.sha256 == sha256))
    if data is None:
        raise NotFoundError(f"image {sha256} is not stored")
    return data


def open_image(data: bytes) -> PILImage.Image:
    """Decode stored bytes as an RGB image."""
    with PILImage.open(io.BytesIO(data)) as img:
        return img.convert("RGB")
