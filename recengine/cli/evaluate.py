"""`recengine evaluate ...`: the shared evaluation protocol on a dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from recengine.cli.common import console, open_db
from recengine.cli.outputs import output_file
from recengine.cli.prose import Typer
from recengine.evaluation.baselines import evaluate_baselines
from recengine.evaluation.protocol_data import load_protocol_data

app = Typer(help="Evaluate models on the shared protocol.", no_args_is_help=True)


@app.command("baselines")
def baselines(
    dataset: Annotated[str, typer.Option(help="Dataset built by `recengine data simulate-users`.")] = "default",
    k: Annotated[int, typer.Option(help="K of Recall@K and mAP@K.", min=1)] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the questions and of the models.", min=0)] = 0,
    out: Annotated[Path | None, typer.Option(help="Also write the numbers as JSON here.", callback=output_file)] = None,
) -> None:
    """Random, popularity, ALS and BPR on FITB, personalised FITB, AUC, Recall@K and mAP@K."""
    with open_db() as db, db.sessions() as session:
        data = load_protocol_data(session=session, dataset=dataset)
    results = evaluate_baselines(data, k=k, seed=seed)
    metrics = list(next(iter(results.values())))
    table = Table(title=f"baselines on {dataset} (test outfits)")
    table.add_column("metric")
    for model in results:
        table.add_column(model, justify="right")
    for m in metrics:
        table.add_row(m, *(f"{results[model][m]:.4f}" for model in results))
    console.print(table)
    if out is not None:
        out.write_text(json.dumps(results, indent=2))
