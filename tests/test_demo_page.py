"""The demo page at ``/``: served with its assets outside the OpenAPI schema, and driven in headless Chromium
(Debian's ``chromium`` and ``chromium-driver``) against a real uvicorn server over the recommendation tests'
shop: a person picks a user and a query item (or uploads a photo) and sees designs and real items load.

Without the browser the browser tests skip, except in CI (``CI`` or ``RECENGINE_REQUIRE_BROWSER=1``), where a
missing browser is a failure: there it means the environment was not set up, not that the page works.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from recengine.api import ApiSettings, create_app
from recengine.store.images import load_image
from recengine.store.items import get_item
from tests.api_support import Keys, api_settings, external_ids, flipped, make_keys
from tests.test_recommend import Shop, shop  # noqa: F401  (the module's shop fixture)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Seconds to wait for the page: the first recommendation opens the recommender (designer, latents).
WAIT_S = 90


# --- serving, no browser ------------------------------------------------------------------------------------------


def test_page_and_assets_are_served_outside_the_schema(tmp_path: Path) -> None:
    app = create_app(ApiSettings(data_dir=tmp_path, api_preload=False))  # the page needs no database
    with TestClient(app) as client:
        page = client.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert 'src="static/demo.js"' in page.text and 'href="static/demo.css"' in page.text  # relative: proxies
        for name, media in (("demo.js", "text/javascript"), ("demo.css", "text/css")):
            asset = client.get(f"/static/{name}")
            assert asset.status_code == 200 and asset.headers["content-type"].startswith(media), name
            etag = asset.headers["etag"]
            # The tag as sent back, weakened by a compressing proxy, in a list, or "*": all mean "I have it".
            for held in (etag, f"W/{etag}", f'"other", {etag}', "*"):
                assert client.get(f"/static/{name}", headers={"If-None-Match": held}).status_code == 304, held
            assert client.get(f"/static/{name}", headers={"If-None-Match": '"other"'}).status_code == 200
        for path in ("/", "/static/demo.js", "/healthz"):  # HEAD is GET without the body (was a 405)
            head, get = client.head(path), client.get(path)
            assert head.status_code == 200 and head.content == b"", path
            assert {k: head.headers[k] for k in ("content-type", "content-length", "etag") if k in get.headers} == {
                k: get.headers[k] for k in ("content-type", "content-length", "etag") if k in get.headers
            }, path
        for missing in ("/static/index.html", "/static/nothing.js", "/static/..%2Fapp.py"):
            response = client.get(missing)
            assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", missing
        paths = client.get("/openapi.json").json()["paths"]
        assert "/" not in paths and not any(p.startswith("/static") for p in paths)


# --- in the browser -----------------------------------------------------------------------------------------------


def _browser_missing(reason: str) -> None:
    ci = os.environ.get("CI", "").lower() not in ("", "0", "false")
    if ci or os.environ.get("RECENGINE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}: CI must test the demo page in a browser (scripts/test.sh installs Debian's chromium "
                    "and chromium-driver when run as root)", pytrace=False)  # fmt: skip
    pytest.skip(f"{reason} (apt-get install chromium chromium-driver; set RECENGINE_REQUIRE_BROWSER=1 to make this "
                "a failure)")  # fmt: skip


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium through Debian's chromedriver, with a fresh profile and no network of its own."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        _browser_missing(f"no {' or '.join(missing)}")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _browser_missing("selenium is not installed (it is in the dev extra)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):  # fmt: skip
        options.add_argument(flag)
    # An explicit driver path: Selenium Manager (which would download one) never runs.
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    browser.set_page_load_timeout(WAIT_S)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture(scope="module")
def keys(shop: Shop) -> Keys:  # noqa: F811
    return make_keys(shop)


@pytest.fixture(scope="module")
def server(shop: Shop) -> Iterator[str]:  # noqa: F811
    """The API under uvicorn in a thread, on a loopback port of its own; its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # the socket is handed over bound: no other process can take the port between
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(api_settings(shop)), log_level="warning", access_log=False)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(timeout=30)
        sock.close()


