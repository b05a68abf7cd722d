"""A real Celery worker indexes the full Myntra catalogue; killed mid-job and restarted, it loses nothing.

Brokers: the database (the default), and Redis and RabbitMQ when they answer on localhost.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from recengine.datasets.importers.myntra import import_myntra
from recengine.embedding.catalogue import served_items
from recengine.index import CatalogueIndex, IndexStore
from recengine.indexing.service import check_consistency
from recengine.store.models import IndexVersion, Item
from recengine.training.register import register_checkpoint
from tests.celery_support import WorkerHandle, broker_reachable, celery_worker
from tests.conftest import MYNTRA, require

pytestmark = pytest.mark.slow
REDIS_URL = "redis://127.0.0.1:6379/0"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "embedder-catalogue.pt"


@pytest.fixture(scope="module")
def catalogue(engine: Engine) -> Iterator[tuple[Engine, int]]:
    with Session(engine) as session, session.begin():
        import_myntra(require(MYNTRA), session=session)
        version = register_checkpoint(session=session, path=require(CHECKPOINT))
        version_id = version.id
    yield engine, version_id


def _served(engine: Engine) -> list[int]:
    with Session(engine) as session:
        return sorted(served_items(session=session).ids.tolist())


def _current(worker: WorkerHandle) -> CatalogueIndex:
    index = IndexStore(worker.settings.data_dir / "indexes" / "catalogue").load_current()
    assert index is not None, worker.log_tail()
    return index


def _assert_in_step(engine: Engine, index: CatalogueIndex) -> None:
    ids = index.ids().tolist()
    assert len(ids) == len(set(ids)) and sorted(ids) == _served(engine)  # nothing lost, nothing twice
    with Session(engine) as session:
        assert check_consistency(session=session, index=index).ok


def test_worker_killed_mid_build_restarts_and_finishes(catalogue: tuple[Engine, int], tmp_path: Path) -> None:
    engine, version_id = catalogue
    with celery_worker(engine.url, tmp_path) as worker:
        from workers.jobs import submit_job

        params = {"model_version_id": version_id}  # the default embedder: the shipped catalogue network
        job = submit_job(db=worker.db, kind="index_build", params=params, task=worker.app)
        deadline = time.monotonic() + 120
        while worker.read_job(job.id).progress < 0.25:  # well into embedding the 40k photos
            assert time.monotonic() < deadline and worker.process.poll() is None, worker.log_tail()
            time.sleep(0.1)
        worker.kill()
        assert worker.read_job(job.id).status == "running"
        assert IndexStore(worker.settings.data_dir / "indexes" / "catalogue").current_version() is None
        worker.restart()
        done = worker.wait_for_job(job.id, timeout_s=600)
        assert done.status == "succeeded", worker.log_tail()
        assert done.result is not None and done.result["item_count"] == len(_served(engine))
        _assert_in_step(engine, _current(worker))
        with Session(engine) as session:
            ready = session.scalar(select(func.count()).select_from(IndexVersion).where(IndexVersion.status == "ready"))
            assert ready == 1

        # The catalogue change flow: deactivate one item, add one; a sync job brings the index in step.
        with Session(engine) as session, session.begin():
            victim, template = session.scalars(select(Item).order_by(Item.id).limit(2)).all()
            session.execute(update(Item).where(Item.id == victim.id).values(is_active=False))
            session.add(Item(external_id=f"new-{uuid.uuid4().hex[:6]}", source="test", name="new",
                             article_type=template.article_type, master_category=template.master_category,
                             sub_category=template.sub_category, image_sha256=template.image_sha256))  # fmt: skip
        sync = submit_job(db=worker.db, kind="index_sync", params=params, task=worker.app)
        synced = worker.wait_for_job(sync.id, timeout_s=300)
        assert synced.status == "succeeded" and synced.result is not None, worker.log_tail()
        assert (synced.result["added"], synced.result["removed"]) == (1, 1)
        _assert_in_step(engine, _current(worker))


@pytest.mark.parametrize("broker", [pytest.param(REDIS_URL, id="redis"), pytest.param(AMQP_URL, id="amqp")])
def test_other_brokers_index_the_catalogue(catalogue: tuple[Engine, int], tmp_path: Path, broker: str) -> None:
    if not broker_reachable(broker):
        pytest.skip(f"no broker answers at {broker} (or its client library is missing)")
    engine, _ = catalogue
    queue = f"recengine-test-{uuid.uuid4().hex[:8]}"
    with celery_worker(engine.url, tmp_path, broker_url=broker, queue=queue) as worker:
        from workers.jobs import submit_job

        job = submit_job(db=worker.db, kind="index_build", params={"embedder": "pixels"}, task=worker.app)
        done = worker.wait_for_job(job.id, timeout_s=300)
        assert done.status == "succeeded", worker.log_tail()
        _assert_in_step(engine, _current(worker))
