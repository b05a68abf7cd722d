"""Recommendation jobs on a real Celery worker: the ``recommend`` and ``recommend_batch`` tasks answer with the
API's JSON for the same body, ``POST /v1/recommendations:batchJob`` and ``recengine recommend-batch`` queue
them (database broker; the worker's data dir is the shop's, so it serves the shop's designer and index)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from recengine.api import create_app
from recengine.api.schemas import BatchResponse, RecommendationResponse
from recengine.cli import app as cli_app
from recengine.errors import InvalidInputError
from recengine.store.models import Job
from tests.api_support import Keys, api_settings, assert_error, make_keys
from tests.celery_support import POLLING_INTERVAL_S, WorkerHandle, celery_worker
from tests.test_recommend import Shop, shop  # noqa: F401  (the module's shop fixture)
from workers.jobs import submit_job

pytestmark = pytest.mark.usefixtures("one_torch_thread")
H = Keys.header
QUEUE = "recengine-recommend"
#: Small answers: the tests compare them, they do not measure them.
SMALL = {"category": "bottom", "k": 3, "designs": 1, "seed": 0}


@pytest.fixture(scope="module")
def worker(engine: Engine, shop: Shop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerHandle]:  # noqa: F811
    with celery_worker(engine.url, tmp_path_factory.mktemp("recommend-worker"), queue=QUEUE,
                       data_dir=shop.settings.data_dir) as handle:  # fmt: skip
        yield handle


@pytest.fixture(scope="module")
def keys(shop: Shop) -> Keys:  # noqa: F811
    return make_keys(shop, "-tasks")


@pytest.fixture(scope="module")
def client(shop: Shop, worker: WorkerHandle) -> Iterator[TestClient]:  # noqa: F811
    with TestClient(create_app(api_settings(shop), celery=worker.app)) as test_client:
        yield test_client


def _run(worker: WorkerHandle, kind: str, params: dict[str, Any], **wait: Any) -> Job:
    job = submit_job(db=worker.db, kind=kind, params=params, task=worker.app)
    return worker.wait_for_job(job.id, timeout_s=60, **wait)


def _same_answer(job: dict[str, Any], api: dict[str, Any]) -> None:
    """Same items, scores and provenance; links differ only by base (the worker's are root-relative)."""
    RecommendationResponse.model_validate(job)
    assert [m["id"] for m in job["items"]] == [m["id"] for m in api["items"]] and job["items"]
    assert [m["score"] for m in job["items"]] == pytest.approx([m["score"] for m in api["items"]], rel=1e-5)
    for key in ("user", "user_id", "theta_source", "category", "designer"):
        assert job[key] == api[key], key
    assert job["query"]["image_url"] == api["query"]["image_url"].removeprefix("http://testserver")


def test_a_recommend_job_answers_as_the_api_does(shop: Shop, worker: WorkerHandle, client: TestClient,  # noqa: F811
                                                 keys: Keys) -> None:  # fmt: skip
    body = {"item": shop.top, "user": "fan", **SMALL}
    api = client.post("/v1/recommendations", json=body, headers=H(keys.writer))
    assert api.status_code == 200, api.text
    done = _run(worker, "recommend", body)
    assert done.status == "succeeded", (done.error, worker.log_tail())
    assert done.result is not None
    _same_answer(done.result, api.json())
    assert done.result["theta_source"] == "trained"
    design = done.result["designs"][0]
    assert design["url"] == f"/v1/designs/{design['id']}.png"  # no RECENGINE_API_PUBLIC_URL: root-relative
    png = client.get(design["url"])  # the worker stored it where every API process finds it
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"


def test_a_batch_job_gives_each_entry_its_own_status(shop: Shop, worker: WorkerHandle, client: TestClient,  # noqa: F811
                                                     keys: Keys) -> None:  # fmt: skip
    good = {"item": shop.top, **SMALL}
    body = {"requests": [good, {**good, "item": "no-such-item"}, {**good, "user": "fan"}]}
    api = client.post("/v1/recommendations:batch", json=body, headers=H(keys.writer))
    assert api.status_code == 200, api.text
    seen: list[float] = []
    done = _run(worker, "recommend_batch", body, watch=lambda job: seen.append(job.progress))
    assert done.status == "succeeded", (done.error, worker.log_tail())
    assert done.result is not None
    results = BatchResponse.model_validate(done.result).model_dump(mode="json")["results"]
    assert [r["status"] for r in results] == [200, 404, 200]
    assert results[1]["error"] == api.json()["results"][1]["error"] and results[1]["result"] is None
    assert "no-such-item" in results[1]["error"]["message"]
    for n in (0, 2):
        _same_answer(results[n]["result"], api.json()["results"][n]["result"])
    assert seen == sorted(seen) and done.progress == 1.0 and done.message == "3/3"  # progress counts entries


def test_the_worker_opens_the_recommender_once(shop: Shop, worker: WorkerHandle) -> None:  # noqa: F811
    for seed in (1, 2):
        done = _run(worker, "recommend", {"item": shop.top, **SMALL, "seed": seed})
        assert done.status == "succeeded", (done.error, worker.log_tail())
    assert worker.log.read_text(errors="replace").count("recommender ready") == 1


def test_invalid_params_fail_the_job_naming_the_field(shop: Shop, worker: WorkerHandle) -> None:  # noqa: F811
    missing = _run(worker, "recommend", {"item": shop.top, "k": 3})
    assert missing.status == "failed" and "InvalidInputError" in str(missing.error)
    assert "invalid recommend job params: category: Field required" in str(missing.error)
    typo = _run(worker, "recommend", {"item": shop.top, "catgory": "bottom", "category": "bottom"})
    assert typo.status == "failed" and "catgory: Extra inputs are not permitted" in str(typo.error)
    batch = _run(worker, "recommend_batch", {"requests": [{"item": shop.top, **SMALL}, {**SMALL, "item": shop.top,
                                                                                        "k": 0}]})  # fmt: skip
    assert batch.status == "failed" and "requests.1.k: Input should be greater than or equal to 1" in str(batch.error)


def test_the_batch_job_endpoint_queues_more_than_a_batch_call_takes(shop: Shop, worker: WorkerHandle,  # noqa: F811
                                                                   client: TestClient, keys: Keys) -> None:  # fmt: skip
    good = {"item": shop.top, "category": "bottom", "k": 1, "designs": 1}
    body = {"requests": [good] * 32 + [{**good, "item": "no-such-item"}]}  # 33: over the batch call's 32
    queued = client.post("/v1/recommendations:batchJob", json=body, headers=H(keys.writer))
    assert queued.status_code == 202, queued.text
    ref = queued.json()
    assert ref["kind"] == "recommend_batch" and ref["status"] == "pending"
    assert queued.headers["location"] == ref["url"] == f"http://testserver/v1/jobs/{ref['id']}"
    done = worker.wait_for_job(ref["id"], timeout_s=120)
    assert done.status == "succeeded", (done.error, worker.log_tail())
    job = client.get(ref["url"], headers=H(keys.writer)).json()
    assert job["status"] == "succeeded" and job["params"] == body  # the body as sent
    assert [r["status"] for r in job["result"]["results"]] == [200] * 32 + [404]
    too_many = {"requests": [good] * 10_001}
    error = assert_error(client.post("/v1/recommendations:batchJob", json=too_many, headers=H(keys.writer)), 422,
                         "validation_error")  # fmt: skip
    assert error["details"][0]["loc"] == ["body", "requests"]
    assert_error(client.post("/v1/recommendations:batchJob", json=body), 401, "unauthenticated")


def test_cli_queues_waits_and_writes_the_result(shop: Shop, worker: WorkerHandle, tmp_path: Path) -> None:  # noqa: F811
    env = {"RECENGINE_DATA_DIR": str(shop.settings.data_dir), "RECENGINE_DATABASE_URL": str(shop.settings.database_url),
           "RECENGINE_WORKER_QUEUE": QUEUE, "RECENGINE_BROKER_POLLING_INTERVAL": str(POLLING_INTERVAL_S),
           "COLUMNS": "200"}  # fmt: skip
    requests = tmp_path / "requests.json"
    requests.write_text(json.dumps([{"item": shop.top, **SMALL}, {"item": "no-such-item", **SMALL}]))
    out = tmp_path / "results.json"
    result = CliRunner().invoke(cli_app, ["recommend-batch", str(requests), "--out", str(out)], env=env)
    assert result.exit_code == 0, (result.output, worker.log_tail())
    assert "2 answers (1 x 200, 1 x 404)" in result.output
    answers = BatchResponse.model_validate_json(out.read_text())
    assert [r.status for r in answers.results] == [200, 404]

    requests.write_text(json.dumps({"requests": [{"item": shop.top, "k": 3}]}))
    refused = CliRunner().invoke(cli_app, ["recommend-batch", str(requests)], env=env)
    assert isinstance(refused.exception, InvalidInputError), refused.output
    assert "requests.0.category: Field required" in str(refused.exception)
    requests.write_bytes(b"\xef\xbb\xbf" + requests.read_bytes())  # a BOM, as Windows editors write: read as JSON
    refused = CliRunner().invoke(cli_app, ["recommend-batch", str(requests)], env=env)
    assert "requests.0.category: Field required" in str(refused.exception), refused.output
