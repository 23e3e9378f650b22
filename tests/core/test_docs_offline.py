"""``/docs``, ``/docs/oauth2-redirect`` and ``/redoc`` of every service work on a closed
network: each page names no other host, and every asset it references is served by the app."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx2
import pytest
from fastapi import FastAPI

from aicc.auth.app import create_app as create_auth_app
from aicc.core.config import Settings, load_settings
from aicc.integration.app import create_app as create_integration_app
from aicc.monitoring.app import create_app as create_monitoring_app
from aicc.recording.app import create_app as create_recording_app

ORIGIN = "http://aicc.internal"
PAGES = ("/docs", "/docs/oauth2-redirect", "/redoc")
FACTORIES: dict[str, Callable[[Settings], FastAPI]] = {
    "monitoring": create_monitoring_app,
    "recording": create_recording_app,
    "integration": create_integration_app,
    "auth": create_auth_app,
}
ABSOLUTE_URL = re.compile(r"(?i)(?:\b[a-z][a-z0-9+.\-]*:)?//[^\s'\"<>)]+")
CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)")
SCRIPT_PATH = re.compile(r"['\"](/[A-Za-z0-9][^'\"\s]*)['\"]")
REFERENCE_ATTRIBUTES = {"src", "href", "spec-url", "action", "data", "poster", "srcset"}
CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".svg": ("image/svg+xml",),
    ".png": ("image/png",),
    ".json": ("application/json",),
}


class References(HTMLParser):
    """Every URL a page would load: tag attributes, ``url(...)`` in styles, and the
    same-origin paths its inline scripts hand to Swagger UI."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in = tag
        for name, value in attrs:
            if value is None:
                continue
            if name in REFERENCE_ATTRIBUTES:
                self.found.append(value)
            elif name == "style":
                self.found.extend(CSS_URL.findall(value))

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "style":
            self.found.extend(CSS_URL.findall(data))
        elif self._in == "script":
            self.found.extend(SCRIPT_PATH.findall(data))


def references(html: str) -> list[str]:
    parser = References()
    parser.feed(html)
    parser.close()
    return parser.found


@pytest.fixture(params=sorted(FACTORIES))
async def http(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[httpx2.AsyncClient]:
    settings = load_settings({"data_dir": str(tmp_path / "var")}, env_file=None)
    app = FACTORIES[request.param](settings)
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        yield client


def assert_content_type(path: str, content_type: str) -> None:
    suffix = Path(path).suffix
    expected = CONTENT_TYPES.get(suffix, ("text/html",))
    assert content_type.split(";")[0].strip() in expected, (path, content_type)


class TestDocsOffline:
    @pytest.mark.parametrize("page", PAGES)
    async def test_page_names_no_other_host_and_its_assets_are_served(
        self, http: httpx2.AsyncClient, page: str
    ) -> None:
        response = await http.get(page)
        assert response.status_code == 200
        assert_content_type(page, response.headers["content-type"])
        html = response.text
        assert ABSOLUTE_URL.findall(html) == []

        found = references(html)
        if page != "/docs/oauth2-redirect":
            assert found, "a docs page that loads nothing cannot render"
        for reference in found:
            url = urlsplit(urljoin(f"{ORIGIN}{page}", reference))
            assert (url.scheme, url.netloc) == ("http", "aicc.internal"), reference
            asset = await http.get(url.path)
            assert asset.status_code == 200, reference
            assert_content_type(url.path, asset.headers["content-type"])
            assert asset.content, reference

    async def test_pages_load_swagger_ui_and_redoc(self, http: httpx2.AsyncClient) -> None:
        docs = references((await http.get("/docs")).text)
        redoc = references((await http.get("/redoc")).text)
        scripts = {Path(urlsplit(r).path).name for r in docs + redoc}
        assert {"swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"} <= scripts
        assert "/openapi.json" in docs and "/openapi.json" in redoc
        bundle = await http.get(next(r for r in docs if r.endswith("swagger-ui-bundle.js")))
        assert b"SwaggerUIBundle" in bundle.content

    async def test_a_missing_asset_is_a_json_404(self, http: httpx2.AsyncClient) -> None:
        for path in ("/docs/static/missing.js", "/docs/static/../../pyproject.toml"):
            response = await http.get(path)
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "not_found"

    async def test_docs_routes_stay_out_of_the_openapi_document(
        self, http: httpx2.AsyncClient
    ) -> None:
        paths = (await http.get("/openapi.json")).json()["paths"]
        assert not [path for path in paths if path.startswith(("/docs", "/redoc"))]
