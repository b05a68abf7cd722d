"""New-user preference fitting as a Celery job: a real worker, the database broker, a real (tiny) model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from recengine.compatibility.train import train_compatibility
from recengine.datasets.importers.myntra import import_myntra
from recengine.datasets.outfits import SimulationParams, load_catalogue, load_category_map, load_templates
from recengine.datasets.outfits.simulate import simulate_users
from recengine.nets.compatibility import CompatibilityConfig
from recengine.store.models import User, UserPreference
from recengine.training.trainer import TrainConfig
from tests.celery_support import WorkerHandle, celery_worker
from tests.conftest import MYNTRA, require
from workers.jobs import submit_job

TINY = CompatibilityConfig(image_size=32, widths=(4, 8), convs=(1, 1), fc=(16,), z_dim=8, metric_hidden=(8,))


@pytest.fixture(scope="module")
def trained(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, list[int]]:
    """A committed catalogue, dataset and tiny trained model: (model version id, newcomer user ids)."""
    root = tmp_path_factory.mktemp("fit-task")
    with Session(engine) as session, session.begin():
        import_myntra(require(MYNTRA), session=session, limit=6000)
        catalogue = load_catalogue(session=session, category_map=load_category_map())
        params = SimulationParams(users=8, train_outfits=15, test_outfits=4, newcomer_users=2)
        simulate_users(session=session, name="tiny", catalogue=catalogue, templates=load_templates(), params=params)
        model = train_compatibility(session=session, dataset="tiny", variant="full", images_dir=root / "cache",
                                    checkpoint_dir=root / "ckpt", config=TINY,
                                    train=TrainConfig(steps=5, batch_size=8, eval_every=5))  # fmt: skip
        newcomers = session.scalars(select(User.id).where(User.external_id.in_(["tiny:u00006", "tiny:u00007"])))
        return model.model_version_id, sorted(newcomers)


@pytest.fixture(scope="module")
def worker(engine: Engine, trained: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerHandle]:
    with celery_worker(engine.url, tmp_path_factory.mktemp("worker"), queue="recengine-fit") as handle:
        yield handle


def _preferences(engine: Engine, user_id: int, version: int) -> list[UserPreference]:
    with Session(engine) as session:
        stmt = select(UserPreference).where(UserPreference.user_id == user_id,
                                            UserPreference.model_version_id == version)  # fmt: skip
        return list(session.scalars(stmt))


def test_worker_fits_and_stores_theta_once(
    engine: Engine, worker: WorkerHandle, trained: tuple[int, list[int]]
) -> None:
    version, (newcomer, _) = trained
    assert _preferences(engine, newcomer, version) == []
    job = submit_job(db=worker.db, kind="fit_preferences", params={"user_id": newcomer, "model_version_id": version},
                     task=worker.app)  # fmt: skip
    done = worker.wait_for_job(job.id, timeout_s=120)
    assert done.status == "succeeded", (done.error, worker.log_tail())
    assert done.progress == 1.0 and done.result is not None
    assert done.message == f"{done.result['steps']}/{done.result['steps']}"  # was the last report, "10/300"
    assert done.result["user_id"] == newcomer and done.result["n_examples"] > 0 and not done.result["is_prior"]
    first = _preferences(engine, newcomer, version)
    assert len(first) == 1 and first[0].dim == TINY.z_dim and first[0].loss == pytest.approx(done.result["loss"])

    again = submit_job(db=worker.db, kind="fit_preferences", params={"user_id": newcomer, "model_version_id": version},
                       task=worker.app)  # fmt: skip
    assert worker.wait_for_job(again.id, timeout_s=120).status == "succeeded"
    rows = _preferences(engine, newcomer, version)
    assert len(rows) == 1  # an upsert: fitting twice never makes a second row
    with Session(engine) as session:
        total = session.scalar(select(func.count()).select_from(UserPreference).where(
            UserPreference.model_version_id == version))  # fmt: skip
    assert total == 6 + 1  # the 6 joint users from training, plus this newcomer


def test_a_failing_fit_is_reported_and_leaves_theta_alone(engine: Engine, worker: WorkerHandle,
                                                         trained: tuple[int, list[int]]) -> None:  # fmt: skip
    version, (newcomer, _) = trained
    before = [(p.vector, p.fitted_at) for p in _preferences(engine, newcomer, version)]
    job = submit_job(db=worker.db, kind="fit_preferences", params={"user_id": 10**9, "model_version_id": version},
                     task=worker.app)  # fmt: skip
    failed = worker.wait_for_job(job.id, timeout_s=120)
    assert failed.status == "failed" and "no user with id" in (failed.error or "")
    assert [(p.vector, p.fitted_at) for p in _preferences(engine, newcomer, version)] == before
