"""Shared by the benchmark scripts: a throw-away migrated database on the embedded server or a given one."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from recengine.datasets.image_cache import load_image_cache
from recengine.datasets.importers.myntra import import_myntra
from recengine.datasets.outfits import (
    BuildSummary,
    CatalogueArrays,
    SimulationParams,
    load_catalogue,
    load_category_map,
    load_templates,
    simulate_users,
)
from recengine.evaluation.protocol_data import ProtocolData, load_protocol_data
from recengine.store.database import make_engine, normalise_url
from recengine.store.embedded import embedded_url, start_embedded, stop_embedded
from recengine.store.migrate import upgrade


@contextlib.contextmanager
def scratch_database() -> Iterator[Engine]:
    """A fresh database migrated to head, dropped afterwards (and its embedded server stopped)."""
    server = None
    if os.environ.get("RECENGINE_DATABASE_URL"):
        url = normalise_url(os.environ["RECENGINE_DATABASE_URL"])
    else:
        server = start_embedded(Path(tempfile.mkdtemp(prefix="recengine-bench-")) / "pgdata")
        url = embedded_url(server, "postgres")
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(url.set(database=name))
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        if server is not None:
            stop_embedded(server)


@dataclass(frozen=True)
class DefaultDataset:
    catalogue: CatalogueArrays
    summary: BuildSummary
    import_s: float
    build_s: float


def build_default_dataset(engine: Engine, catalogue: Path, users: int = 800) -> DefaultDataset:
    """Import the catalogue and simulate the default dataset ("default", seed 0) into ``engine``, timed."""
    start = time.perf_counter()
    with Session(engine) as session, session.begin():
        import_myntra(catalogue, session=session)
    import_s = time.perf_counter() - start
    start = time.perf_counter()
    with Session(engine) as session, session.begin():
        arrays = load_catalogue(session=session, category_map=load_category_map())
        summary = simulate_users(session=session, name="default", catalogue=arrays, templates=load_templates(),
                                 params=SimulationParams(users=users))  # fmt: skip
    return DefaultDataset(arrays, summary, import_s, time.perf_counter() - start)


#: Prepared 64x64 pixels of the catalogue, shared by the benchmarks (decoding 40k photos takes a while).
IMAGE_CACHE = Path("/tmp/recengine-bench-cache")


def default_protocol(catalogue: Path) -> tuple[ProtocolData, NDArray[np.uint8]]:
    """The default dataset built in a scratch database: its protocol data and its items' 64x64 pixels."""
    with scratch_database() as engine:
        build_default_dataset(engine, catalogue)
        with Session(engine) as session:
            data = load_protocol_data(session=session, dataset="default")
            images = load_image_cache(session=session, item_ids=data.item_ids, size=64, cache_dir=IMAGE_CACHE)
    return data, images


def describe_database() -> str:
    return os.environ.get("RECENGINE_DATABASE_URL") or "embedded"
