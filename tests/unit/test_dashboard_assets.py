"""The dashboard's page ships inside the package, fetches nothing from elsewhere, and is served
with a strict content security policy."""

from __future__ import annotations

import asyncio
import re
from importlib import resources

import httpx
import pytest
from fastapi import FastAPI

from service.app import create_app
from service.dashboard.router import ASSETS
from service.settings import Settings

PACKAGE = resources.files("service.dashboard")


class Client:
    """GETs against the app in process (no lifespan: the page needs no database)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        async def fetch() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await client.get(path, headers=headers)

        return asyncio.run(fetch())


@pytest.fixture(scope="module")
def client() -> Client:
    return Client(create_app(Settings(database_url="sqlite://"), run_controller=False))


def text(name: str) -> str:
    return PACKAGE.joinpath(name).read_text()


def test_every_asset_is_packaged_and_nothing_points_outside() -> None:
    for name in [*ASSETS, "index.html"]:
        body = text(name)
        urls = re.findall(r"https?://[^\s\"'<>)]+", body)
        assert urls == [] or all(u.startswith("http://www.w3.org/2000/svg") for u in urls), name


def test_modules_import_only_packaged_modules() -> None:
    for name in [n for n in ASSETS if n.endswith(".js")]:
        for target in re.findall(r"""^import .* from "([^"]+)";""", text(name), re.MULTILINE):
            assert target.startswith("./"), f"{name} imports {target}"
            assert target[2:] in ASSETS, f"{name} imports {target}, which is not served"


def test_the_page_references_only_served_assets() -> None:
    html = text("index.html")
    for path in re.findall(r"""(?:src|href)="(/dashboard/[^"]+)\"""", html):
        assert path.removeprefix("/dashboard/") in ASSETS


def test_page_and_assets_are_served_with_security_headers(client: Client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    script = client.get("/dashboard/app.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    again = client.get("/dashboard/app.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304


def test_unknown_assets_are_404_not_files_of_the_package(client: Client) -> None:
    for name in ["router.py", "__init__.py", "..%2Frouter.py", "nope.js"]:
        answer = client.get(f"/dashboard/{name}")
        assert answer.status_code == 404, name
        assert "import" not in answer.text
