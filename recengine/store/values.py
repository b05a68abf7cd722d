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
