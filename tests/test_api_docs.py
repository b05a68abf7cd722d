"""The API's documentation pages (`/docs`, `/redoc`) work without the internet: their scripts and styles are
served by the API itself, so a shop's offline or firewalled network, and this project's machines, see them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from recengine.api import ApiSettings, create_app


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_documentation_pages_load_nothing_from_another_host(page: str, tmp_path: Path) -> None:
    app = create_app(ApiSettings(data_dir=tmp_path, api_preload=False))  # the pages need no database
    with TestClient(app) as client:
        html = client.get(page)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        # Before, FastAPI's pages took Swagger UI and ReDoc from cdn.jsdelivr.net: blank without the internet.
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text)
        scripts = [a for a in assets if a.endswith(".js")]
        assert scripts and all(a.startswith("/") and not a.startswith("//") for a in assets), assets
        for asset in assets:
            answer = client.get(asset)
            assert answer.status_code == 200 and len(answer.content) > 1000, asset
        assert "/openapi.json" in html.text
        spec = client.get("/openapi.json").json()
        assert not any(path.startswith(("/docs", "/redoc", "/static-offline-docs")) for path in spec["paths"])
