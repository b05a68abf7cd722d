"""The listings the demo page picks from (``GET /v1/items``, ``/v1/users``, ``/v1/categories``) against the
recommendation tests' shop: filters agree with the served categories, pages are stable, limits and keys hold."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from recengine.api.schemas import LIST_MAX
from recengine.datasets.outfits.templates import SLOTS
from recengine.embedding.catalogue import OTHER
from tests.api_support import Keys, assert_error, client_for, make_keys
from tests.test_recommend import Shop, shop  # noqa: F401  (the module's shop fixture)

pytestmark = pytest.mark.usefixtures("one_torch_thread")
H = Keys.header


@pytest.fixture(scope="module")
def keys(shop: Shop) -> Keys:  # noqa: F811
    return make_keys(shop)


@pytest.fixture(scope="module")
def client(shop: Shop) -> Iterator[TestClient]:  # noqa: F811
    with client_for(shop) as test_client:
        yield test_client


def _get(client: TestClient, path: str, key: str | None = None, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params, headers=H(key) if key else None)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _all_items(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    page = _get(client, "/v1/items", limit=LIST_MAX, **params)
    assert page["total"] == len(page["items"]) < LIST_MAX  # the shop is one page
    items: list[dict[str, Any]] = page["items"]
    return items


def _contains(item: dict[str, Any], text: str) -> bool:
    return any(text.lower() in (item[f] or "").lower() for f in ("name", "external_id", "article_type"))


def test_items_are_open_and_filtered_by_the_served_category(client: TestClient, shop: Shop) -> None:  # noqa: F811
    everything = _all_items(client)  # no key: the catalogue is open
    assert len(everything) == 80 and [i["id"] for i in everything] == sorted(i["id"] for i in everything)
    for item in everything:
        assert (item["image_url"] is not None) == item["has_image"]
        if item["has_image"]:
            assert item["image_url"].endswith(f"/v1/items/{item['external_id']}/image")
    bottoms = _all_items(client, category="bottom")
    assert {i["category"] for i in bottoms} == {"bottom"}
    assert {i["id"] for i in bottoms if i["has_image"]} == shop.bottoms  # what the index serves as bottoms
    # The SQL filter is item_category's rule: every item is in exactly one category, the one it reports.
    by_category = {c: _all_items(client, category=c) for c in (*SLOTS, OTHER)}
    assert sum(len(rows) for rows in by_category.values()) == len(everything)
    assert all(i["category"] == c for c, rows in by_category.items() for i in rows)
    assert next(i for i in everything if i["external_id"] == shop.top)["category"] == "top"


def test_items_page_in_id_order_and_search_text_literally(client: TestClient, shop: Shop) -> None:  # noqa: F811
    everything = _all_items(client)
    first, second = (_get(client, "/v1/items", limit=7, offset=o) for o in (0, 7))
    assert first["total"] == second["total"] == 80 and (first["limit"], second["offset"]) == (7, 7)
    assert [i["id"] for i in first["items"] + second["items"]] == [i["id"] for i in everything[:14]]
    assert _get(client, "/v1/items", offset=80)["items"] == []
    name = next(i["name"] for i in everything if i["name"])
    for q in (shop.top, name.split()[0].upper(), "%", "_", "\\", "no such text anywhere"):
        expected = [i["external_id"] for i in everything if _contains(i, q)]
        assert [i["external_id"] for i in _all_items(client, q=q)] == expected, q
    assert shop.top in [i["external_id"] for i in _all_items(client, q=shop.top, category="top")]
    assert _get(client, "/v1/items", q="", category="")["total"] == 80  # empty form fields mean no filter


def test_listing_parameters_are_checked(client: TestClient, keys: Keys) -> None:
    for params in ({"limit": 0}, {"limit": LIST_MAX + 1}, {"offset": -1}, {"offset": 2**40}, {"q": "x" * 129},
                   {"q": "a\x00b"}, {"limit": "ten"}):  # fmt: skip
        assert_error(client.get("/v1/items", params=params), 422, "validation_error")
        assert_error(client.get("/v1/users", params=params, headers=H(keys.writer)), 422, "validation_error")
    error = assert_error(client.get("/v1/items", params={"category": "capes"}), 422, "invalid_input")
    assert "unknown category 'capes'" in error["message"] and "bottom" in error["message"]


def test_users_need_a_key_and_say_who_has_a_theta(client: TestClient, keys: Keys) -> None:
    assert_error(client.get("/v1/users"), 401, "unauthenticated")
    assert_error(client.get("/v1/users", headers=H(keys.revoked)), 403, "forbidden")
    assert_error(client.get("/v1/users", headers=H("not-a-key")), 403, "forbidden")
    interactions = [{"item": i["external_id"], "kind": "like"} for i in _all_items(client)[:3]]
    recorded = client.post("/v1/users/new_fan%25/interactions", json={"interactions": interactions},
                           headers=H(keys.writer))  # fmt: skip
    assert recorded.status_code == 201, recorded.text
    page = _get(client, "/v1/users", keys.writer)
    users = {u["external_id"]: u for u in page["users"]}
    assert page["total"] == 3 and list(users) == ["fan", "stranger", "new_fan%"]  # id order
    assert users["fan"]["has_theta"] and not users["stranger"]["has_theta"] and not users["new_fan%"]["has_theta"]
    assert (users["fan"]["interactions"], users["new_fan%"]["interactions"]) == (0, 3)
    assert [u["external_id"] for u in _get(client, "/v1/users", keys.admin, q="FAN")["users"]] == ["fan", "new_fan%"]
    assert [u["external_id"] for u in _get(client, "/v1/users", keys.writer, q="%")["users"]] == ["new_fan%"]
    second = _get(client, "/v1/users", keys.writer, limit=1, offset=1)
    assert [u["external_id"] for u in second["users"]] == ["stranger"] and second["total"] == 3


def test_categories_are_the_serving_index_s(client: TestClient, shop: Shop) -> None:  # noqa: F811
    answer = _get(client, "/v1/categories")  # open, like readyz
    counts = {c["name"]: c["items"] for c in answer["categories"]}
    assert answer["index"] == "catalogue" and counts["bottom"] == len(shop.bottoms) and counts["top"] > 0
    assert all(n > 0 for n in counts.values()) and list(counts) == sorted(counts)
    spec = client.get("/openapi.json").json()["paths"]
    assert {"get"} <= set(spec["/v1/items"]) and "get" in spec["/v1/users"] and "get" in spec["/v1/categories"]
