"""`recengine db ...`: migrations and the database server."""

from __future__ import annotations

from typing import Annotated

import typer

from recengine.cli.common import console, open_db
from recengine.cli.prose import Typer
from recengine.store import migrate

app = Typer(help="Database schema (Alembic migrations) and server.", no_args_is_help=True)


@app.command()
def upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Migrate the schema up to REVISION (default: the newest)."""
    with open_db(require_schema=False) as db:
        migrate.upgrade(db.engine, revision)
        console.print(f"schema at [bold]{migrate.current_revision(db.engine)}[/bold]")


@app.command()
def downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")],
    drop_data: Annotated[bool, typer.Option("--drop-data", help="Go ahead when tables or columns that hold data "
                                            "would be dropped (refused otherwise, changing nothing).")] = False,
) -> None:  # fmt: skip
    """Migrate the schema down to REVISION (`base` drops every recengine table)."""
    with open_db(require_schema=False) as db:
        migrate.downgrade(db.engine, revision, drop_data=drop_data)
        console.print(f"schema at [bold]{migrate.current_revision(db.engine) or 'base'}[/bold]")


@app.command()
def status() -> None:
    """Show which server is used and whether its schema is current."""
    with open_db(require_schema=False) as db:
        current, head = migrate.current_revision(db.engine), migrate.head_revision()
        kind = "embedded PostgreSQL" if db.embedded else "configured server"
        console.print(f"database: {db.url.render_as_string()} ({kind})")
        state = "[green]up to date[/green]" if current == head else "[red]needs `recengine db upgrade`[/red]"
        console.print(f"schema:   {current or 'empty'} (head {head}) {state}")
        if current != head:
            raise typer.Exit(1)