def _wait(driver: Any, condition: Callable[[Any], Any], what: str, *, error_ok: bool = False) -> Any:
    """``condition``'s first truthy value; fails at once when the page shows an API error instead (unless
    ``error_ok``), with the error's text, rather than after the whole timeout."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    def check(d: Any) -> Any:
        if not error_ok:
            shown = d.execute_script("const e = document.getElementById('error'); return e.hidden ? '' : e.innerText")
            assert not shown, f"the page shows an error while waiting for {what}: {shown}"
        return condition(d)

    return WebDriverWait(driver, WAIT_S, ignored_exceptions=[StaleElementReferenceException]).until(
        check, message=f"waiting for {what}"
    )


#: True when every image of the selector has loaded: decoded, with a width (a broken image has none).
LOADED = "const imgs = [...document.querySelectorAll(arguments[0])]; " \
         "return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0) ? imgs.length : 0;"  # fmt: skip


def _results(driver: Any, k: int, n_designs: int) -> tuple[list[str], list[str]]:
    """Wait for k matches and n designs, every image loaded; their ``src`` URLs."""
    _wait(driver, lambda d: len(d.find_elements("css selector", "#matches .match")) == k, f"{k} matches")
    _wait(driver, lambda d: d.execute_script(LOADED, "#matches img") == k, "the matches' images to load")
    _wait(driver, lambda d: d.execute_script(LOADED, "#designs-strip img") == n_designs, "the designs to load")
    matches = [e.get_attribute("src") for e in driver.find_elements("css selector", "#matches img")]
    designs = [e.get_attribute("src") for e in driver.find_elements("css selector", "#designs-strip img")]
    return matches, designs


def _open(driver: Any, server: str, key: str) -> None:
    """A fresh load of the page, handed ``key`` as a report's link would (from about:blank: a change of the
    fragment alone would not reload a page already open)."""
    driver.get("about:blank")
    driver.get(f"{server}/#key={key}")


def _set(driver: Any, element_id: str, value: str) -> None:
    field = driver.find_element("id", element_id)
    field.clear()
    field.send_keys(value)


def test_a_user_and_a_catalogue_item_give_real_items_in_the_browser(
    driver: Any,
    server: str,
    keys: Keys,
    shop: Shop,  # noqa: F811
) -> None:
    from selenium.webdriver.support.ui import Select

    _open(driver, server, keys.writer)
    assert "key=" not in driver.current_url  # the key leaves the address bar ...
    assert driver.execute_script("return localStorage.getItem('recengine.apiKey')") == keys.writer  # ... for here

    _wait(driver, lambda d: d.find_elements("css selector", '#user option[value="fan"]'), "the user list")
    Select(driver.find_element("id", "user")).select_by_value("fan")
    _wait(driver, lambda d: d.find_elements("css selector", '#browse-category option[value="top"]'), "categories")
    Select(driver.find_element("id", "browse-category")).select_by_value("top")
    _set(driver, "item-search", shop.top)
    tile = f'.item-tile[data-id="{shop.top}"]'

    def choose(d: Any) -> Any:  # the search's answer may redraw the tile: click until a click sticks
        d.find_element("css selector", tile).click()
        return d.find_elements("css selector", f"{tile}.chosen")

    _wait(driver, choose, "the query item to be chosen")
    assert shop.top in driver.find_element("id", "query-preview").text

    Select(driver.find_element("id", "target-category")).select_by_value("bottom")
    _set(driver, "k", "3")
    _set(driver, "designs", "2")
    _set(driver, "seed", "0")
    driver.find_element("id", "recommend").click()

    matches, designs = _results(driver, k=3, n_designs=2)
    item_image = re.compile(re.escape(server) + r"/v1/items/([^/]+)/image")
    found = [m[1] for m in map(item_image.fullmatch, matches) if m]
    assert len(found) == 3 and set(found) <= set(external_ids(shop, shop.bottoms))  # real bottoms, by URL
    assert all(re.fullmatch(re.escape(server) + r"/v1/designs/[^/]+\.png", src) for src in designs), designs
    summary = driver.find_element("id", "summary").text
    assert "fan" in summary and "θu: trained" in summary, summary
    scores = [float(e.text) for e in driver.find_elements("css selector", "#matches .score")]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)


def test_an_uploaded_photo_gives_real_items_and_api_errors_are_shown(
    driver: Any,
    server: str,
    keys: Keys,
    shop: Shop,  # noqa: F811
    tmp_path: Path,
) -> None:
    from selenium.webdriver.support.ui import Select

    with shop.db.sessions() as session:
        photo = flipped(load_image(session, str(get_item(session=session, external_id=shop.top).image_sha256)))
    (tmp_path / "photo.png").write_bytes(photo)
    (tmp_path / "notes.txt").write_text("not a photo")

    _open(driver, server, keys.writer)
    _wait(driver, lambda d: d.find_elements("css selector", '#target-category option[value="bottom"]'), "categories")
    driver.find_element("id", "tab-photo").click()
    Select(driver.find_element("id", "target-category")).select_by_value("bottom")
    _set(driver, "k", "4")
    _set(driver, "designs", "1")

    driver.find_element("id", "photo").send_keys(str(tmp_path / "notes.txt"))
    driver.find_element("id", "recommend").click()
    error = _wait(driver, lambda d: d.find_element("id", "error").is_displayed() and d.find_element("id", "error"),
                  "the API's error", error_ok=True)  # fmt: skip
    assert "unsupported_media_type (415)" in error.text and "must be an image" in error.text, error.text

    driver.find_element("id", "photo").send_keys(str(tmp_path / "photo.png"))
    _wait(driver, lambda d: d.execute_script(LOADED, "#query-preview img"), "the photo's preview", error_ok=True)
    driver.find_element("id", "recommend").click()
    _wait(driver, lambda d: not d.find_element("id", "error").is_displayed(), "the error to clear", error_ok=True)
    matches, designs = _results(driver, k=4, n_designs=1)
    item_image = re.compile(re.escape(server) + r"/v1/items/([^/]+)/image")
    found = [m[1] for m in map(item_image.fullmatch, matches) if m]
    assert len(found) == 4 and set(found) <= set(external_ids(shop, shop.bottoms)), matches
    assert len(designs) == 1 and "/v1/designs/" in designs[0]
    summary = driver.find_element("id", "summary").text
    assert "anonymous" in summary and "with the photo" in summary, summary


def test_the_api_documentation_renders_every_operation_in_the_browser(driver: Any, server: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    # Swagger UI from the API's own files (tests/test_api_docs.py), rendering this API's OpenAPI 3.1 document.
    driver.get(f"{server}/docs")
    paths = "return [...document.querySelectorAll('.opblock-summary-path')].map(e => e.getAttribute('data-path'));"
    shown = WebDriverWait(driver, WAIT_S).until(lambda d: d.execute_script(paths),
                                                message="waiting for Swagger UI's operations")  # fmt: skip
    assert {"/v1/recommendations", "/v1/items/{item_id}", "/v1/jobs/{job_id}"} <= set(shown), shown
    driver.get(f"{server}/redoc")
    title = WebDriverWait(driver, WAIT_S).until(
        lambda d: d.execute_script("const h = document.querySelector('.api-info h1'); return h && h.innerText;"),
        message="waiting for ReDoc's title",
    )
    assert title.startswith("recengine")
