"""Importer for a plain catalogue CSV.

The CSV has a header row with the required columns ``id`` and ``image`` (a path relative to the CSV's folder)
and any of ``name, gender, master_category, sub_category, article_type, colour, season, usage, year``. Any
other column fails the import, so a misspelt header never silently drops a field. ``id`` becomes the item's
external id as it is. Re-importing updates only the columns the file has: an item keeps the stored value of a
column the file lacks (and its attributes), and an empty cell clears its field.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from sqlalchemy.orm import Session

from recengine.datasets.importers.base import CatalogueWriter
from recengine.datasets.importers.checks import FIELD_LIMITS, field_problem, parse_year
from recengine.datasets.importers.records import ImportReport, ItemRecord, ProgressCallback
from recengine.datasets.importers.sources import file_loader, read_csv_rows
from recengine.errors import InvalidInputError

OPTIONAL = ("name", "gender", "master_category", "sub_category", "article_type", "colour", "season", "usage")
COLUMNS = {"id", "image", "year", *OPTIONAL}


def _image_name(raw: str) -> str | None:
    """The image path normalised, or None when it would leave the CSV's folder."""
    name = posixpath.normpath(raw.replace("\\", "/"))
    if name.startswith(("/", "../")) or name in ("..", ".") or (len(name) > 1 and name[1] == ":"):
        return None
    return name


def _record(row: dict[str, str], *, ref: str, source: str, folder: Path) -> ItemRecord | str:
    """The item of one CSV row, or the reason it is skipped."""
    if "__error__" in row:
        return row["__error__"]
    if not row["id"]:
        return "empty id"
    if not row["image"]:
        return "empty image path"
    image = _image_name(row["image"])
    if image is None:
        return f"image path {row['image']!r} is not inside the CSV's folder"
    try:
        year = parse_year(row.get("year", ""))
    except ValueError as exc:
        return f"bad year: {exc}"
    # Columns the file lacks keep what is stored (a file of new names must not empty every category), as do
    # the attributes, which no column sets; an empty cell in a column the file has clears the field.
    keep = frozenset(name for name in (*OPTIONAL, "year") if name not in row) | {"attributes"}
    record = ItemRecord(external_id=row["id"], source=source, ref=ref, year=year, image_source=image,
                        load_image=file_loader(folder / image, image), keep=keep)  # fmt: skip
    for name in OPTIONAL:
        setattr(record, name, row.get(name) or None)
    return field_problem(record) or record


def _count_rows(path: Path) -> int:
    try:
        with path.open("rb") as fh:
            return max(sum(1 for _ in fh) - 1, 0)
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot open ({exc})") from exc


def import_csv(
    path_to_csv: Path,
    *,
    session: Session,
    source: str = "csv",
    progress: ProgressCallback | None = None,
    limit: int | None = None,
) -> ImportReport:
    """Import (or re-import) the catalogue CSV at ``path_to_csv``; see the module docstring for the columns.

    Args:
        path_to_csv: The CSV file; image paths in it are relative to its folder.
        session: Session to write in; the caller commits (or rolls back) the whole import.
        source: Value of the items' ``source`` column.
        progress: Called with (rows done, rows in all) now and then.
        limit: Read at most this many rows.

    Returns:
        What was added, updated, left unchanged and skipped (with reasons).

    Raises:
        InvalidInputError: The file cannot be read, has unknown or missing columns, or is not valid CSV.
    """
    if not source or len(source) > FIELD_LIMITS["source"]:
        raise InvalidInputError(f"source must be 1 to {FIELD_LIMITS['source']} characters, got {source!r}")
    total = _count_rows(path_to_csv)
    total = min(total, limit) if limit is not None else total
    report = ImportReport(source=source)
    rows = read_csv_rows(path_to_csv, known=COLUMNS, required={"id", "image"})
    with CatalogueWriter(session=session, report=report) as writer:
        for done, (line, row) in enumerate(rows, start=1):
            if limit is not None and done > limit:
                break
            ref = f"{path_to_csv.name}:{line}"
            record = _record(row, ref=ref, source=source, folder=path_to_csv.parent)
            if isinstance(record, str):
                report.skip(ref, record)
            else:
                writer.add(record)
            if progress is not None and done % 500 == 0:
                progress(done, total)
    if progress is not None:
        progress(total, total)
    return report
