"""Issue #10, reproduction 1: a user's table or dataset path must not read files for them.

Before data roots, a search whose table path was ``.env`` or ``/proc/self/environ`` made the
service's baseline endpoint, and the worker's release message (shown back to the user through
events and ``finished_reason``), quote the file's first line; image-folder errors listed
directory names. Here the same attempts run against the real service over HTTP (SQLite and
PostgreSQL) and a real ``bonas worker`` process, and nothing of the secret comes back.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from protocol import (
    BatchMember,
    DatasetSpec,
    EvaluatorKind,
    Lease,
    MemberReport,
    TableEvaluatorSpec,
    WeightSharingEvaluatorSpec,
)
from protocol.fake_controller import ControllerServer, MinimalController
from service.app import create_app
from service.settings import Settings
from service.store import Role, TokenRepository, session_scope, utcnow
from surrogate.spaces import get_space
from tests.integration.service_server import ServiceServer
from workers.daemon import DaemonOptions, WorkerDaemon
from workers.evaluators import Evaluator, EvaluatorContext, ProgressCallback, StopCheck

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "BONAS_ADMIN_TOKEN=s3cr3t-admin-token-0123456789"
LEAK_MARKERS = ("s3cr3t", "BONAS_ADMIN_TOKEN", "secret-class-alpha")
NB201 = get_space("nb201")
TOKEN = "worker-token"


def assert_no_leak(text: str, *local_paths: Path) -> None:
    for marker in LEAK_MARKERS:
        assert marker not in text, f"{marker!r} leaked in: {text}"
    for path in local_paths:
        assert str(path) not in text, f"local path {path} shown in: {text}"


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """A data root with a good table, a non-CSV file and a symlink out to a secret file."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.env").write_text(f"{SECRET}\nOTHER=1\n")
    (root / "notes.csv").write_text(f"{SECRET}\nmore,text\n")
    (root / "link.csv").symlink_to(outside / "secret.env")
    with (root / "nb.csv").open("w") as handle:
        handle.write("arch_str,acc\n")
        rng = np.random.default_rng(0)
        for index in range(20):
            handle.write(f"{NB201.key(NB201.sample(rng))},{50 + index}\n")
    classes = root / "images" / "secret-class-alpha"
    classes.mkdir(parents=True)
    for index in range(2):
        np.save(classes / f"{index}.npy", np.zeros((4, 4), dtype=np.uint8))
    return {"root": root, "outside": outside}


# --- the service: submission and the dashboard's baseline ----------------------------------------


@dataclass
class Service:
    server: ServiceServer
    token: str

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=60)

    def submit(self, path: str) -> httpx.Response:
        spec = {
            "name": "paths",
            "space": "nb201",
            "evaluator": {"kind": "table", "path": path},
            "objective": {"metric": "acc"},
            "budget": {"evaluations": 10},
            "batch_size": 5,
            "strategy": {"name": "random"},
        }
        with self.client() as client:
            return client.post("/api/v1/searches", json=spec)

    def baseline(self, path: str) -> dict[str, Any]:
        submitted = self.submit(path)
        assert submitted.status_code == 201, submitted.text
        assert_no_leak(submitted.text)
        with self.client() as client:
            answer = client.get(f"/api/v1/dashboard/searches/{submitted.json()['id']}/baseline")
        assert answer.status_code == 200, answer.text
        assert_no_leak(answer.text)
        return dict(answer.json())


def start_service(url: str, data_roots: list[Path]) -> tuple[ServiceServer, str]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=url, lease_seconds=60.0, data_roots=data_roots
    )
    app = create_app(settings, run_controller=False)
    server = ServiceServer(app)
    server.start()
    with session_scope(app.state.engine) as session:
        token = TokenRepository(session).create(role=Role.USER, owner="mallory", now=utcnow())[1]
    return server, token


@pytest.fixture
def service(migrated_url: str, layout: dict[str, Path]) -> Iterator[Service]:
    server, token = start_service(migrated_url, [layout["root"]])
    try:
        yield Service(server, token)
    finally:
        server.stop()


@pytest.mark.parametrize(
    "path",
    ["/proc/self/environ", "/etc/shadow", "../outside/secret.env", ".env", "a\x00b", "~/.env"],
)
def test_paths_outside_the_roots_are_refused_at_submission(
    service: Service, layout: dict[str, Path], path: str
) -> None:
    if path == "/etc/shadow":
        path = str(layout["outside"] / "secret.env")  # an absolute path that exists
    answer = service.submit(path)
    assert answer.status_code == 422, answer.text
    assert "path" in answer.text
    assert_no_leak(answer.text)


