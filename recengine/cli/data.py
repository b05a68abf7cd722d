"""`recengine import ...`, `recengine catalogue ...` and the end-to-end `recengine demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from recengine.cli.common import console, open_db, print_report, progress_bar
from recengine.cli.prose import Typer
from recengine.datasets.importers import run_import
from recengine.datasets.importers.fashion_mnist import DEFAULT_PATH as FASHION_MNIST_PATH
from recengine.store.catalogue import GROUPINGS, category_counts, totals
from recengine.store.database import Database

import_app = Typer(help="Import catalogues and outfits (idempotent: re-running updates).", no_args_is_help=True)
catalogue_app = Typer(help="Inspect the catalogue.", no_args_is_help=True)

Limit = Annotated[int | None, typer.Option(help="Import at most this many rows (per split).", min=1)]
ShowSkipped = Annotated[int, typer.Option(help="How many skipped rows to list.", min=0)]


def _import(fmt: str, path: Path, limit: int | None, show_skipped: int, **kwargs: object) -> None:
    with open_db() as db:
        with progress_bar(f"importing {fmt}") as progress, db.transaction() as session:
            report = run_import(fmt, path, session=session, progress=progress, limit=limit, **kwargs)
        print_report(report, show_skipped=show_skipped)
        if report.items.added or report.items.updated:
            request_index_sync(db)


def request_index_sync(db: Database) -> None:
    """Changed catalogue items reach the index through a sync job, queued after the import committed; only
    where an index exists (the first one is a deliberate `recengine index build`)."""
    from recengine.indexing.service import sync_job_params
    from workers.app import create_app
    from workers.jobs import submit_job

    with db.sessions() as session:
        params = sync_job_params(session=session)
    if params is None:
        return
    job = submit_job(db=db, kind="index_sync", params=params, task=create_app())
    console.print(f"queued index sync job {job.id} for the changed items (a worker runs it: `recengine worker`)")


@import_app.command("myntra")
def import_myntra(
    path: Annotated[Path, typer.Argument(help="Folder with styles.csv/metadata.csv and images/ or images.zip.")],
    limit: Limit = None,
    show_skipped: ShowSkipped = 10,
) -> None:
    """Kaggle "Fashion Product Images" (Myntra) layout."""
    _import("myntra", path, limit, show_skipped)


@import_app.command("fashion-mnist")
def import_fashion_mnist(
    path: Annotated[Path, typer.Argument(help="Folder with the four IDX files (.gz or not).")] = FASHION_MNIST_PATH,
    limit: Limit = None,
    show_skipped: ShowSkipped = 10,
) -> None:
    """Fashion-MNIST IDX files (Debian package dataset-fashion-mnist)."""
    _import("fashion-mnist", path, limit, show_skipped)


@import_app.command("polyvore-outfits")
def import_polyvore(
    path: Annotated[Path, typer.Argument(help="Folder with <split>.json, categories.csv and the item→category map.")],
    split: Annotated[str, typer.Option(help="Which <split>.json to read.")] = "valid",
    limit: Limit = None,
    show_skipped: ShowSkipped = 10,
) -> None:
    """Polyvore Outfits (Vasileva et al. 2018) layout; images optional."""
    _import("polyvore-outfits", path, limit, show_skipped, split=split)


@import_app.command("maryland-polyvore")
def import_maryland(
    path: Annotated[Path, typer.Argument(help="Folder with <split>_no_dup.json and images/<set_id>/<index>.jpg.")],
    split: Annotated[str, typer.Option(help="Which <split>_no_dup.json to read.")] = "train",
    limit: Limit = None,
    show_skipped: ShowSkipped = 10,
) -> None:
    """Maryland Polyvore (Han et al. 2017) layout."""
    _import("maryland-polyvore", path, limit, show_skipped, split=split)


@import_app.command("csv")
def import_csv(
    path: Annotated[Path, typer.Argument(help="CSV with id,image[,name,gender,...]; image paths relative to it.")],
    source: Annotated[str, typer.Option(help="Source tag stored on the items.")] = "csv",
    limit: Limit = None,
    show_skipped: ShowSkipped = 10,
) -> None:
    """A generic CSV of items."""
    _import("csv", path, limit, show_skipped, source=source)


def _print_stats(by: str, limit: int | None) -> None:
    with open_db() as db, db.sessions() as session:
        counts = category_counts(session=session, by=by, limit=limit)
        total = totals(session=session)
    table = Table(title=f"catalogue by {by}")
    for col in (by, "items", "active", "with image"):
        table.add_column(col, justify="left" if col == by else "right")
    for row in counts:
        table.add_row(row.key or "(none)", str(row.items), str(row.active), str(row.with_image))
    console.print(table)
    console.print(
        f"{total.items} items ({total.active} active), {total.images} images, {total.outfits} outfits, "
        f"{total.users} users, {total.interactions} interactions"
    )


@catalogue_app.command("stats")
def stats(
    by: Annotated[str, typer.Option(help=f"Group by one of: {', '.join(GROUPINGS)}.")] = "article_type",
    limit: Annotated[int, typer.Option(help="Show the largest N groups (0 for all).", min=0)] = 25,
) -> None:
    """Item counts by category, as a table."""
    _print_stats(by, limit or None)
