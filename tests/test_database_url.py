"""Database URLs as a shop writes them in RECENGINE_DATABASE_URL: accepted forms, and clear refusals."""

from __future__ import annotations

import pytest

from recengine.errors import DatabaseError
from recengine.store.database import normalise_url


@pytest.mark.parametrize("url", ["postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg2://u@h/db"])
def test_postgresql_urls_get_the_psycopg3_driver(url: str) -> None:
    assert normalise_url(url).drivername == "postgresql+psycopg"


def test_another_database_is_refused_by_name() -> None:
    with pytest.raises(DatabaseError, match="recengine needs PostgreSQL, got a 'mysql' URL"):
        normalise_url("mysql://u@h/db")


@pytest.mark.parametrize("url", ["notaurl", "postgres:/secret@h", ""])
def test_a_value_that_is_not_a_url_is_named_without_repeating_it(url: str) -> None:
    """It was SQLAlchemy's ArgumentError traceback."""
    with pytest.raises(DatabaseError, match=r"RECENGINE_DATABASE_URL\) is not a URL") as info:
        normalise_url(url)
    assert "secret" not in str(info.value)
