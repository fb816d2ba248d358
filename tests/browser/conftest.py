"""Browser-test fixtures: headless Chromium driven by Selenium, and a real bonas deployment.

Chromium and its driver are Debian's (``/usr/bin/chromium``, ``/usr/bin/chromedriver``); the
driver's path is given explicitly and Selenium Manager is told to stay offline, so nothing is
downloaded. Without them (or without the selenium package) the tests skip, unless
``BONAS_REQUIRE_BROWSER=1`` (CI sets it), which turns the skip into a failure.

The deployment is what a user runs: ``bonas db upgrade``, ``bonas serve`` and ``bonas worker``
as subprocesses on a SQLite file, tokens made with ``bonas token create``, and a search submitted
over HTTP. Screenshots go to ``artifacts/browser/`` (ignored by git; CI keeps them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import (
    BONAS_CLI,
    bonas_env,
    free_port,
    log_tails,
    spawn,
    submit_search,
    wait_until_healthy,
    worker_args,
)
from tests.support.processes import stop as stop_processes
from tests.support.tables import nb201_csv

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "artifacts" / "browser"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER_CANDIDATES = ("/usr/bin/chromedriver",)
CHROME_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)


def _require_browser() -> bool:
    return os.environ.get("BONAS_REQUIRE_BROWSER", "") not in ("", "0", "false")


def _missing(reason: str) -> None:
    if _require_browser():
        pytest.fail(f"BONAS_REQUIRE_BROWSER is set but {reason}")
    pytest.skip(reason)


def _first_file(candidates: tuple[str, ...], name: str) -> str | None:
    for candidate in candidates:
        if Path(candidate).is_file():
            return candidate
    return shutil.which(name)


@dataclass
class Browser:
    """A headless Chromium session."""

    driver: Any
    profile: Path

    def screenshot(self, name: str) -> Path:
        """Save the whole page as ``artifacts/browser/<name>.png``."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        width = int(self.driver.execute_script("return window.innerWidth"))
        height = int(self.driver.execute_script("return document.documentElement.scrollHeight"))
        self.driver.set_window_size(width, min(max(height, 600), 6000))
        time.sleep(0.3)  # let the charts redraw at the new size
        self.driver.save_screenshot(str(path))
        return path

    def wait_for(self, probe: Callable[[], Any], what: str, timeout_s: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout_s
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                value = probe()
            except Exception as error:  # the page is re-rendering: try again
                last_error = error
                value = None
            if value:
                return value
            time.sleep(0.2)
        logs = "\n".join(str(entry) for entry in self.console())
        raise AssertionError(f"timed out waiting for {what} ({last_error})\nconsole:\n{logs}")

    def console(self) -> list[Any]:
        try:
            return list(self.driver.get_log("browser"))
        except Exception:
            return []

    def count(self, selector: str) -> int:
        return int(
            self.driver.execute_script(
                "return document.querySelectorAll(arguments[0]).length", selector
            )
        )

    def text(self, selector: str) -> str:
        return str(
            self.driver.execute_script(
                "const n = document.querySelector(arguments[0]); return n ? n.innerText : ''",
                selector,
            )
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium (a fresh profile), or a skip when it is not installed."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("the selenium package is not installed")
    chromium = _first_file(CHROMIUM_CANDIDATES, "chromium")
    driver_path = _first_file(DRIVER_CANDIDATES, "chromedriver")
    if chromium is None or driver_path is None:
        _missing("Debian's chromium and chromedriver are not installed")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch anything
    profile = Path(tempfile.mkdtemp(prefix="bonas-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROME_FLAGS, f"--user-data-dir={profile}", "--window-size=1440,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield Browser(driver, profile)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# --- the deployment ---------------------------------------------------------------------------


@dataclass
class Deployment:
    """``bonas serve`` and ``bonas worker`` processes on one SQLite file, with tokens."""

    workdir: Path
    table: Path
    port: int = field(default_factory=free_port)
    service: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.workdir / 'bonas.db'}"

    def env(self, **extra: str) -> dict[str, str]:
        return bonas_env(BONAS_DATABASE_URL=self.database_url, **extra)

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [*BONAS_CLI, *args],
            env=self.env(),
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, f"bonas {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def create_token(self, role: str, name: str) -> str:
        output = self.cli("token", "create", "--role", role, "--name", name)
        secrets = [word for word in output.split() if word.startswith("bonas_")]
        assert secrets, f"no token in the output of `bonas token create`:\n{output}"
        return secrets[-1]

    def start_service(self, timeout_s: float = 180.0) -> None:
        env = self.env(
            BONAS_HOST="127.0.0.1",
            BONAS_PORT=str(self.port),
            BONAS_LEASE_SECONDS="30",
            BONAS_WORKER_STALE_SECONDS="20",
            BONAS_DATA_ROOTS=str(self.table.parent),  # the dashboard draws the table's baseline
        )
        self.service = spawn(
            ["serve", "--log-level", "warning"], env, self.workdir, self.workdir / "service.log"
        )
        wait_until_healthy(self.service, self.url, self.logs, timeout_s)

    def start_worker(self, name: str) -> None:
        env = self.env(BONAS_WORKER_TOKEN=self.tokens["worker"])
        args = worker_args(
            self.url, name, self.workdir / "scratch", "--data-root", str(self.table.parent)
        )
        self.workers.append(spawn(args, env, self.workdir, self.workdir / f"{name}.log"))

    def submit(self, spec: dict[str, Any]) -> int:
        return submit_search(self.url, self.tokens["user"], spec, timeout_s=60)

    def search(self, search_id: int) -> dict[str, Any]:
        answer = httpx.get(
            f"{self.url}/api/v1/searches/{search_id}",
            headers={"Authorization": f"Bearer {self.tokens['user']}"},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def stop(self) -> None:
        stop_processes([*self.workers, self.service])

    def logs(self) -> str:
        return log_tails(self.workdir)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A migrated SQLite store, a running service (no worker yet) and user/worker tokens."""
    workdir = tmp_path_factory.mktemp("dashboard")
    deployed = Deployment(workdir, nb201_csv(workdir))
    deployed.cli("db", "upgrade")
    deployed.tokens = {
        "user": deployed.create_token("user", "alice"),
        "worker": deployed.create_token("worker", "pool"),
    }
    deployed.cli("pool", "grant", "pool", "alice")  # the worker pool serves alice's searches
    deployed.start_service()
    try:
        yield deployed
    finally:
        deployed.stop()
