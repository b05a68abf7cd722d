"""Training as a Celery job: a real worker trains tiny models from job parameters and registers them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from recengine.datasets.importers.myntra import import_myntra
from recengine.datasets.outfits import SimulationParams, load_catalogue, load_category_map, load_templates
from recengine.datasets.outfits.simulate import simulate_users
from recengine.errors import InvalidInputError
from recengine.nets.designer import DesignerConfig
from recengine.store.models import ModelVersion
from recengine.training.jobs import check_params, train_config
from recengine.training.trainer import TrainConfig
from tests.celery_support import WorkerHandle, celery_worker
from tests.conftest import MYNTRA, require
from tests.test_fit_task import TINY
from workers.jobs import submit_job

TINY_DESIGNER = DesignerConfig(noise_dim=4, widths=(8, 8, 8, 8, 4, 4), d_widths=(4, 8, 8, 8), d_fc=16,
                               compatibility=TINY)  # fmt: skip
RUN = {"steps": 3, "batch_size": 8, "eval_every": 3, "threads": 1}


def test_parameters_are_checked_before_any_work() -> None:
    assert check_params({"family": "designer", "variant": "full", "lambda_fm_g": 0.1, "steps": 5}) == "designer"
    assert check_params({"family": "compatibility", "init_encoder": "none", "user_lr": 0.05}) == "compatibility"
    with pytest.raises(InvalidInputError, match="unknown model family 'gan'"):
        check_params({"family": "gan"})
    with pytest.raises(InvalidInputError, match="unknown parameters for a compatibility training job: stepz"):
        check_params({"family": "compatibility", "stepz": 5})
    with pytest.raises(InvalidInputError, match="lambda_fm_g"):
        check_params({"family": "compatibility", "lambda_fm_g": 0.1})  # a designer's option only
    with pytest.raises(InvalidInputError, match="eq7_weight"):
        check_params({"family": "designer", "eq7_weight": 0.1})  # the designer keeps its checkpoints' mix
    assert train_config({"steps": 7, "betas": [0.9, 0.99], "family": "x"}) == TrainConfig(steps=7, betas=(0.9, 0.99))


@pytest.mark.parametrize(("params", "message"), [
    ({"family": "inpainting", "eval_every": 0}, "eval_every: must be at least 1, got 0"),  # was a ZeroDivisionError
    ({"family": "compatibility", "seed": -1}, "seed: must be at least 0, got -1"),  # was numpy's ValueError
    ({"family": "designer", "batch_size": 0}, "batch_size: must be at least 1, got 0"),  # was a reshape error
    ({"family": "compatibility", "steps": -5}, "steps: must be at least 1, got -5"),  # trained 2,995 steps
    ({"family": "embedder", "lr": 0.0}, "lr: must be above 0, got 0.0"),
    ({"family": "embedder", "steps": "10"}, "steps: must be an integer, got '10'"),  # a job's JSON
    ({"family": "compatibility", "user_lr": float("nan")}, "user_lr: must be finite"),
    ({"family": "compatibility", "user_steps": -1, "tune_conv_blocks": -2},
     "user_steps: must be at least 0, got -1; tune_conv_blocks: must be at least 0, got -2"),
    ({"family": "inpainting", "eval_images": 0}, "eval_images: must be at least 1, got 0"),
    ({"family": "designer", "betas": [0.5, 1.5]}, r"betas: must be two numbers in \[0, 1\)"),
])  # fmt: skip
def test_numbers_out_of_range_are_refused_by_name(params: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=f"^invalid training parameters: {message}"):
        check_params(params)


@pytest.fixture(scope="module")
def worker(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerHandle]:
    with Session(engine) as session, session.begin():
        import_myntra(require(MYNTRA), session=session, limit=6000)
        catalogue = load_catalogue(session=session, category_map=load_category_map())
        params = SimulationParams(users=8, train_outfits=15, test_outfits=4, newcomer_users=2)
        simulate_users(session=session, name="trainjob", catalogue=catalogue, templates=load_templates(),
                       params=params)  # fmt: skip
    root = tmp_path_factory.mktemp("train-job")
    with celery_worker(engine.url, root, data_dir=root / "data") as handle:
        yield handle


def test_worker_trains_a_compatibility_model_then_a_designer_from_it(engine: Engine, worker: WorkerHandle) -> None:
    # The seed's recipe (F end to end) with "auto": the shipped catalogue network does not fit this tiny F, so F
    # starts from scratch, and says so.
    compat = {"family": "compatibility", "variant": "full", "dataset": "trainjob", "config": TINY.as_dict(),
              "recipe": "seed", "init_encoder": "auto", "user_lr": 0.02, "eq7_weight": 0.25, "exclude_own": False,
              **RUN}  # fmt: skip
    job = submit_job(db=worker.db, kind="train", params=compat, task=worker.app)
    done = worker.wait_for_job(job.id, timeout_s=240)
    assert done.status == "succeeded", (done.error, worker.log_tail())
    assert done.progress == 1.0 and done.result is not None and "valid_fitb" in done.result["metrics"]
    checkpoint = Path(done.result["checkpoint"])
    assert checkpoint.exists()
    with Session(engine) as session:
        compat_version = session.get(ModelVersion, done.result["model_version_id"])
        assert compat_version is not None
        assert compat_version.config["init_encoder"] is None and compat_version.config["user_lr"] == 0.02
        assert compat_version.config["freeze_conv"] is False and compat_version.config["user_steps"] == 0
        assert compat_version.config["train"]["steps"] == 3 and compat_version.config["random_negatives"] is None
        assert compat_version.config["negatives"] == {"in_batch": False, "exclude_own": False, "eq7_weight": 0.25}

    config = dataclasses.asdict(dataclasses.replace(TINY_DESIGNER, compatibility=TINY))
    designer = {"family": "designer", "variant": "full", "dataset": "trainjob", "config": config,
                "compatibility_checkpoint": str(checkpoint), "lambda_fm_g": 0.05, **RUN}  # fmt: skip
    job = submit_job(db=worker.db, kind="train", params=designer, task=worker.app)
    done = worker.wait_for_job(job.id, timeout_s=240)
    assert done.status == "succeeded", (done.error, worker.log_tail())
    assert done.result is not None and "valid_diversity" in done.result["metrics"]
    with Session(engine) as session:
        version = session.scalar(select(ModelVersion).where(ModelVersion.family == "designer",
                                                            ModelVersion.name == "trainjob-full"))  # fmt: skip
        assert version is not None and version.id == done.result["model_version_id"]
        assert version.config["weights"]["fm_g"] == 0.05 and version.config["train"]["steps"] == 3


def test_the_default_recipe_refuses_an_encoder_its_catalogue_network_does_not_fit(worker: WorkerHandle) -> None:
    params = {"family": "compatibility", "variant": "full", "dataset": "trainjob", "config": TINY.as_dict(), **RUN}
    job = submit_job(db=worker.db, kind="train", params=params, task=worker.app)
    done = worker.wait_for_job(job.id, timeout_s=120)
    assert done.status == "failed" and "does not fit F's configuration" in (done.error or ""), done.error


def test_a_bad_training_job_fails_with_its_reason(worker: WorkerHandle) -> None:
    job = submit_job(db=worker.db, kind="train", params={"family": "designer", "variant": "nope", **RUN},
                     task=worker.app)  # fmt: skip
    done = worker.wait_for_job(job.id, timeout_s=120)
    assert done.status == "failed" and "unknown designer variant 'nope'" in (done.error or "")
