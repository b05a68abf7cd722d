"""``recengine demo``'s work: prepare the shop, start the API and a worker, ask, write the report."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from recengine.config import Settings
from recengine.demo import prepare
from recengine.demo.client import ApiClient
from recengine.demo.prepare import StepLog, StepProgress
from recengine.demo.report import write_report
from recengine.demo.scenarios import Call, pick_cast, run_calls, score_spread
from recengine.demo.services import Services, running_services
from recengine.store.database import Database, open_database

#: Told each step's name as it starts (the CLI prints it).
Announce = Callable[[str], None]


@dataclass(frozen=True)
class DemoResult:
    report: Path
    calls: list[Call]
    steps: list[tuple[str, str, float]]
    key: str
    services: Services


@dataclass(frozen=True)
class DemoSize:
    """The shop's size: None is everything (the whole catalogue, the default 800 users); tests scale it down."""

    catalogue_rows: int | None = None
    users: int | None = None


def prepare_shop(db: Database, settings: Settings, size: DemoSize, log: StepLog, announce: Announce,
                 progress: StepProgress) -> str:  # fmt: skip
    """Every step before the services start; returns a fresh writer key for the calls."""
    steps: list[tuple[str, Callable[[], str]]] = [
        ("database", lambda: f"{db.url.render_as_string()} at schema {prepare.migrate_database(db)}"),
        ("catalogue", lambda: prepare.import_catalogue(db, settings, progress, limit=size.catalogue_rows)),
        ("outfits and users", lambda: prepare.simulate_dataset(db, progress, users=size.users)),
        ("models", lambda: prepare.ensure_models(db, settings, progress)),
        ("index", lambda: prepare.build_or_sync_index(db, settings, progress)),
    ]
    for name, fn in steps:
        announce(name)
        with log.step(name) as note:
            note["detail"] = fn()
    return prepare.fresh_key(db)


def run_demo(settings: Settings, *, size: DemoSize = DemoSize(), out: Path | None = None, announce: Announce,
             progress: StepProgress, on_ready: Callable[[DemoResult], None] | None = None) -> DemoResult:  # fmt: skip
    """The main job end to end on ``settings`` (the embedded PostgreSQL when no URL is set).

    Args:
        size: How much of the catalogue and how many simulated users.
        out: The report's folder (replaced); default ``<data dir>/demo``.
        announce: Called with each step's name.
        progress: Long steps' progress.
        on_ready: Called with the finished result while the services still run (``--serve`` waits there).
    """
    folder = out or settings.data_dir / "demo"
    log = StepLog([])
    db = open_database(settings)
    try:
        key = prepare_shop(db, settings, size, log, announce, progress)
        announce("API and worker")
        with ExitStack() as stack:
            with log.step("API and worker") as note:
                services = stack.enter_context(running_services(settings, folder.parent / "demo-logs"))
                note["detail"] = f"recengine serve at {services.base_url} and recengine worker, ready"
            announce("recommendation calls")
            with log.step("recommendation calls over HTTP") as calls_note:
                if folder.exists():
                    shutil.rmtree(folder)
                calls = run_calls(ApiClient(services.base_url, key), pick_cast(db), folder)
                calls_note["detail"] = f"{len(calls)} calls"
            extra = {"API": services.base_url, "demo page": f"{services.base_url}/#key=<the demo key>",
                     "users 1 and 2: items not shared": f"{score_spread(calls):.0%}",
                     "data dir": str(settings.data_dir)}  # fmt: skip
            report = write_report(folder, calls, log.rows, api_url=services.base_url, extra=extra)
            result = DemoResult(report, calls, log.rows, key, services)
            if on_ready is not None:
                on_ready(result)
        return result
    finally:
        db.close()
