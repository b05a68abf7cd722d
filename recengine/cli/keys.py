"""`recengine keys ...`: API keys of the HTTP API (shown once at creation, stored hashed)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from recengine.cli.common import console, err_console, open_db
from recengine.cli.prose import Typer
from recengine.store.api_keys import create_key, list_keys, revoke_key
from recengine.store.models import API_ROLES

app = Typer(help="API keys of the HTTP API.", no_args_is_help=True)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Who the key is for (unique among live keys).")],
    role: Annotated[str, typer.Option(help=f"One of {', '.join(API_ROLES)}: admin may also change the catalogue.")]
    = "writer",
) -> None:  # fmt: skip
    """Create a key and print it: this is the only time it is shown (only its sha256 is stored)."""
    with open_db() as db, db.transaction() as session:
        row, key = create_key(session=session, name=name, role=role)
    err_console.print(f"created {row.role} key {row.name!r}; store it now, it is not shown again:")
    console.print(key, highlight=False, soft_wrap=True)


@app.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="Name of the live key to revoke.")]) -> None:
    """Revoke a key: requests with it are refused (403) from now on."""
    with open_db() as db, db.transaction() as session:
        row = revoke_key(session=session, name=name)
    console.print(f"revoked key {row.name!r} ({row.role})")


@app.command("list")
def list_() -> None:
    """Every key, live and revoked (never the keys themselves)."""
    with open_db() as db, db.sessions() as session:
        rows = list_keys(session=session)
    table = Table(title="API keys")
    for col in ("name", "role", "created", "revoked"):
        table.add_column(col)
    for row in rows:
        revoked = row.revoked_at.isoformat(timespec="seconds") if row.revoked_at else ""
        table.add_row(row.name, row.role, row.created_at.isoformat(timespec="seconds"), revoked)
    console.print(table)
