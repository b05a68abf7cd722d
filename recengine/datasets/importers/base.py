"""What every importer shares: records, the report, and the batched, idempotent catalogue writer.

An importer parses its format into :class:`ItemRecord` / :class:`OutfitRecord` and hands them to
:class:`CatalogueWriter`, which checks images and stores them with their sha256, upserts rows by external id
(re-running updates changed rows and never duplicates) and counts what happened. The writer never
commits: the caller runs the whole import in one transaction, so a failed import leaves the database as it was.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from recengine.datasets.importers.checks import field_problem
from recengine.datasets.importers.records import (
    ImportReport,
    ItemRecord,
    OutfitRecord,
)
from recengine.errors import InvalidInputError
from recengine.store.bulk import any_of, copy_rows
from recengine.store.catalogue_lock import lock_for_import
from recengine.store.images import ImageInfo, inspect_image
from recengine.store.models import Image, Item, Outfit, OutfitItem

#: Item columns an import may set; compared to decide between "updated" and "unchanged".
ITEM_FIELDS = (
    "source", "name", "gender", "master_category", "sub_category", "article_type",
    "colour", "season", "usage", "year", "attributes", "image_sha256", "image_source",
)  # fmt: skip


class CatalogueWriter:
    """Buffers item records and writes them in batches; use it as a context manager (or call :meth:`flush`)."""

    def __init__(
        self, *, session: Session, report: ImportReport, batch_size: int = 1000, workers: int | None = None
    ) -> None:
        lock_for_import(session)  # before anything is read: what exists decides between COPY and UPDATE
        self.session = session
        self.report = report
        self.batch_size = batch_size
        self._seen: dict[str, str] = {}
        self._rows: list[tuple[dict[str, Any], frozenset[str], str]] = []  # (row, fields kept as stored, ref)
        self._images: dict[str, tuple[Any, ...]] = {}
        self._pending: list[ItemRecord] = []
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> CatalogueWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        try:
            if exc_type is None:
                self.flush()
        finally:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)

    def add(self, record: ItemRecord) -> None:
        """Queue ``record``; it is checked and written with its batch (skips land in the report)."""
        self._pending.append(record)
        if len(self._pending) >= self.batch_size:
            self.flush()

    def _read(self, record: ItemRecord) -> tuple[bytes, str] | str | None:
        """The record's image bytes and a name for messages; a skip reason; or None when it has no image."""
        if record.load_image is None:
            return None
        try:
            return record.load_image(), f"image {record.image_source or record.external_id}"
        except InvalidInputError as exc:
            return str(exc)
        except (FileNotFoundError, KeyError):
            return f"missing image {record.image_source}"
        except OSError as exc:  # a folder or an unreadable file in place of a photo: bad input for one row
            return f"cannot read image {record.image_source} ({exc.strerror or exc})"

    def _check_all(self, pending: list[ItemRecord]) -> list[tuple[bytes, ImageInfo] | str | None]:
        read = [self._read(r) for r in pending]
        jobs = [x for x in read if isinstance(x, tuple)]
        # Full decodes dominate an import and hold the GIL in PIL's Python layer, so large batches are decoded
        # in forked worker processes (threads measured slower than one thread here); the children only run
        # `_inspect` on bytes and never touch the parent's database connection.
        if len(jobs) >= 256 and self.workers > 1:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"))
            checked = iter(list(self._pool.map(_inspect, jobs, chunksize=64)))
        else:
            checked = iter([_inspect(j) for j in jobs])
        out: list[tuple[bytes, ImageInfo] | str | None] = []
        for x in read:
            if not isinstance(x, tuple):
                out.append(x)
                continue
            result = next(checked)
            out.append(result if isinstance(result, str) else (x[0], result))
        return out

    def _accept(self, record: ItemRecord, checked: tuple[bytes, ImageInfo] | str | None) -> None:
        first = self._seen.get(record.external_id)
        if first is not None:
            self.report.skip(record.ref, f"duplicate id {record.external_id!r} (first seen at {first})")
            return
        if isinstance(checked, str):
            self.report.skip(record.ref, checked)
            return
        problem = field_problem(record)
        if problem is not None:
            self.report.skip(record.ref, problem)
            return
        self._seen[record.external_id] = record.ref
        row = {name: getattr(record, name) for name in ITEM_FIELDS if name != "image_sha256"}
        row["external_id"] = record.external_id
        row["image_sha256"] = None
        if checked is not None:
            data, info = checked
            row["image_sha256"] = info.sha256
            self._images[info.sha256] = (info.sha256, data, info.format, info.width, info.height, info.byte_size)
        self._rows.append((row, record.keep, record.ref))

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        for record, checked in zip(pending, self._check_all(pending), strict=True):
            self._accept(record, checked)
        self._flush_images()
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        ids = [r["external_id"] for r, _, _ in rows]
        cols = [getattr(Item, name) for name in ITEM_FIELDS]
        existing = {
            row.external_id: row
            for row in self.session.execute(select(Item.id, Item.external_id, *cols).where(Item.external_id.in_(ids)))
        }
        new, changed = [], []
        for r, keep, ref in rows:
            old = existing.get(r["external_id"])
            if old is None:
                new.append(r)
                continue
            if old.source != r["source"]:
                # Ids are unique across sources: two feeds numbering their items alike would otherwise merge,
                # the second silently rewriting the first's items.
                self.report.skip(ref, f"id {r['external_id']!r} is an item of source {old.source!r}, not "
                                      f"{r['source']!r}: import it with that source, or change the item's source "
                                      "first (`PATCH /v1/items/<id>`)")  # fmt: skip
                continue
            r.update({name: getattr(old, name) for name in keep})
            if any(getattr(old, name) != r[name] for name in ITEM_FIELDS):
                changed.append({"id": old.id, **r})
            else:
                self.report.items.unchanged += 1
        if new:
            names = ("external_id", *ITEM_FIELDS)
            copy_rows(self.session, "items", names, ([r[n] for n in names] for r in new))
        if changed:
            self.session.execute(update(Item), changed)
        self.report.items.added += len(new)
        self.report.items.updated += len(changed)

    def _flush_images(self) -> None:
        if not self._images:
            return
        images, self._images = self._images, {}
        stored = set(self.session.scalars(select(Image.sha256).where(Image.sha256.in_(list(images)))))
        # A concurrent import of the same photo makes this COPY fail on the primary key, which rolls the
        # whole import back cleanly; a staging table + ON CONFLICT measured ~1 s slower per 40k photos.
        names = ("sha256", "data", "format", "width", "height", "byte_size")
        copy_rows(self.session, "images", names, (v for k, v in images.items() if k not in stored))


