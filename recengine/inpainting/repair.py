"""Catalogue photos repaired before they are embedded, from masks kept with the items (table ``item_masks``).

A shop marks what should not count in an item's photo (a logo, a banner, a hand) with a mask: white = hole,
black = keep, the photo's size. :func:`store_masks` checks a folder of ``<external_id>.png`` masks against
their items' photos and keeps them all, or, when one is wrong, none. From then on every build and sync of every
index embeds those items from their repaired photos (:class:`StoredRepairs`), each with the inpainting model it
was stored with, and so does the recommender's cache of catalogue latents (:mod:`recengine.recommend.latents`);
the photos themselves are never changed. Storing or removing a mask moves the item's
``updated_at``, which is what the next sync looks at, so a sync re-embeds exactly the items whose repair changed.
A mask holds for the photo it was drawn on: when an item gets a new photo its old mask no longer applies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from recengine.datasets.image_cache import prepare_image
from recengine.errors import InvalidInputError, NotFoundError
from recengine.inpainting.service import Inpainter, decode_photo, inpainting_version, read_mask
from recengine.store.bulk import any_of
from recengine.store.designs import encode_png
from recengine.store.models import Image, Item, ItemMask, ModelVersion

_log = logging.getLogger(__name__)
#: Four bind parameters a row: well under PostgreSQL's 65,535 per statement.
_ROWS_PER_INSERT = 1000


@dataclass(frozen=True)
class StoredMask:
    """One kept mask as ``recengine catalogue masks list`` shows it."""

    external_id: str
    model: str
    applies: bool  # drawn on the item's current photo
    updated_at: datetime


def _some(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def store_masks(*, session: Session, directory: Path, model: str | None = None) -> int:
    """Keep the masks ``<external_id>.png`` of ``directory``: :func:`keep_masks` of the folder's files, each
    error naming its file. File names are URL-decoded: ``SKU%2F1042.png`` is the mask of ``SKU/1042`` (and a
    ``%`` in an id is ``%25``).

    Raises:
        NotFoundError: No such folder (or as :func:`keep_masks`).
        InvalidInputError: No mask in the folder (or as :func:`keep_masks`).
    """
    if directory.exists() and not directory.is_dir():
        raise InvalidInputError(f"{directory} is a file: give the folder that holds the <external_id>.png masks")
    if not directory.is_dir():
        raise NotFoundError(f"mask folder {directory} does not exist")
    files: dict[str, Path] = {}
    for path in sorted(directory.glob("*.png")):
        # Names are ids URL-encoded where a file name cannot hold them (SKU%2F1042.png is SKU/1042), as in links.
        external_id = unquote(path.stem)
        if external_id in files:
            raise InvalidInputError(f"{files[external_id].name} and {path.name} are both the mask of {external_id!r}")
        files[external_id] = path
    if not files:
        raise InvalidInputError(f"mask folder {directory} holds no <external_id>.png file")
    return keep_masks(session=session, masks={e: p.read_bytes() for e, p in files.items()}, model=model,
                      label=lambda e: str(files[e]))  # fmt: skip


def keep_masks(*, session: Session, masks: Mapping[str, bytes], model: str | None = None,
               label: Callable[[str], str] = lambda e: f"mask of {e}") -> int:  # fmt: skip
    """Keep ``masks`` (PNG bytes by external id; replacing earlier masks of the same items), to be filled by the
    inpainting model named ``model`` (default: the newest); returns how many were kept.

    Every mask is checked before any is written, so a wrong one leaves the stored masks as they were.

    Raises:
        NotFoundError: No inpainting model registered (under that name).
        InvalidInputError: A mask for an unknown item or an item without a photo; a mask that is not the
            photo's size or not black and white only (the message names it by ``label``).
    """
    version = inpainting_version(session=session, name=model)
    found = session.execute(
        select(Item.external_id, Item.id, Item.image_sha256, Image.width, Image.height)
        .outerjoin(Image, Image.sha256 == Item.image_sha256)
        .where(any_of(Item.external_id, list(masks)))
    ).all()
    unknown = sorted(set(masks) - {row.external_id for row in found})
    if unknown:
        raise InvalidInputError(f"masks for items not in the catalogue: {_some(unknown)}")
    no_photo = sorted(row.external_id for row in found if row.image_sha256 is None)
    if no_photo:
        raise InvalidInputError(f"masks for items without a photo: {_some(no_photo)}")
    rows = []
    for row in found:
        data = masks[row.external_id]
        try:
            read_mask(data, (row.height, row.width))
        except InvalidInputError as exc:
            raise InvalidInputError(f"{label(row.external_id)}: {exc}") from exc
        rows.append({"item_id": row.id, "image_sha256": row.image_sha256, "mask_png": data,
                     "model_version_id": version.id})  # fmt: skip
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        stmt = insert(ItemMask).values(rows[start : start + _ROWS_PER_INSERT])
        session.execute(stmt.on_conflict_do_update(
            index_elements=[ItemMask.item_id],
            set_={"image_sha256": stmt.excluded.image_sha256, "mask_png": stmt.excluded.mask_png,
                  "model_version_id": stmt.excluded.model_version_id, "updated_at": func.now()},
        ))  # fmt: skip
    _touch(session, [row["item_id"] for row in rows])
    return len(rows)


def remove_masks(*, session: Session, external_ids: Iterable[str]) -> int:
    """Stop repairing these items (the next sync embeds their photos as they are); returns how many.

    Raises:
        NotFoundError: An item that has no kept mask, named (nothing is removed then).
    """
    wanted = sorted(set(external_ids))
    found = dict(session.execute(select(Item.external_id, Item.id).join(ItemMask, ItemMask.item_id == Item.id)
                                 .where(any_of(Item.external_id, wanted))).all())  # fmt: skip
    missing = [e for e in wanted if e not in found]
    if missing:
        raise NotFoundError(f"no kept mask for: {_some(missing)}")
    ids = list(found.values())
    session.execute(delete(ItemMask).where(any_of(ItemMask.item_id, ids)))
    _touch(session, ids)
    return len(ids)


def list_masks(*, session: Session) -> list[StoredMask]:
    """Every kept mask, by external id."""
    rows = session.execute(
        select(Item.external_id, ModelVersion.name, Item.image_sha256 == ItemMask.image_sha256, ItemMask.updated_at)
        .join(Item, Item.id == ItemMask.item_id)
        .join(ModelVersion, ModelVersion.id == ItemMask.model_version_id)
        .order_by(Item.external_id)
    ).all()
    return [StoredMask(e, m, bool(a), u) for e, m, a, u in rows]


def _touch(session: Session, item_ids: list[int]) -> None:
    # What an item is indexed as changed: the next sync re-embeds it (it compares items.updated_at).
    session.execute(update(Item).where(any_of(Item.id, item_ids)).values(updated_at=func.now()))


@dataclass
class StoredRepairs:
    """The embedding loop's :class:`~recengine.embedding.catalogue.PixelRepair` over the kept masks."""

    #: Item id -> what its repair depends on (the mask's last change and its model): a cache of anything
    #: computed from repaired photos keys on it.
    stamps: dict[int, str]
    _inpainters: dict[int, Inpainter] = field(default_factory=dict)

    @property
    def masked(self) -> set[int]:
        return set(self.stamps)

    @classmethod
    def load(cls, session: Session) -> StoredRepairs | None:
        """The items whose kept mask applies to their current photo; None when there are none."""
        rows = session.execute(
            select(ItemMask.item_id, ItemMask.model_version_id, ItemMask.updated_at,
                   Item.image_sha256 == ItemMask.image_sha256)
            .join(Item, Item.id == ItemMask.item_id)
        ).all()  # fmt: skip
        stamps = {int(i): f"{m}@{u.isoformat()}" for i, m, u, applies in rows if applies}
        stale = len(rows) - len(stamps)
        if stale:
            _log.warning("%d kept masks were drawn on an earlier photo of their item and are not applied "
                         "(`recengine catalogue masks list`)", stale)  # fmt: skip
        return cls(stamps) if stamps else None

    def _inpainter(self, session: Session, model_version_id: int) -> Inpainter:
        if model_version_id not in self._inpainters:
            version = session.get(ModelVersion, model_version_id)
            if version is None:  # the foreign key forbids it; a clear message all the same
                raise NotFoundError(f"inpainting model version {model_version_id} of a kept mask does not exist")
            try:
                self._inpainters[model_version_id] = Inpainter.from_version(version)
            except NotFoundError as exc:
                # Embedding the photos unrepaired instead would silently change what the items are indexed as.
                raise NotFoundError(f"kept masks need the inpainting model {version.name!r}: {exc}; register its "
                                    "checkpoint again, or keep the masks with another model (`recengine catalogue "
                                    "masks add DIR --model NAME`) or remove them") from exc  # fmt: skip
        return self._inpainters[model_version_id]

    def __call__(self, session: Session, ids: npt.NDArray[np.int64],
                 pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:  # fmt: skip
        """``pixels`` (N, S, S, 3) of items ``ids`` with the masked ones re-prepared from repaired photos."""
        rows = {int(i): n for n, i in enumerate(ids.tolist()) if i in self.stamps}
        if not rows:
            return pixels
        out = pixels.copy()
        # Joined on the mask's own photo: a photo replaced since load() is embedded as it is.
        masks = session.execute(
            select(ItemMask.item_id, ItemMask.mask_png, ItemMask.model_version_id, Image.data)
            .join(Item, (Item.id == ItemMask.item_id) & (Item.image_sha256 == ItemMask.image_sha256))
            .join(Image, Image.sha256 == ItemMask.image_sha256)
            .where(ItemMask.item_id.in_(rows))
        ).all()
        for item_id, mask_png, model_version_id, photo_data in masks:
            photo = decode_photo(photo_data)
            mask = read_mask(mask_png, (photo.shape[0], photo.shape[1]))
            repaired = self._inpainter(session, model_version_id).repair(photo, mask)
            out[rows[item_id]] = prepare_image(encode_png(repaired), pixels.shape[1])
        return out
