"""`recengine demo`: the README's main job end to end on the embedded default."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from recengine.cli.common import console, err_console
from recengine.cli.outputs import output_folder
from recengine.config import Settings
from recengine.demo import DemoResult, DemoSize, run_demo
from recengine.demo.prepare import StepProgress


@contextmanager
def _bars() -> Iterator[StepProgress]:
    """One bar per long step (import, simulation, indexing...), created when the step first reports."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console) as progress:
        tasks: dict[str, TaskID] = {}

        def update(description: str, done: int, total: int) -> None:
            if description not in tasks:
                tasks[description] = progress.add_task(description, total=total or None)
            progress.update(tasks[description], completed=done, total=total or None)

        yield update


def _print(result: DemoResult) -> None:
    table = Table(title="the calls (over HTTP)")
    for col in ("call", "θu", "items", "designs", "ms"):
        table.add_column(col, justify="left" if col in ("call", "θu") else "right")
    for call in result.calls:
        table.add_row(call.title, str(call.response["theta_source"]), str(len(call.response["items"])),
                      str(len(call.response["designs"])), f"{call.seconds * 1000:.0f}")  # fmt: skip
    console.print(table)


def demo(
    limit: Annotated[int | None, typer.Option(help="Import at most this many catalogue rows.", min=1)] = None,
    users: Annotated[int | None, typer.Option(help="Simulated users (default 800: the shipped models').")] = None,
    out: Annotated[Path | None, typer.Option(help="Report folder; default <data dir>/demo.", callback=output_folder)]
    = None,
    serve: Annotated[bool, typer.Option(help="Keep the API and worker running after the report (Ctrl-C stops).")]
    = False,
) -> None:  # fmt: skip
    """The main job end to end: PostgreSQL, migrations, catalogue, outfits and users, models, index, the API and a
    worker, recommendation calls over HTTP, and an HTML report of the designs and matches."""
    settings = Settings()
    start = time.perf_counter()

    def announce(step: str) -> None:
        console.print(f"[bold]▶ {step}[/bold] ({time.perf_counter() - start:.0f} s)")

    def hold(result: DemoResult) -> None:
        _print(result)
        console.print(f"report: [bold]{result.report}[/bold]  (open file://{result.report})")
        if serve:
            console.print(f"demo page: {result.services.base_url}/#key={result.key}  — Ctrl-C stops the API")
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass

    with _bars() as progress:
        run_demo(settings, size=DemoSize(limit, users), out=out, announce=announce, progress=progress,
                 on_ready=hold)  # fmt: skip
    console.print(
        f"done in {time.perf_counter() - start:.0f} s; data in {settings.data_dir}. The API again: "
        "`recengine serve` and `recengine worker`; a key: `recengine keys create NAME`."
    )