def test_the_baseline_reads_tables_under_the_service_roots_only(
    service: Service, layout: dict[str, Path]
) -> None:
    good = service.baseline("nb.csv")
    assert good["available"] is True and good["table_size"] == 20
    assert good["table_path"] == "nb.csv"  # the name, not a path of the service's machine
    escaped = service.baseline("link.csv")
    assert escaped["available"] is False
    assert "table 'link.csv': escapes its data root through a symlink" in escaped["reason"]
    not_a_table = service.baseline("notes.csv")
    assert not_a_table["available"] is False
    assert "table 'notes.csv': column 'arch_str' missing" in not_a_table["reason"]
    missing = service.baseline("secret.env")  # exists outside the roots
    nowhere = service.baseline("nowhere.env")
    assert "no such file under the data roots" in missing["reason"]
    assert missing["reason"] == nowhere["reason"].replace("nowhere.env", "secret.env")
    for answer in (escaped, not_a_table, missing):
        assert_no_leak(str(answer), layout["root"], layout["outside"])


def test_a_service_without_roots_reads_no_table(
    migrated_url: str, layout: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(layout["root"])  # where "nb.csv" would have been found before
    server, token = start_service(migrated_url, [])
    try:
        answer = Service(server, token).baseline("nb.csv")
    finally:
        server.stop()
    assert answer["available"] is False
    assert "no data roots are configured" in answer["reason"]


# --- the worker: release messages ----------------------------------------------------------------


@pytest.fixture
def controller() -> MinimalController:
    return MinimalController(
        token=TOKEN, lease_seconds=5.0, heartbeat_interval_s=0.5, poll_interval_s=0.1
    )


@pytest.fixture
def controller_server(controller: MinimalController) -> Iterator[ControllerServer]:
    running = ControllerServer(controller)
    running.start()
    yield running
    running.stop()


def members() -> list[BatchMember]:
    arch = NB201.sample(np.random.default_rng(1))
    return [BatchMember(key=NB201.key(arch), arch=NB201.to_json(arch))]


@pytest.fixture
def worker_process(
    tmp_path: Path, controller_server: ControllerServer, layout: dict[str, Path]
) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        sys.executable,
        "-c",
        "from service.cli.main import main; main()",
        "worker",
        "--server",
        controller_server.url,
        "--name",
        "paths",
        "--scratch",
        str(tmp_path / "scratch"),
        "--data-root",
        str(layout["root"]),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "BONAS_WORKER_TOKEN": TOKEN}
    env.pop("BONAS_DATA_ROOTS", None)
    with (tmp_path / "worker.log").open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=layout["outside"]
        )
    yield process
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_a_worker_releases_unreadable_paths_without_their_contents(
    controller: MinimalController,
    worker_process: subprocess.Popen[bytes],
    layout: dict[str, Path],
) -> None:
    space = NB201.describe()

    def table(path: str) -> TableEvaluatorSpec:
        return TableEvaluatorSpec(path=path, objective_column="acc")

    batches = {
        "link.csv": controller.add_batch(members(), space, table("link.csv"), max_attempts=1),
        "notes.csv": controller.add_batch(members(), space, table("notes.csv"), max_attempts=1),
        # secret.env exists in the worker's working directory, which is not a data root
        "secret.env": controller.add_batch(members(), space, table("secret.env"), max_attempts=1),
        "images": controller.add_batch(
            members(),
            space,
            WeightSharingEvaluatorSpec(dataset=DatasetSpec(name="imagefolder", path="images")),
            max_attempts=1,
        ),
    }

    def all_failed() -> bool:
        return all(controller.batches[b].state == "failed" for b in batches.values())

    controller.wait_for(all_failed, 120, "every batch to be released with an error")
    reasons = {name: controller.batches[b].failure_reason or "" for name, b in batches.items()}
    for reason in reasons.values():
        assert_no_leak(reason, layout["root"], layout["outside"])
    assert "escapes its data root through a symlink" in reasons["link.csv"]
    assert "column 'arch_str' missing" in reasons["notes.csv"]
    assert "'secret.env': no such file under the data roots" in reasons["secret.env"]
    assert "expected at least two class folders, found 1" in reasons["images"]


class Exploding(Evaluator):
    """An evaluator bug whose message quotes a data file (as a parser's error might)."""

    kind = EvaluatorKind.TABLE

    def __init__(self) -> None:
        super().__init__(EvaluatorContext())

    def evaluate(
        self, lease: Lease, progress: ProgressCallback, should_stop: StopCheck
    ) -> list[MemberReport]:
        raise RuntimeError(f"could not parse line 1: {SECRET}")


def test_an_unexpected_evaluator_error_is_released_without_its_message(
    controller: MinimalController, controller_server: ControllerServer, tmp_path: Path
) -> None:
    batch_id = controller.add_batch(
        members(), NB201.describe(), TableEvaluatorSpec(path="t.csv", objective_column="acc")
    )
    options = DaemonOptions(
        server=controller_server.url, token=TOKEN, name="bug", scratch_base=tmp_path / "s"
    )
    daemon = WorkerDaemon(options, evaluators={EvaluatorKind.TABLE: Exploding()})
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    failed: Callable[[], bool] = lambda: controller.batches[batch_id].failures >= 1  # noqa: E731
    controller.wait_for(failed, 30, "the release")
    daemon.request_stop()
    thread.join(15)
    reason = controller.batches[batch_id].failure_reason or ""
    assert "unexpected error in the evaluator (RuntimeError)" in reason
    assert_no_leak(reason)
