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


MAX_MODULE_LINES = 220
"""Past this a module does too much to read in one sitting (issue #14 split app.js by panel and
the SVG chart kit into charts.js and its chart-*.js pieces); no module is exempt."""

STATIC_IMPORT = re.compile(
    r"""^(?:import|export)\b[^;]*?\bfrom\s*(["'])(?P<from>[^"']+)\1"""
    r"""|^import\s*(["'])(?P<bare>[^"']+)\3"""
    r"""|\bimport\(\s*(["'])(?P<dynamic>[^"']+)\5\s*\)""",
    re.MULTILINE,
)


def packaged_modules() -> list[str]:
    return sorted(p.name for p in PACKAGE.iterdir() if p.name.endswith(".js"))


def imports_of(name: str) -> list[str]:
    """What `name` imports: static imports (one line or several), re-exports, dynamic imports."""
    source = text(name)
    found = [
        m.group("from") or m.group("bare") or m.group("dynamic")
        for m in STATIC_IMPORT.finditer(source)
    ]
    statements = len(re.findall(r"^import\b", source, re.MULTILINE))
    static = sum(1 for m in STATIC_IMPORT.finditer(source) if m.group(0).startswith("import"))
    assert static == statements, f"{name}: an import statement this test cannot read"
    return found


def test_every_packaged_module_is_served() -> None:
    modules = packaged_modules()
    assert "app.js" in modules and len(modules) > 5
    for name in modules:
        assert ASSETS.get(name) == "text/javascript", (
            f"{name} is packaged but not served as a script"
        )


def test_every_module_is_small() -> None:
    for name in packaged_modules():
        lines = len(text(name).splitlines())
        assert lines < MAX_MODULE_LINES, (
            f"{name} has {lines} lines (at most {MAX_MODULE_LINES - 1})"
        )


def test_every_relative_import_resolves_to_a_served_module(client: Client) -> None:
    served: set[str] = set()
    for name in packaged_modules():
        for target in imports_of(name):
            assert re.fullmatch(r"\./[\w.-]+\.js", target), f"{name} imports {target!r}"
            module = target.removeprefix("./")
            assert ASSETS.get(module) == "text/javascript", f"{name} imports {target}, not served"
            served.add(module)
    for module in sorted(served):
        answer = client.get(f"/dashboard/{module}")
        assert answer.status_code == 200, module
        assert answer.headers["content-type"].startswith("text/javascript"), module
        assert "script-src 'self'" in answer.headers["content-security-policy"], module


def test_the_page_loads_every_module_and_no_import_cycle() -> None:
    """Every served module is reached from the page's entry point, and the imports have no cycle
    (panels import the store; the store imports no panel)."""
    entry = re.findall(
        r"""<script type="module" src="/dashboard/([^"]+)"></script>""", text("index.html")
    )
    assert entry == ["app.js"]
    reached: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import cycle: {' -> '.join((*path, name))}"
        reached.add(name)
        for target in imports_of(name):
            visit(target.removeprefix("./"), (*path, name))

    visit("app.js", ())
    assert reached == set(packaged_modules())


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
