"""The demo's shop: catalogue, outfits and users, models and index, each step idempotent.

A second run reuses what the first built (the import reports its rows unchanged, the dataset and models are
found, the index sync has nothing to do), so the demo can be re-run in a minute to look at it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from recengine.config import Settings
from recengine.datasets.importers import default_catalogue, run_import
from recengine.datasets.importers.records import ProgressCallback
from recengine.datasets.outfits import (
    SimulationParams,
    load_catalogue,
    load_category_map,
    load_templates,
    simulate_users,
)
from recengine.datasets.outfits.simulate import DEFAULT_DATASET
from recengine.store import migrate
from recengine.store.api_keys import create_key, revoke_key
from recengine.store.database import Database
from recengine.store.models import ApiKey, Dataset, ModelVersion

#: The checkpoints a source checkout ships (``checkpoints/README.md`` has their recipes).
SHIPPED = Path(__file__).resolve().parents[2] / "checkpoints"
EMBEDDER_FILE, DESIGNER_FILE = "embedder-catalogue.pt", "designer-default-full.pt"
#: The simulated dataset the shipped checkpoints were trained on (their θu belong to its users).
DATASET = DEFAULT_DATASET
DEMO_KEY = "demo"
#: Training steps when no checkpoint ships: enough for designs that are recognisably garments, in minutes.
FALLBACK_STEPS = {"embedder": 300, "designer": 300}

#: Reports what a step is doing: ``(description, done, total)``; ``total`` 0 while unknown.
StepProgress = Callable[[str, int, int], None]


@dataclass
class StepLog:
    """What each step did and how long it took, in order (the report's "how this was made" table)."""

    rows: list[tuple[str, str, float]]

    @contextmanager
    def step(self, name: str) -> Iterator[dict[str, str]]:
        """Time the block; it may set ``note["detail"]`` to say what it found or did."""
        note: dict[str, str] = {"detail": ""}
        start = time.perf_counter()
        yield note
        self.rows.append((name, note["detail"], time.perf_counter() - start))


def _bar(progress: StepProgress, description: str) -> ProgressCallback:
    def report(done: int, total: int | None) -> None:
        progress(description, done, total or 0)

    return report


def migrate_database(db: Database) -> str:
    migrate.upgrade(db.engine)
    return str(migrate.current_revision(db.engine))


def import_catalogue(db: Database, settings: Settings, progress: StepProgress, *, limit: int | None = None) -> str:
    """The default catalogue (``RECENGINE_CATALOGUE_PATH``, else ../shared/data/myntra, else Fashion-MNIST)."""
    fmt, path = default_catalogue(settings)
    with db.transaction() as session:
        report = run_import(fmt, path, session=session, progress=_bar(progress, f"importing {fmt}"), limit=limit)
    items = report.items
    return f"{fmt} from {path}: {items.added} added, {items.updated} updated, {items.unchanged} unchanged"


def simulate_dataset(db: Database, progress: StepProgress, *, users: int | None = None) -> str:
    """The default simulated users and their outfits (documented stand-ins, docs/data.md), once; ``users``
    scales the dataset down (the shipped checkpoints' θu belong to the default 800)."""
    with db.sessions() as session:
        found = session.scalar(select(Dataset).where(Dataset.name == DATASET))
        if found is not None:
            return f"dataset {DATASET!r} exists: {found.stats.get('users', '?')} users"
    templates = load_templates(None)
    with db.transaction() as session:
        catalogue = load_catalogue(session=session, category_map=load_category_map())
        summary = simulate_users(session=session, name=DATASET, catalogue=catalogue, templates=templates,
                                 params=_params(users), progress=_bar(progress, "simulating users"))  # fmt: skip
    return f"dataset {DATASET!r}: {summary.users} users, {summary.outfits} outfits, {summary.interactions} interactions"


def _params(users: int | None) -> SimulationParams:
    if users is None:
        return SimulationParams()
    return SimulationParams(users=users, newcomer_users=max(users // 8, 1))


def ensure_models(db: Database, settings: Settings, progress: StepProgress, shipped: Path = SHIPPED) -> str:
    """Register the shipped embedder and designer; train small ones where a file is missing."""
    from recengine.training.register import register_checkpoint

    done: list[str] = []
    for family, file in (("embedder", EMBEDDER_FILE), ("designer", DESIGNER_FILE)):
        path = shipped / file
        if path.is_file():
            with db.transaction() as session:
                version = register_checkpoint(session=session, path=path)
                done.append(f"{family} {version.name} (shipped)")
            continue
        with db.sessions() as session:
            have = session.scalar(select(ModelVersion.name).where(ModelVersion.family == family).limit(1))
        if have is not None:
            done.append(f"{family} {have} (registered)")
            continue
        done.append(f"{family} {_train(db, settings, family, progress)} (trained: {path} is missing)")
    return ", ".join(done)


def _train(db: Database, settings: Settings, family: str, progress: StepProgress) -> str:
    from recengine.training.jobs import train_from_params

    steps = FALLBACK_STEPS[family]
    params: dict[str, Any] = {"family": family, "steps": steps, "eval_every": steps}
    bar = _bar(progress, f"training {family}")
    result = train_from_params(db=db, data_dir=settings.data_dir, params=params, progress=bar)
    return str(result.get("model_version_id"))


def build_or_sync_index(db: Database, settings: Settings, progress: StepProgress) -> str:
    """The catalogue index with the newest embedder: built once, then only synced."""
    from recengine.embedding.embedder import resolve_embedder
    from recengine.indexing.service import sync_index

    with db.sessions() as session:
        embedder = resolve_embedder(session=session)
    report = sync_index(db=db, root=settings.indexes_dir, embedder=embedder,
                        progress=_bar(progress, f"indexing with {embedder.version}"))  # fmt: skip
    return (f"version {report.version_name}: {report.item_count} items (+{report.added} -{report.removed} "
            f"~{report.updated}), {report.embedded} embedded")  # fmt: skip


def fresh_key(db: Database) -> str:
    """A new writer key named ``demo`` (the previous demo's is revoked: keys are only shown once)."""
    with db.transaction() as session:
        live = session.scalar(select(ApiKey).where(ApiKey.name == DEMO_KEY, ApiKey.revoked_at.is_(None)))
        if live is not None:
            revoke_key(session=session, name=DEMO_KEY)
        _, key = create_key(session=session, name=DEMO_KEY, role="writer")
    return key
