"""Per-row checks every importer applies before a value reaches the database.

A value PostgreSQL cannot take (too long for its column, a NUL character, an unpaired surrogate from a JSON
``\\u`` escape, a NaN in JSONB) would abort the whole COPY with a database error; caught here, it skips one row
with a reason.
"""

from __future__ import annotations

from sqlalchemy import String

from recengine.datasets.importers.records import ItemRecord
from recengine.store.models import Base
from recengine.store.values import storage_problem

#: Width of the bounded text columns of ``items``.
FIELD_LIMITS = {
    col.name: col.type.length
    for col in Base.metadata.tables["items"].columns
    if isinstance(col.type, String) and col.type.length is not None
}
_TEXT_FIELDS = ("external_id", "source", "name", "gender", "master_category", "sub_category", "article_type",
                "colour", "season", "usage", "image_source")  # fmt: skip


def bad_text(value: object) -> bool:
    """Whether ``value`` (or a value inside it) holds what PostgreSQL cannot store (:func:`storage_problem`)."""
    return storage_problem(value) is not None


def field_problem(record: ItemRecord) -> str | None:
    """A skip reason when ``record`` holds a value its database column cannot take, else None."""
    for name in _TEXT_FIELDS:
        value = getattr(record, name)
        if value is None:
            continue
        if name in FIELD_LIMITS and len(value) > FIELD_LIMITS[name]:
            return f"{name} is {len(value)} characters long, the limit is {FIELD_LIMITS[name]}"
        if bad_text(value):
            return f"{name} contains a NUL character or invalid Unicode"
    if bad_text(record.attributes):
        return "attributes contain a NUL character, invalid Unicode or a number that is not finite"
    return None


def parse_year(raw: str) -> int | None:
    """``"2011"`` or ``"2011.0"`` (spreadsheets write floats) -> 2011; empty -> None; else ValueError."""
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a number") from None
    if not value.is_integer() or not 1900 <= value <= 2100:
        raise ValueError(f"{raw!r} is not a year between 1900 and 2100")
    return int(value)
