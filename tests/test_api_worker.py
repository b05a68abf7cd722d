"""The HTTP API with a real Celery worker: an item created through the API is recommended once the index sync
job it queued has run on the worker (database broker, the worker's data dir is the API's)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from recengine.api import create_app
from tests.api_support import Keys, api_settings, external_ids, flipped, make_keys
from tests.celery_support import WorkerHandle, celery_worker
from tests.test_recommend import Shop, shop  # noqa: F401  (the module's shop fixture)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def worker(engine: Engine, shop: Shop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerHandle]:  # noqa: F811
    with celery_worker(engine.url, tmp_path_factory.mktemp("api-worker"), queue="recengine-api",
                       data_dir=shop.settings.data_dir) as handle:  # fmt: skip
        yield handle


def test_an_item_added_through_the_api_is_recommended_after_the_workers_sync(
    shop: Shop,  # noqa: F811
    worker: WorkerHandle,
) -> None:
    keys: Keys = make_keys(shop, "-worker")
    with TestClient(create_app(api_settings(shop), celery=worker.app)) as client:
        template = client.get(f"/v1/items/{external_ids(shop, shop.bottoms)[0]}").json()
        fields = {k: template[k] for k in ("master_category", "sub_category", "article_type", "gender", "colour")}
        metadata = json.dumps({"external_id": "worker-jeans", "name": "Worker jeans", **fields})
        photo = flipped(client.get(template["image_url"]).content)
        created = client.post("/v1/items", headers=Keys.header(keys.admin), data={"metadata": metadata},
                              files={"image": ("jeans.png", photo, "image/png")})  # fmt: skip
        assert created.status_code == 201, created.text
        job_url = created.json()["index_job"]["url"]
        new_id = created.json()["item"]["id"]

        done = worker.wait_for_job(created.json()["index_job"]["id"], timeout_s=60)
        assert done.status == "succeeded", (done.error, worker.log_tail())
        job = client.get(job_url, headers=Keys.header(keys.writer)).json()
        assert job["status"] == "succeeded" and job["result"]["added"] == 1 and not job["result"]["full_rebuild"]

        body = {"item": shop.top, "category": "bottom", "k": 100, "designs": 1, "seed": 0}
        answer = client.post("/v1/recommendations", json=body, headers=Keys.header(keys.writer))
        assert answer.status_code == 200, answer.text
        assert new_id in [m["id"] for m in answer.json()["items"]]
