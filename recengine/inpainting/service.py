"""Repair a photo with a given mask before it is embedded: the library call behind ``recengine inpaint``, the
catalogue's kept masks (:mod:`recengine.inpainting.repair`) and the recommendation call's ``mask``.

The model works at its own square size (64×64 by default); a photo of any size is padded to a white square like
every catalogue photo (:func:`recengine.datasets.image_cache.prepare_image`), filled at the model's size, and the
filled hole is resized back and pasted into the original, so the pixels outside the hole are returned exactly.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image as PILImage
from sqlalchemy import select
from sqlalchemy.orm import Session

from recengine.datasets.image_cache import upright_rgb
from recengine.errors import InvalidInputError, NotFoundError
from recengine.inpainting.masks import validate_mask
from recengine.nets.inpainting import InpaintingModel
from recengine.store.images import decode_problem
from recengine.store.models import ModelVersion

#: Model version family of the inpainting models (DPConv and the PConv baseline).
FAMILY = "inpainting"


def decode_photo(data: bytes, *, what: str = "image") -> npt.NDArray[np.uint8]:
    """(H, W, 3) uint8 RGB of an encoded photo; :class:`InvalidInputError` naming ``what`` if it is not one."""
    try:
        with PILImage.open(io.BytesIO(data)) as img:
            return np.asarray(upright_rgb(img), dtype=np.uint8)  # as prepare_image sees it: masks are drawn on that
    except (OSError, ValueError, PILImage.DecompressionBombError) as exc:
        raise InvalidInputError(f"{what} is not a readable image ({decode_problem(exc)})") from exc


def read_mask(data: bytes, size: tuple[int, int], *, what: str = "mask") -> npt.NDArray[np.uint8]:
    """A mask file (white = hole, black = keep; the convention of inpainting tools) as (H, W) uint8, 1 = valid.

    Strict on purpose: a mask drawn for another image size, or a greyscale one, is refused with a message rather
    than guessed at, since repairing the wrong pixels would silently change what the item is indexed as.

    Raises:
        InvalidInputError: Not an image, not ``size`` (H, W), values other than black and white, no hole or
            nothing valid.
    """
    try:
        with PILImage.open(io.BytesIO(data)) as img:
            grey = np.asarray(img.convert("L"), dtype=np.uint8)
    except (OSError, ValueError, PILImage.DecompressionBombError) as exc:
        raise InvalidInputError(f"{what} is not a readable image ({decode_problem(exc)})") from exc
    if grey.shape != tuple(size):
        raise InvalidInputError(f"{what} is {grey.shape[1]}×{grey.shape[0]} (W×H), the image is {size[1]}×{size[0]}")
    values = np.unique(grey)
    if not np.isin(values, (0, 255)).all():
        raise InvalidInputError(f"{what} must be black (keep) and white (hole) only; it has {len(values)} grey levels "
                                "(threshold it first)")  # fmt: skip
    return validate_mask((grey == 0).astype(np.uint8), size)


def inpainting_version(*, session: Session, name: str | None = None) -> ModelVersion:
    """The registered inpainting model version named ``name`` (default: the newest)."""
    stmt = select(ModelVersion).where(ModelVersion.family == FAMILY)
    stmt = stmt.where(ModelVersion.name == name) if name else stmt
    version = session.scalar(stmt.order_by(ModelVersion.created_at.desc(), ModelVersion.id.desc()).limit(1))
    if version is None or not version.checkpoint_path:
        which = f"named {name!r}" if name else "registered"
        raise NotFoundError(f"no inpainting model {which}: `recengine train inpainting` or "
                            "`recengine models register checkpoints/inpainting-default-dpconv.pt`")  # fmt: skip
    return version


def _square(pixels: npt.NDArray[np.uint8], fill: int) -> tuple[npt.NDArray[np.uint8], tuple[int, int]]:
    """Pad (H, W[, C]) to a centred square of ``fill``; returns it and the (top, left) offset."""
    h, w = pixels.shape[:2]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    canvas = np.full((side, side, *pixels.shape[2:]), fill, dtype=np.uint8)
    canvas[top : top + h, left : left + w] = pixels
    return canvas, (top, left)


def _resize(pixels: npt.NDArray[np.uint8], size: int, resample: PILImage.Resampling) -> npt.NDArray[np.uint8]:
    return np.array(PILImage.fromarray(pixels).resize((size, size), resample), dtype=np.uint8)


@dataclass
class Inpainter:
    """A loaded inpainting model and what it was loaded from."""

    model: InpaintingModel
    label: str

    @property
    def image_size(self) -> int:
        return int(self.model.config.image_size)

    @classmethod
    def from_checkpoint(cls, path: Path) -> Inpainter:
        from recengine.inpainting.train import load_inpainting

        if not path.is_file():
            raise NotFoundError(f"no inpainting checkpoint at {path}")
        return cls(load_inpainting(path), path.stem)

    @classmethod
    def from_version(cls, version: ModelVersion) -> Inpainter:
        """The model a registered version's checkpoint holds, labelled with the version's name."""
        if not version.checkpoint_path:
            raise NotFoundError(f"inpainting model {version.name!r} has no checkpoint file")
        inpainter = cls.from_checkpoint(Path(version.checkpoint_path))
        inpainter.label = version.name
        return inpainter

    @classmethod
    def registered(cls, *, session: Session, name: str | None = None) -> Inpainter:
        """The registered inpainting model named ``name`` (default: the newest)."""
        return cls.from_version(inpainting_version(session=session, name=name))

    @torch.no_grad()
    def repair(self, pixels: npt.NDArray[np.uint8], mask: npt.ArrayLike) -> npt.NDArray[np.uint8]:
        """Fill the holes of a photo.

        Args:
            pixels: (H, W, 3) uint8 RGB, any size.
            mask: (H, W), 1 = valid, 0 = hole (see :func:`recengine.inpainting.masks.validate_mask`).

        Returns:
            (H, W, 3) uint8: ``pixels`` where the mask is 1, the model's fill where it is 0.
        """
        if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
            raise InvalidInputError(f"image must be (H, W, 3) uint8, got {pixels.shape} {pixels.dtype}")
        valid = validate_mask(mask, (pixels.shape[0], pixels.shape[1]))
        size = self.image_size
        square, (top, left) = _square(pixels, 255)
        square_mask, _ = _square(valid, 1)  # the white padding is known background, not hole
        small = _resize(square, size, PILImage.Resampling.BILINEAR)
        small_mask = _resize(square_mask, size, PILImage.Resampling.NEAREST)
        small_mask[_resize(square_mask * 255, size, PILImage.Resampling.BILINEAR) < 255] = 0  # any hole: hole
        image = torch.from_numpy(small).permute(2, 0, 1)[None].float().div(127.5).sub(1.0)
        hole = torch.from_numpy(small_mask)[None, None].float()
        filled = self.model.inpaint(image, hole)[0].permute(1, 2, 0).add(1.0).mul(127.5).clamp(0, 255)
        filled_u8 = filled.round().to(torch.uint8).numpy()
        back = _resize(filled_u8, square.shape[0], PILImage.Resampling.BICUBIC)
        back = back[top : top + pixels.shape[0], left : left + pixels.shape[1]]
        out = pixels.copy()
        out[valid == 0] = back[valid == 0]
        return out
