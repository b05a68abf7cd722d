"""Write side of the catalogue for single items (the HTTP API's items): create, change, deactivate.

Importers write in bulk through :class:`~recengine.datasets.importers.base.CatalogueWriter`; a shop's backend
changes one item at a time, and two such changes may race. Every change here locks the item's row
(``SELECT ... FOR UPDATE``) before reading and writing it, so concurrent changes apply one after the other and
the row always holds one whole change, never a mix. ``updated_at`` moves with every change, which is what the
next index sync compares against.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from recengine.errors import ConflictError, InvalidInputError, NotFoundError
from recengine.store.bulk import any_of
from recengine.store.catalogue_lock import lock_for_insert
from recengine.store.images import ImageInfo
from recengine.store.models import Image, Item
from recengine.store.values import external_id_problem

#: Columns a shop may set on an item (``external_id`` never changes; ``image_sha256`` comes with an image).
EDITABLE = ("source", "name", "gender", "master_category", "sub_category", "article_type", "colour", "season",
            "usage", "year", "attributes", "is_active")  # fmt: skip


def get_item(*, session: Session, external_id: str, lock: bool = False) -> Item:
    """The item with this external id (locked for update when ``lock``)."""
    stmt = select(Item).where(Item.external_id == external_id)
    if lock:
        stmt = stmt.with_for_update(of=Item).execution_options(populate_existing=True)
    item = session.scalar(stmt)
    if item is None:
        raise NotFoundError(f"no catalogue item {external_id!r}")
    return item


def item_ids(*, session: Session, external_ids: Iterable[str]) -> dict[str, int]:
    """Database ids of these external ids; :class:`NotFoundError` naming any that do not exist."""
    wanted = list(dict.fromkeys(external_ids))
    rows = session.execute(select(Item.external_id, Item.id).where(any_of(Item.external_id, wanted))).all()
    found = {external_id: item_id for external_id, item_id in rows}
    missing = [e for e in wanted if e not in found]
    if missing:
        shown = ", ".join(repr(m) for m in missing[:10])
        raise NotFoundError(f"no catalogue item {shown}" + (f" (and {len(missing) - 10} more)" if len(missing) > 10
                                                            else ""))  # fmt: skip
    return found


def store_image(*, session: Session, data: bytes, info: ImageInfo) -> str:
    """Store checked image bytes under their sha256 (once: an identical photo is already there); the key."""
    stmt = insert(Image).values(sha256=info.sha256, data=data, format=info.format, width=info.width,
                                height=info.height, byte_size=info.byte_size)  # fmt: skip
    session.execute(stmt.on_conflict_do_nothing(index_elements=["sha256"]))
    return info.sha256


def _check_fields(fields: Mapping[str, Any]) -> None:
    unknown = sorted(set(fields) - set(EDITABLE))
    if unknown:
        raise InvalidInputError(f"items have no editable field {', '.join(unknown)}; editable: {', '.join(EDITABLE)}")


def create_item(*, session: Session, external_id: str, fields: Mapping[str, Any],
                image: tuple[bytes, ImageInfo] | None = None) -> Item:  # fmt: skip
    """Add an item (and its image); :class:`ConflictError` when the external id is taken.

    The insert itself detects the conflict (``ON CONFLICT DO NOTHING``), so two concurrent creations of one id
    give one item and one conflict, never a database error.
    """
    problem = external_id_problem(external_id)
    if problem is not None:
        raise InvalidInputError(f"catalogue item id {external_id!r} {problem}")
    _check_fields(fields)
    lock_for_insert(session)
    values = dict(fields, external_id=external_id)
    values.setdefault("source", "api")
    if image is not None:
        values["image_sha256"] = store_image(session=session, data=image[0], info=image[1])
        values.setdefault("image_source", f"api:{image[1].sha256}")
    new_id = session.scalar(insert(Item).values(**values).on_conflict_do_nothing(index_elements=["external_id"])
                            .returning(Item.id))  # fmt: skip
    if new_id is None:
        raise ConflictError(f"catalogue item {external_id!r} already exists: PATCH it instead")
    item = session.get(Item, new_id)
    assert item is not None
    return item


def update_item(*, session: Session, external_id: str, changes: Mapping[str, Any]) -> tuple[Item, bool]:
    """Apply ``changes`` to the locked row; returns the item and whether anything changed."""
    _check_fields(changes)
    item = get_item(session=session, external_id=external_id, lock=True)
    changed = {k: v for k, v in changes.items() if getattr(item, k) != v}
    for name, value in changed.items():
        setattr(item, name, value)
    session.flush()
    if changed:
        session.refresh(item)  # updated_at, set by the database
    return item, bool(changed)


def deactivate_item(*, session: Session, external_id: str) -> tuple[Item, bool]:
    """Stop serving an item (it stays for history: outfits and interactions refer to it)."""
    return update_item(session=session, external_id=external_id, changes={"is_active": False})