def _inspect(job: tuple[bytes, str]) -> ImageInfo | str:
    try:
        return inspect_image(job[0], what=job[1])
    except InvalidInputError as exc:
        return str(exc)


def item_ids(session: Session, external_ids: Iterable[str]) -> dict[str, int]:
    """Map external ids to database ids (missing ids are simply absent)."""
    stmt = select(Item.external_id, Item.id).where(any_of(Item.external_id, set(external_ids)))
    return dict(session.execute(stmt).all())


def write_outfits(*, session: Session, outfits: list[OutfitRecord], report: ImportReport) -> None:
    """Upsert outfits by external id, with their ordered slots; outfits naming unknown items are skipped."""
    ids = item_ids(session, (e for o in outfits for e in o.item_external_ids))
    # Slots are loaded with their outfits: comparing them one lazy load at a time dominated re-imports.
    stmt = (
        select(Outfit)
        .options(selectinload(Outfit.slots))
        .where(any_of(Outfit.external_id, {o.external_id for o in outfits}))
    )
    existing = {o.external_id: o for o in session.scalars(stmt)}
    seen: dict[str, str] = {}
    for rec in outfits:
        if rec.external_id in seen:
            report.skip(rec.ref, f"duplicate outfit id {rec.external_id!r} (first seen at {seen[rec.external_id]})")
            continue
        seen[rec.external_id] = rec.ref
        missing = [e for e in rec.item_external_ids if e not in ids]
        if missing:
            report.skip(rec.ref, f"outfit {rec.external_id!r} names items not imported: {', '.join(missing[:5])}")
            continue
        wanted = [ids[e] for e in rec.item_external_ids]
        outfit = existing.get(rec.external_id)
        if outfit is None:
            outfit = Outfit(external_id=rec.external_id, source=rec.source, owner_user_id=rec.owner_user_id,
                            attributes=rec.attributes)  # fmt: skip
            outfit.slots = [OutfitItem(slot=i, item_id=item) for i, item in enumerate(wanted)]
            session.add(outfit)
            report.outfits.added += 1
            continue
        same = (
            [s.item_id for s in outfit.slots] == wanted
            and outfit.source == rec.source
            and outfit.owner_user_id == rec.owner_user_id
            and outfit.attributes == rec.attributes
        )
        if same:
            report.outfits.unchanged += 1
            continue
        outfit.source, outfit.owner_user_id, outfit.attributes = rec.source, rec.owner_user_id, rec.attributes
        outfit.slots.clear()
        session.flush()
        outfit.slots.extend(OutfitItem(slot=i, item_id=item) for i, item in enumerate(wanted))
        report.outfits.updated += 1
    session.flush()
