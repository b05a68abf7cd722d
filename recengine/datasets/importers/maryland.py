"""Importer for the Maryland Polyvore layout (Han et al., "Learning Fashion Compatibility with Bidirectional
LSTMs", ACM MM 2017; https://github.com/xthan/polyvore-dataset).

A folder holding:

* ``<split>_no_dup.json``: a list of outfits ``{"name", "views", "items": [{"index", "name", "price", "likes",
  "image", "categoryid"}, ...], "image", "likes", "date", "set_url", "set_id", "desc"}``;
* ``images/<set_id>/<index>.jpg``: the photo of each item (required: an item without one is skipped);
* ``category_id.txt`` (optional): lines ``<id> <name>`` naming the category ids.

Items become ``maryland:<set_id>_<index>`` (the dataset's own item naming) and outfits ``maryland:<set_id>``.
The release dropped non-fashion items, so indices may skip numbers; slots follow the order of ``index``.
An outfit keeps the items that could be imported, provided at least two remain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from recengine.datasets.importers.base import CatalogueWriter, write_outfits
from recengine.datasets.importers.checks import bad_text, field_problem
from recengine.datasets.importers.polyvore import json_id, load_json, split_file
from recengine.datasets.importers.records import ImportReport, ItemRecord, OutfitRecord, ProgressCallback
from recengine.datasets.importers.sources import file_loader
from recengine.errors import InvalidInputError

SOURCE = "maryland-polyvore"
PREFIX = "maryland:"
#: Fewer items than this is not an outfit.
MIN_ITEMS = 2
OUTFIT_CHUNK = 2000


@dataclass(slots=True)
class ParsedOutfit:
    """One outfit of the split file: its outfit-level fields, raw item entries and item records in slot order."""

    set_id: str
    ref: str
    attributes: dict[str, Any]
    raw_items: list[Any]
    items: list[ItemRecord] = field(default_factory=list)


def load_categories(path: Path) -> dict[int, str]:
    """Category id -> name from a ``category_id.txt`` (``<id> <name...>`` per line); {} when there is none."""
    if not path.is_file():
        return {}
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: not a readable text file ({exc})") from exc
    out: dict[int, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or not (parts[0].isascii() and parts[0].isdigit()):
            raise InvalidInputError(f"{path}:{number}: expected '<id> <name>', found {line!r:.80}")
        out.setdefault(int(parts[0]), parts[1].strip())
    return out


def _number(value: object, kind: type[int] | type[float]) -> int | float | None:
    """``value`` as ``kind`` when it is a JSON number (or null); raises ValueError otherwise."""
    if value is None:
        return None
    # NaN and Infinity parse (Python's json accepts them) but are not JSON, so JSONB would reject them.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(repr(value)[:40])
    if kind is int and not float(value).is_integer():
        raise ValueError(repr(value)[:40])
    return kind(value)


def _item(raw: object, ref: str, set_id: str, root: Path, categories: dict[int, str]) -> ItemRecord | str:
    """The record of one item of outfit ``set_id``, or the reason it is skipped."""
    index = raw.get("index") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or not isinstance(index, int) or isinstance(index, bool) or index < 0:
        return f"item without a valid index: {raw!r:.100}"
    try:
        price = _number(raw.get("price"), float)
        likes = _number(raw.get("likes"), int)
        category = _number(raw.get("categoryid"), int)
    except ValueError as exc:
        return f"price, likes and categoryid must be numbers, found {exc}"
    photo = f"images/{set_id}/{index}.jpg"
    name = raw.get("name")
    record = ItemRecord(
        external_id=f"{PREFIX}{set_id}_{index}", source=SOURCE, ref=ref,
        name=(name.strip() or None) if isinstance(name, str) else None,
        article_type=None if category is None else categories.get(int(category), str(category)),
        attributes={"price": price, "likes": likes, "categoryid": category},
        image_source=photo, load_image=file_loader(root / photo, photo),
    )  # fmt: skip
    return field_problem(record) or record


def _outfit(entry: object, ref: str) -> ParsedOutfit | str:
    if not isinstance(entry, dict):
        return f"expected an outfit object, found {type(entry).__name__}"
    set_id = json_id(entry.get("set_id"))
    if set_id is None:
        return "missing or invalid set_id"
    if "/" in set_id or "\\" in set_id or set_id.startswith("."):
        return f"set_id {set_id!r} cannot name an image folder"
    raw_items = entry.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        return f"outfit {set_id!r} has no items list"
    try:
        likes, views = _number(entry.get("likes"), int), _number(entry.get("views"), int)
    except ValueError as exc:
        return f"outfit {set_id!r}: likes and views must be numbers, found {exc}"
    name = entry.get("name")
    attributes = {"name": name if isinstance(name, str) else None, "likes": likes, "views": views}
    if bad_text(attributes):
        return f"outfit {set_id!r}: name contains a NUL character or invalid Unicode"
    return ParsedOutfit(set_id=set_id, ref=ref, attributes=attributes, raw_items=raw_items)


def _add_items(outfit: ParsedOutfit, root: Path, categories: dict[int, str], report: ImportReport) -> None:
    """Fill ``outfit.items`` in index order; unusable items are skipped with their reason."""
    by_index: dict[int, ItemRecord] = {}
    for k, raw in enumerate(outfit.raw_items):
        # Refs are positions, not indices: a repeated index must not share a ref with the item it repeats.
        item = _item(raw, f"{outfit.ref}.items[{k}]", outfit.set_id, root, categories)
        if isinstance(item, str):
            report.skip(f"{outfit.ref}.items[{k}]", item)
            continue
        index = raw["index"]
        if index in by_index:
            report.skip(item.ref, f"outfit {outfit.set_id!r} has two items at index {index}")
            continue
        by_index[index] = item
    outfit.items = [by_index[i] for i in sorted(by_index)]


def parse(
    doc: object, path: Path, root: Path, categories: dict[int, str], report: ImportReport, limit: int | None
) -> list[ParsedOutfit]:
    """The outfits of a split file with their item records; bad entries are skipped with their reason."""
    if not isinstance(doc, list):
        raise InvalidInputError(f"{path}: expected a JSON list of outfits, found {type(doc).__name__}")
    seen: dict[str, str] = {}
    out: list[ParsedOutfit] = []
    for n, entry in enumerate(doc[: max(limit, 0)] if limit is not None else doc):
        outfit = _outfit(entry, f"{path.name}[{n}]")
        if isinstance(outfit, str):
            report.skip(f"{path.name}[{n}]", outfit)
            continue
        if outfit.set_id in seen:
            report.skip(outfit.ref, f"duplicate set_id {outfit.set_id!r} (first seen at {seen[outfit.set_id]})")
            continue
        seen[outfit.set_id] = outfit.ref
        _add_items(outfit, root, categories, report)
        out.append(outfit)
    return out


def import_maryland_polyvore(
    path: Path,
    *,
    session: Session,
    split: str = "train",
    progress: ProgressCallback | None = None,
    limit: int | None = None,
) -> ImportReport:
    """Import (or re-import) one split of the Maryland Polyvore folder at ``path``.

    Args:
        path: The dataset folder (see the module docstring for its layout).
        session: Session to write in; the caller commits (or rolls back) the whole import.
        split: Which ``<split>_no_dup.json`` to read (``train``, ``valid`` or ``test``).
        progress: Called with (work done, work in all), counting items and outfits.
        limit: Read at most this many outfits.

    Returns:
        What was added, updated, left unchanged and skipped (with reasons).

    Raises:
        InvalidInputError: The split file or ``category_id.txt`` is missing, unreadable or malformed.
    """
    file = split_file(path, f"{split}_no_dup.json", split, "a Maryland Polyvore split file")
    report = ImportReport(source=SOURCE)
    categories = load_categories(path / "category_id.txt")
    outfits = parse(load_json(file), file, path, categories, report, limit)
    total = sum(len(o.items) for o in outfits) + len(outfits)
    done = reported = 0
    with CatalogueWriter(session=session, report=report) as writer:
        for outfit in outfits:
            for record in outfit.items:
                writer.add(record)
            done += len(outfit.items)
            if progress is not None and done - reported >= 1000:
                progress(done, total)
                reported = done
    ready = _complete(outfits, report)
    for start in range(0, len(ready), OUTFIT_CHUNK):
        write_outfits(session=session, outfits=ready[start : start + OUTFIT_CHUNK], report=report)
        if progress is not None:
            progress(done + min(start + OUTFIT_CHUNK, len(ready)), total)
    if progress is not None:
        progress(total, total)
    return report


def _complete(outfits: list[ParsedOutfit], report: ImportReport) -> list[OutfitRecord]:
    """Outfit records of the items the writer accepted; outfits left with too few items are skipped."""
    failed = {s.ref for s in report.skipped}
    ready: list[OutfitRecord] = []
    for outfit in outfits:
        kept = [r.external_id for r in outfit.items if r.ref not in failed]
        if len(kept) < MIN_ITEMS:
            reason = f"outfit {outfit.set_id!r}: only {len(kept)} of {len(outfit.raw_items)} items imported"
            report.skip(outfit.ref, reason)
            continue
        ready.append(
            OutfitRecord(external_id=PREFIX + outfit.set_id, source=SOURCE, ref=outfit.ref,
                         item_external_ids=kept, attributes=outfit.attributes)
        )  # fmt: skip
    return ready
