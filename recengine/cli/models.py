"""`recengine models ...`: registered model versions and checkpoint files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from recengine.cli.common import console, open_db
from recengine.cli.prose import Typer
from recengine.store.models import ModelVersion
from recengine.training.register import register_checkpoint

app = Typer(help="Model versions (model_versions) and their checkpoints.", no_args_is_help=True)


@app.command("register")
def register(
    path: Annotated[Path, typer.Argument(help="A recengine checkpoint file, e.g. checkpoints/*.pt.")],
    name: Annotated[str | None, typer.Option(help="Version name; default: from the file name.")] = None,
    dataset: Annotated[
        str | None,
        typer.Option(help="Dataset a model with θu was trained on; default: the file's record, else `default`."),
    ] = None,
) -> None:
    """Register a checkpoint file (and, for compatibility models, its users' θu) in the database."""
    with open_db() as db, db.transaction() as session:
        version = register_checkpoint(session=session, path=path, name=name, dataset=dataset)
        console.print(f"model version {version.id}: {version.family}/{version.name} from {path}")


@app.command("list")
def list_() -> None:
    """Registered model versions, newest last."""
    with open_db() as db, db.sessions() as session:
        rows = session.scalars(select(ModelVersion).order_by(ModelVersion.id)).all()
    table = Table(title="model versions")
    for col in ("id", "family", "name", "checkpoint", "sha256"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r.id), r.family, r.name, r.checkpoint_path or "", (r.checkpoint_sha256 or "")[:12])
    console.print(table)
