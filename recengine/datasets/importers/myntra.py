"""Importer for the Kaggle "Fashion Product Images" (Myntra) layout.

A folder holding ``styles.csv`` or ``metadata.csv`` (columns ``id, gender, masterCategory, subCategory,
articleType, baseColour, season, year, usage, productDisplayName`` and optionally ``image``) and the photos in
``images/`` or ``images.zip`` as ``images/<id>.jpg``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from recengine.datasets.importers.base import CatalogueWriter
from recengine.datasets.importers.checks import parse_year
from recengine.datasets.importers.records import ImportReport, ItemRecord, ProgressCallback
from recengine.datasets.importers.sources import ImageFiles, read_csv_rows
from recengine.errors import InvalidInputError

SOURCE = "myntra"
COLUMNS = {
    "id": "external_id", "gender": "gender", "masterCategory": "master_category", "subCategory": "sub_category",
    "articleType": "article_type", "baseColour": "colour", "season": "season", "year": "year",
    "usage": "usage", "productDisplayName": "name", "image": "image_source",
}  # fmt: skip


def _find(root: Path, names: tuple[str, ...], what: str) -> Path:
    for name in names:
        if (root / name).exists():
            return root / name
    raise InvalidInputError(f"{root}: no {what} found (looked for {', '.join(names)})")


def count_rows(path: Path) -> int:
    csv_path = _find(path, ("styles.csv", "metadata.csv"), "styles.csv or metadata.csv")
    with csv_path.open("rb") as fh:
        return max(sum(1 for _ in fh) - 1, 0)


def import_myntra(
    path: Path,
    *,
    session: Session,
    progress: ProgressCallback | None = None,
    limit: int | None = None,
) -> ImportReport:
    """Import (or re-import) the catalogue at ``path``; see the module docstring for the layout."""
    csv_path = _find(path, ("styles.csv", "metadata.csv"), "styles.csv or metadata.csv")
    images = ImageFiles(_find(path, ("images", "images.zip"), "images/ folder or images.zip"))
    total = min(count_rows(path), limit) if limit is not None else count_rows(path)
    report = ImportReport(source=SOURCE)
    rows = read_csv_rows(csv_path, known=set(COLUMNS), required={"id", "articleType"})
    try:
        with CatalogueWriter(session=session, report=report) as writer:
            for done, (line, row) in enumerate(rows, start=1):
                if limit is not None and done > limit:
                    break
                ref = f"{csv_path.name}:{line}"
                if "__error__" in row:
                    report.skip(ref, row["__error__"])
                    continue
                fields: dict[str, Any] = {COLUMNS[k]: (v or None) for k, v in row.items() if k not in ("year", "image")}
                if not fields.get("external_id"):
                    report.skip(ref, "empty id")
                    continue
                try:
                    year = parse_year(row.get("year", ""))
                except ValueError as exc:
                    report.skip(ref, f"bad year: {exc}")
                    continue
                image_name = row.get("image") or f"images/{fields['external_id']}.jpg"
                writer.add(
                    ItemRecord(
                        **fields, source=SOURCE, ref=ref, year=year, image_source=image_name,
                        load_image=lambda name=image_name: images.read(name),  # type: ignore[misc]
                    )
                )  # fmt: skip
                if progress is not None and done % 500 == 0:
                    progress(done, total)
    finally:
        images.close()
    if progress is not None:
        progress(total, total)
    return report
