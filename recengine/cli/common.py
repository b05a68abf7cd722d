"""What every CLI command shares: settings from the environment, the database, progress and tables."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from recengine.config import Settings
from recengine.datasets.importers.records import ImportReport, ProgressCallback
from recengine.errors import DatabaseError
from recengine.store.database import Database, open_database
from recengine.store.migrate import current_revision, head_revision

console = Console()
err_console = Console(stderr=True)


@contextlib.contextmanager
def open_db(*, require_schema: bool = True) -> Iterator[Database]:
    """The configured database (embedded unless RECENGINE_DATABASE_URL is set), closed on exit."""
    db = open_database(Settings())
    try:
        if require_schema:
            current, head = current_revision(db.engine), head_revision()
            if current != head:
                raise DatabaseError(
                    f"database schema is at {current or 'nothing'}, recengine needs {head}: run `recengine db upgrade`"
                )
        yield db
    finally:
        db.close()


@contextlib.contextmanager
def progress_bar(description: str) -> Iterator[ProgressCallback]:
    """A rich progress bar, handed to library calls as a ``(done, total)`` callback."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=False) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        yield update


def print_report(report: ImportReport, *, show_skipped: int = 10) -> None:
    table = Table(title=f"import {report.source}")
    for col in ("entity", "added", "updated", "unchanged"):
        table.add_column(col, justify="right" if col != "entity" else "left")
    for name, tally in (("items", report.items), ("outfits", report.outfits)):
        if tally.total:
            table.add_row(name, str(tally.added), str(tally.updated), str(tally.unchanged))
    console.print(table)
    if report.skipped:
        console.print(f"[yellow]skipped {len(report.skipped)} row(s):[/yellow]")
        for skip in report.skipped[:show_skipped]:
            console.print(f"  {skip.ref}: {skip.reason}", markup=False)
        if len(report.skipped) > show_skipped:
            console.print(f"  ... and {len(report.skipped) - show_skipped} more (--show-skipped N)")
