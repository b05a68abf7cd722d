"""Importer for the Polyvore Outfits layout (Vasileva et al., "Learning Type-Aware Embeddings for Fashion
Compatibility", ECCV 2018).

A folder holding:

* ``<split>.json``: a list of outfits ``{"set_id": str, "items": [{"item_id": str, "index": int}, ...]}``;
* an item -> category id map ``{"item_id": "category_id"}`` (``<split>_category.json``, ``category.json`` or
  ``train_category.json``; optional);
* ``categories.csv``: rows ``id,fine_category,semantic_category`` without a header (optional);
* ``images/<item_id>.jpg`` (optional: some releases ship no photos, and an item without one is still imported).

Items become ``polyvore:<item_id>`` with the fine category as ``article_type`` and the semantic one as
``sub_category``; outfits become ``polyvore:<set_id>`` with their slots in the order of ``index``.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from recengine.datasets.importers.base import CatalogueWriter, write_outfits
from recengine.datasets.importers.checks import bad_text, field_problem
from recengine.datasets.importers.records import ImportReport, ItemRecord, OutfitRecord, ProgressCallback
from recengine.datasets.importers.sources import file_loader
from recengine.errors import InvalidInputError

SOURCE = "polyvore-outfits"
PREFIX = "polyvore:"
#: Outfits handed to ``write_outfits`` at once: bounds its IN lists and lets progress move.
OUTFIT_CHUNK = 2000
#: Longest dataset id accepted (real ones have under 20 characters; external ids hold 128).
MAX_ID = 100


@dataclass(slots=True)
class ParsedOutfit:
    """One outfit as read from the split file: its id, where it was read, and its item ids in slot order."""

    set_id: str
    ref: str
    item_ids: list[str]


def load_json(path: Path) -> Any:
    """The parsed contents of ``path``; unreadable or malformed (e.g. truncated) files raise InvalidInputError."""
    try:
        with path.open("rb") as fh:
            return json.load(fh)
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read ({exc})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidInputError(f"{path}: not valid JSON, the file may be truncated ({exc})") from exc


def json_id(value: object) -> str | None:
    """An id written as a JSON string or integer, as text; None for anything else.

    Bools are not ids; ids longer than :data:`MAX_ID` or holding text PostgreSQL cannot store are refused
    here, so that every external id built from them fits its column.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value).strip()
    if not text or len(text) > MAX_ID or bad_text(text):
        return None
    return text


def split_file(path: Path, name: str, split: str, what: str) -> Path:
    """``path / name`` after checking that ``split`` is a plain name (it is spliced into a file name)."""
    if not split or not all(c.isalnum() or c in "-_" for c in split):
        raise InvalidInputError(f"split must be a plain name such as 'train' or 'valid', got {split!r}")
    file = path / name
    if not file.is_file():
        raise InvalidInputError(f"{path}: no {name} ({what})")
    return file


def _parse_outfit(entry: object) -> tuple[str, list[str]] | str:
    """``(set_id, item ids in index order)`` of one outfit entry, or why it cannot be used."""
    if not isinstance(entry, dict):
        return f"expected an outfit object, found {type(entry).__name__}"
    set_id = json_id(entry.get("set_id"))
    if set_id is None:
        return "missing or invalid set_id"
    items = entry.get("items")
    if not isinstance(items, list) or not items:
        return f"outfit {set_id!r} has no items list"
    slots: dict[int, str] = {}
    for item in items:
        item_id = json_id(item.get("item_id")) if isinstance(item, dict) else None
        index = item.get("index") if isinstance(item, dict) else None
        if item_id is None or not isinstance(index, int) or isinstance(index, bool):
            return f"outfit {set_id!r} has an item without a valid item_id and integer index: {item!r:.100}"
        if index in slots:
            return f"outfit {set_id!r} has two items at index {index}"
        slots[index] = item_id
    return set_id, [slots[i] for i in sorted(slots)]


def parse_outfits(doc: object, path: Path, report: ImportReport, limit: int | None) -> list[ParsedOutfit]:
    """The usable outfits of a split file; bad or repeated entries are skipped with their reason."""
    if not isinstance(doc, list):
        raise InvalidInputError(f"{path}: expected a JSON list of outfits, found {type(doc).__name__}")
    seen: dict[str, str] = {}
    out: list[ParsedOutfit] = []
    for n, entry in enumerate(doc[: max(limit, 0)] if limit is not None else doc):
        ref = f"{path.name}[{n}]"
        parsed = _parse_outfit(entry)
        if isinstance(parsed, str):
            report.skip(ref, parsed)
            continue
        set_id, item_ids = parsed
        if set_id in seen:
            report.skip(ref, f"duplicate set_id {set_id!r} (first seen at {seen[set_id]})")
            continue
        seen[set_id] = ref
        out.append(ParsedOutfit(set_id, ref, item_ids))
    return out


def _category_map(path: Path, split: str) -> dict[str, str]:
    for name in (f"{split}_category.json", "category.json", "train_category.json"):
        if (path / name).is_file():
            doc = load_json(path / name)
            if not isinstance(doc, dict):
                raise InvalidInputError(f"{path / name}: expected an object mapping item ids to category ids")
            return {str(k): cat for k, v in doc.items() if (cat := json_id(v)) is not None}
    return {}


