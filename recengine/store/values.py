"""What PostgreSQL can store, checked before a value reaches it: the API's request models and the importers'
row checks ask the same question, so a value the database would refuse is a clear 422 or a skipped row."""

from __future__ import annotations

import math


def storage_problem(value: object) -> str | None:
    """Why ``value`` (or a value inside a dict, list or tuple) cannot be stored, or None when it can.

    Text cannot hold NUL or an unpaired surrogate (JSON's ``"\\ud800"``, which is no UTF-8); JSONB cannot hold a
    NaN or an infinity, which Python's JSON reads (``NaN``, ``Infinity``, ``1e400``).
    """
    if isinstance(value, float):
        return None if math.isfinite(value) else f"must be a finite number, got {value}"
    if isinstance(value, str):
        if "\x00" in value:
            return "must not contain NUL characters"
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                return f"must be valid Unicode (an unpaired surrogate at character {exc.start})"
        return None
    inner: list[object] = []
    if isinstance(value, dict):
        inner = [v for pair in value.items() for v in pair]
    elif isinstance(value, list | tuple):
        inner = list(value)
    return next((p for p in map(storage_problem, inner) if p is not None), None)


#: Longest external id (the column's width).
EXTERNAL_ID_MAX = 128


def external_id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a new item's or user's external id, or None when it can.

    Ids are matched exactly, and the CSV importer strips its cells: an id created as ``"sku-1 "`` through the API
    was another item than the file's ``sku-1``, and no file could ever update it.
    """
    if not 1 <= len(value) <= EXTERNAL_ID_MAX:
        return f"must have 1 to {EXTERNAL_ID_MAX} characters, got {len(value)}"
    if value != value.strip():
        return f"must not start or end with whitespace (did you mean {value.strip()!r}?)"
    return storage_problem(value)
