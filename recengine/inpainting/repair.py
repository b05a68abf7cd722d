"""Catalogue photos repaired before they are embedded: the indexing jobs' ``inpaint_masks`` option.

A folder holds one mask per item to repair, named after the item's external id (``<external_id>.png``; white =
hole, black = keep, the photo's size). Building or syncing an index with it embeds those items from their
repaired photos; the photos stored in the catalogue are never changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from recengine.datasets.image_cache import prepare_image
from recengine.errors import InvalidInputError, NotFoundError
from recengine.inpainting.service import Inpainter, decode_photo, read_mask
from recengine.store.bulk import any_of
from recengine.store.designs import encode_png
from recengine.store.models import Image, Item


@dataclass
class CatalogueRepairs:
    """Masks by item id and the model that fills them; called by the embedding loop on each chunk."""

    inpainter: Inpainter
    masks: dict[int, Path]

    @classmethod
    def from_directory(cls, *, session: Session, directory: Path, model: str | None = None) -> CatalogueRepairs:
        """Masks ``<external_id>.png`` in ``directory``; an unknown external id is an error naming it."""
        if not directory.is_dir():
            raise NotFoundError(f"mask folder {directory} does not exist")
        files = {p.stem: p for p in sorted(directory.glob("*.png"))}
        if not files:
            raise InvalidInputError(f"mask folder {directory} holds no <external_id>.png file")
        ids = dict(session.execute(select(Item.external_id, Item.id).where(any_of(Item.external_id, files))).all())
        unknown = sorted(set(files) - set(ids))
        if unknown:
            raise InvalidInputError(f"masks for items not in the catalogue: {', '.join(unknown[:5])}"
                                    f"{' ...' if len(unknown) > 5 else ''}")  # fmt: skip
        return cls(Inpainter.registered(session=session, name=model), {ids[e]: p for e, p in files.items()})

    def item_ids(self) -> set[int]:
        return set(self.masks)

    def __call__(self, session: Session, ids: npt.NDArray[np.int64],
                 pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:  # fmt: skip
        """``pixels`` (N, S, S, 3) of items ``ids`` with the masked ones re-prepared from repaired photos."""
        rows = [n for n, i in enumerate(ids.tolist()) if i in self.masks]
        if not rows:
            return pixels
        out = pixels.copy()
        wanted = [int(ids[n]) for n in rows]
        photos = dict(session.execute(select(Item.id, Image.data).join(Image, Image.sha256 == Item.image_sha256)
                                      .where(Item.id.in_(wanted))).all())  # fmt: skip
        for n, item_id in zip(rows, wanted, strict=True):
            photo = decode_photo(photos[item_id])
            mask_file = self.masks[item_id]
            try:
                mask = read_mask(mask_file.read_bytes(), (photo.shape[0], photo.shape[1]))
            except InvalidInputError as exc:
                raise InvalidInputError(f"{mask_file}: {exc}") from exc
            repaired = self.inpainter.repair(photo, mask)
            out[n] = prepare_image(encode_png(repaired), pixels.shape[1])
        return out