def _categories(path: Path) -> dict[str, tuple[str | None, str | None]]:
    """Category id -> (fine, semantic) from ``categories.csv``.

    The released file repeats some ids with variant names (11 is "sweater", then "sleeveless top", ...);
    the first row of an id wins, as in the release's own flattened joins. Cells are stripped because some
    names carry a trailing space ("jewellery ").
    """
    file = path / "categories.csv"
    if not file.is_file():
        return {}
    out: dict[str, tuple[str | None, str | None]] = {}
    try:
        with file.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, strict=True)  # an unclosed quote is an error, not the rest of the file in one cell
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) not in (2, 3) or not row[0].strip():
                    raise InvalidInputError(f"{file}:{reader.line_num}: expected id,fine_category,semantic_category")
                cells = [cell.strip() or None for cell in row] + [None]
                out.setdefault(row[0].strip(), (cells[1], cells[2]))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInputError(f"{file}: not a readable CSV file ({exc})") from exc
    return out


def _item_records(path: Path, split: str, outfits: list[ParsedOutfit]) -> dict[str, ItemRecord]:
    """Item id -> its record, one per distinct item in order of first appearance (items are shared)."""
    item_cat = _category_map(path, split)
    categories = _categories(path)
    images = path / "images"
    # One listing instead of a stat per item; an id can only match a plain file name in images/.
    photos = {e.name for e in os.scandir(images) if e.is_file()} if images.is_dir() else set()
    records: dict[str, ItemRecord] = {}
    for outfit in outfits:
        for item_id in outfit.item_ids:
            if item_id in records:
                continue
            cat_id = item_cat.get(item_id)
            fine, semantic = categories.get(cat_id, (None, None)) if cat_id is not None else (None, None)
            photo = f"{item_id}.jpg"
            has_photo = photo in photos
            records[item_id] = ItemRecord(
                external_id=PREFIX + item_id, source=SOURCE, ref=f"{outfit.ref} item {item_id}",
                article_type=fine, sub_category=semantic,
                attributes={"category_id": cat_id} if cat_id is not None else {},
                image_source=f"images/{photo}" if has_photo else None,
                load_image=file_loader(images / photo, f"images/{photo}") if has_photo else None,
            )  # fmt: skip
    return records


def _ready_outfits(
    outfits: list[ParsedOutfit], records: dict[str, ItemRecord], report: ImportReport
) -> list[OutfitRecord]:
    """Outfit records of the outfits whose items were all accepted; the others are skipped with the reason."""
    failed = {s.ref for s in report.skipped}
    ready: list[OutfitRecord] = []
    for outfit in outfits:
        bad = next((i for i in outfit.item_ids if records[i].ref in failed), None)
        if bad is not None:
            # An outfit missing a piece is not the outfit its author made; keep it out rather than shorten it.
            report.skip(outfit.ref, f"outfit {outfit.set_id!r} uses item {bad!r}, which was skipped")
            continue
        ready.append(
            OutfitRecord(external_id=PREFIX + outfit.set_id, source=SOURCE, ref=outfit.ref,
                         item_external_ids=[PREFIX + i for i in outfit.item_ids])
        )  # fmt: skip
    return ready


def import_polyvore_outfits(
    path: Path,
    *,
    session: Session,
    split: str = "valid",
    progress: ProgressCallback | None = None,
    limit: int | None = None,
) -> ImportReport:
    """Import (or re-import) one split of the Polyvore Outfits folder at ``path``.

    Args:
        path: The dataset folder (see the module docstring for its layout).
        session: Session to write in; the caller commits (or rolls back) the whole import.
        split: Which ``<split>.json`` to read (``train``, ``valid`` or ``test``).
        progress: Called with (work done, work in all), counting items and outfits.
        limit: Read at most this many outfits (and the items they use).

    Returns:
        What was added, updated, left unchanged and skipped (with reasons).

    Raises:
        InvalidInputError: A file is missing, unreadable or malformed; nothing is written then.
    """
    file = split_file(path, f"{split}.json", split, "a Polyvore Outfits split file")
    report = ImportReport(source=SOURCE)
    outfits = parse_outfits(load_json(file), file, report, limit)
    records = _item_records(path, split, outfits)
    total = len(records) + len(outfits)
    with CatalogueWriter(session=session, report=report) as writer:
        for done, record in enumerate(records.values(), start=1):
            reason = field_problem(record)
            if reason is not None:
                report.skip(record.ref, reason)
            else:
                writer.add(record)
            if progress is not None and done % 1000 == 0:
                progress(done, total)
    ready = _ready_outfits(outfits, records, report)
    for start in range(0, len(ready), OUTFIT_CHUNK):
        write_outfits(session=session, outfits=ready[start : start + OUTFIT_CHUNK], report=report)
        if progress is not None:
            progress(len(records) + min(start + OUTFIT_CHUNK, len(ready)), total)
    if progress is not None:
        progress(total, total)
    return report
