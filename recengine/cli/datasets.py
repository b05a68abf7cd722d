"""`recengine data ...`: build stylist outfits and simulated users from the imported catalogue."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from recengine.cli.common import console, open_db, progress_bar
from recengine.cli.prose import Typer
from recengine.datasets.outfits import (
    BuildSummary,
    SimulationParams,
    build_stylist_outfits,
    load_catalogue,
    load_category_map,
    load_templates,
    simulate_users,
)
from recengine.datasets.outfits.simulate import DEFAULT_DATASET

app = Typer(help="Build outfit and user datasets (documented stand-ins; see docs/data.md).",
                  no_args_is_help=True)  # fmt: skip

Polyvore = Annotated[
    Path | None,
    typer.Option(help="Polyvore Outfits folder to take compositions from; default: the shipped counts."),
]
Seed = Annotated[int, typer.Option(help="Seed: the same seed and catalogue give the same dataset.", min=0)]
Replace = Annotated[bool, typer.Option(help="Delete and rebuild a dataset of the same name.")]


def _print(summary: BuildSummary) -> None:
    table = Table(title=f"dataset {summary.name} (id {summary.dataset_id})")
    for col in ("users", "outfits", "slots", "interactions", "seconds"):
        table.add_column(col, justify="right")
    table.add_row(str(summary.users), str(summary.outfits), str(summary.slots), str(summary.interactions),
                  f"{summary.seconds:.1f}")  # fmt: skip
    console.print(table)


@app.command("build-outfits")
def build_outfits(
    name: Annotated[str, typer.Option(help="Dataset name.")] = "stylist",
    outfits: Annotated[int, typer.Option(help="Number of outfits.", min=1)] = 5000,
    polyvore: Polyvore = None,
    seed: Seed = 0,
    replace: Replace = False,
) -> None:
    """Outfits composed by the stylist rules alone (no users), following real Polyvore compositions."""
    templates = load_templates(polyvore)
    with open_db() as db, db.transaction() as session:
        catalogue = load_catalogue(session=session, category_map=load_category_map())
        summary = build_stylist_outfits(session=session, name=name, catalogue=catalogue, templates=templates,
                                        n_outfits=outfits, seed=seed, replace=replace)  # fmt: skip
    _print(summary)


@app.command("simulate-users")
def simulate(
    name: Annotated[str, typer.Option(help="Dataset name.")] = DEFAULT_DATASET,
    users: Annotated[int, typer.Option(help="Number of users.")] = 800,
    train_outfits: Annotated[int, typer.Option(help="Training outfits per user (validation included).")] = 220,
    test_outfits: Annotated[int, typer.Option(help="Test outfits per user.")] = 40,
    newcomers: Annotated[
        int | None,
        typer.Option(
            help="Users held out as newcomers (seed Table 3); default one in eight, 100 of 800 as in the seed."
        ),
    ] = None,
    polyvore: Polyvore = None,
    seed: Seed = 0,
    replace: Replace = False,
) -> None:
    """Users with a latent taste who compose outfits from the catalogue; stored with interactions and splits."""
    newcomers = users // 8 if newcomers is None else newcomers
    if users >= 1 and not 0 <= newcomers < users:
        raise typer.BadParameter(f"must be at least 0 and fewer than --users ({users}), got {newcomers}",
                                 param_hint="--newcomers")  # fmt: skip
    params = SimulationParams(seed=seed, users=users, train_outfits=train_outfits, test_outfits=test_outfits,
                              newcomer_users=newcomers)  # fmt: skip
    templates = load_templates(polyvore)
    with open_db() as db, progress_bar("simulating users") as progress, db.transaction() as session:
        catalogue = load_catalogue(session=session, category_map=load_category_map())
        summary = simulate_users(session=session, name=name, catalogue=catalogue, templates=templates,
                                 params=params, progress=progress, replace=replace)  # fmt: skip
    _print(summary)
