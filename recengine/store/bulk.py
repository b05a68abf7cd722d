"""Bulk writes with PostgreSQL's COPY, inside the caller's transaction, lookups by long lists of keys, and
batched deletes of expired rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import ColumnElement, any_, delete, literal, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute, Session

from recengine.store.models import Base


def copy_rows(session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Bulk-load ``rows`` with PostgreSQL's COPY on the session's own connection (inside its transaction)."""
    table_columns = Base.metadata.tables[table].columns
    dialect = session.get_bind().dialect
    types = [table_columns[name].type.compile(dialect=dialect).split("(")[0].lower() for name in columns]
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    # Binary COPY: photo bytes cross the wire as they are, not hex-escaped to twice their size.
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row([Jsonb(v) if isinstance(v, dict) else v for v in row])


def allocate_ids(session: Session, table: str, n: int) -> list[int]:
    """``n`` fresh primary keys from ``table``'s sequence, so rows can be COPYed with known ids."""
    if n == 0:
        return []
    stmt = text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)")
    return list(session.scalars(stmt, {"t": table, "n": n}))


def any_of(column: InstrumentedAttribute[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """``column = ANY(:values)``: membership in a list of any length, sent as one array parameter.

    ``column.in_(values)`` sends one bind parameter per value, and PostgreSQL's protocol caps a statement at
    65,535 of them, so it fails on a catalogue-sized list (the 70,000 items of Fashion-MNIST did).
    """
    return column == any_(literal(list(values), ARRAY(column.type)))


def delete_oldest(session: Session, key: InstrumentedAttribute[Any], *where: ColumnElement[bool],
                  oldest: InstrumentedAttribute[Any], limit: int) -> int:  # fmt: skip
    """Delete up to ``limit`` rows of ``key``'s table matching ``where``, smallest ``oldest`` first; returns how
    many went. Rows another transaction holds are skipped (``FOR UPDATE SKIP LOCKED``): two processes pruning at
    once delete disjoint rows instead of waiting on, or deadlocking with, each other."""
    expired = select(key).where(*where).order_by(oldest).limit(limit).with_for_update(skip_locked=True)
    result = session.execute(delete(key.class_).where(key.in_(expired)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
