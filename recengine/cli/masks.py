"""`recengine catalogue masks ...`: inpainting masks kept with the items (see recengine.inpainting.repair)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from recengine.cli.common import console, open_db
from recengine.cli.data import request_index_sync
from recengine.cli.prose import Typer
from recengine.inpainting.repair import list_masks, remove_masks, store_masks

app = Typer(help="Masks of photo parts to repair by inpainting before the items are embedded.",
                  no_args_is_help=True)  # fmt: skip


Folder = Annotated[Path, typer.Argument(help="Folder of <external_id>.png masks (white = hole, black = keep, the "
                                        "photo's size).")]  # fmt: skip
ModelName = Annotated[str | None, typer.Option(help="Inpainting model name; default the newest.")]


@app.command("add")
def add(directory: Folder, model: ModelName = None) -> None:
    """Keep the folder's masks (all, or none when one is wrong) and queue an index sync that re-embeds them."""
    with open_db() as db:
        with db.transaction() as session:
            kept = store_masks(session=session, directory=directory, model=model)
        console.print(f"kept {kept} masks from {directory}")
        request_index_sync(db)


@app.command("remove")
def remove(external_ids: Annotated[list[str], typer.Argument(help="Items whose masks go.")]) -> None:
    """Stop repairing these items' photos and queue an index sync that re-embeds them as they are."""
    with open_db() as db:
        with db.transaction() as session:
            removed = remove_masks(session=session, external_ids=external_ids)
        console.print(f"removed {removed} masks")
        request_index_sync(db)


@app.command("list")
def list_(limit: Annotated[int, typer.Option(help="Show at most N (0 for all).", min=0)] = 50) -> None:
    """The kept masks: item, inpainting model, and whether the mask still fits the item's photo."""
    with open_db() as db, db.sessions() as session:
        masks = list_masks(session=session)
    table = Table(title=f"{len(masks)} kept masks")
    for col in ("item", "model", "applies", "updated"):
        table.add_column(col)
    for mask in masks[: limit or None]:
        applies = "yes" if mask.applies else "no: the item's photo changed since"
        table.add_row(mask.external_id, mask.model, applies, f"{mask.updated_at:%Y-%m-%d %H:%M}")
    console.print(table)
