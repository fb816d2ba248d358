"""`bonas token create`, `submit`, `status` and `best` against a running service and controller.

A thread plays the worker (lease, report made-up accuracies), so the search runs to its budget
in seconds without data files; the CLI commands are the real ones, through Typer's runner.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from protocol import (
    EvaluatorKind,
    MemberReport,
    RegisterRequest,
    ReportRequest,
    WorkerCapabilities,
)
from service.app import create_app
from service.cli.main import app as cli
from service.settings import Settings
from tests.integration.service_server import ServiceServer
from workers.client import NO_RETRY, ControllerClient
from workers.exceptions import ControllerRejectedError


@pytest.fixture
def backend() -> str:
    """The CLI is backend-agnostic; SQLite suffices here (test_api covers PostgreSQL)."""
    return "sqlite"


def accuracy(key: str) -> float:
    """A made-up but deterministic accuracy per architecture."""
    return 50 + (int(uuid.uuid5(uuid.NAMESPACE_URL, key)) % 5000) / 100


class FakeWorker(threading.Thread):
    """Leases batches and reports `accuracy(key)` for every member until stopped."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.client = ControllerClient(url, token, retry=NO_RETRY)
        self.stop = threading.Event()
        self.reported: list[str] = []

    def run(self) -> None:
        capabilities = WorkerCapabilities(device="cpu", hostname="t", pid=1, version="0")
        worker_id = self.client.register(
            RegisterRequest(name="fake", instance_id="i", capabilities=capabilities)
        ).worker_id
        while not self.stop.is_set():
            lease = self.client.lease(worker_id).lease
            if lease is None:
                self.stop.wait(0.05)
                continue
            members = tuple(
                MemberReport(
                    key=m.key,
                    metrics={"val_acc": accuracy(m.key)},
                    objective=accuracy(m.key),
                    fidelity="val_acc",
                    evaluator=EvaluatorKind.TABLE,
                )
                for m in lease.members
            )
            try:
                self.client.report(
                    worker_id,
                    lease.batch_id,
                    ReportRequest(
                        attempt=lease.attempt,
                        lease_token=lease.lease_token,
                        report_id=uuid.uuid4().hex,
                        members=members,
                    ),
                )
            except ControllerRejectedError:
                continue
            self.reported += [m.key for m in members]


@pytest.fixture
def service(migrated_url: str) -> Iterator[tuple[str, str]]:
    """(server URL, database URL) of a running service with a fake worker attached."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=migrated_url,
        lease_seconds=30,
        poll_interval_s=0.1,
    )
    with ServiceServer(create_app(settings)) as server:
        token = make_token(migrated_url, "worker", "farm", flag="--pool")
        granted = CliRunner().invoke(
            cli, ["pool", "grant", "farm", "alice", "--database-url", migrated_url]
        )
        assert granted.exit_code == 0 and "farm now serves alice" in granted.stdout
        worker = FakeWorker(server.url, token)
        worker.start()
        try:
            yield server.url, migrated_url
        finally:
            worker.stop.set()
            worker.join(10)
            worker.client.close()


def make_token(database_url: str, role: str, name: str, flag: str = "--name") -> str:
    result = CliRunner().invoke(
        cli, ["token", "create", "--role", role, flag, name, "--database-url", database_url]
    )
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[0]
    assert secret.startswith("bonas_")
    assert "cannot be shown again" in result.stderr
    return secret


def write_spec(path: Path, **overrides: object) -> Path:
    spec = {
        "name": "cli-search",
        "space": "nb201",
        "evaluator": {"kind": "table", "path": "nb201.csv"},
        "objective": {"metric": "val_acc"},
        "budget": {"evaluations": 6},
        "batch_size": 3,
        "strategy": {"name": "random"},
        **overrides,
    }
    path.write_text(yaml.safe_dump(spec))
    return path


def test_submit_wait_status_and_best(service: tuple[str, str], tmp_path: Path) -> None:
    url, database_url = service
    token = make_token(database_url, "user", "alice")
    env = {"BONAS_SERVER": url, "BONAS_TOKEN": token}
    runner = CliRunner()
    submitted = runner.invoke(
        cli, ["submit", str(write_spec(tmp_path / "s.yaml")), "--wait", "--poll", "0.2"], env=env
    )
    assert submitted.exit_code == 0, submitted.output
    assert "submitted search 1" in submitted.output
    assert "completed" in submitted.output and "evaluations: 6 of 6" in submitted.output

    listed = runner.invoke(cli, ["status"], env=env)
    assert listed.exit_code == 0 and "cli-search" in listed.output
    one = runner.invoke(cli, ["status", "1"], env=env)
    assert one.exit_code == 0 and "search 1" in one.output and "completed" in one.output

    exported = tmp_path / "best.json"
    best = runner.invoke(cli, ["best", "1", "--export", str(exported)], env=env)
    assert best.exit_code == 0, best.output
    genotype = json.loads(exported.read_text())
    assert f"val_acc: {accuracy(genotype['key']):.6g}" in best.output
    assert genotype["key"] in best.output
    assert genotype["objective"] == pytest.approx(accuracy(genotype["key"]))


def test_cli_errors_say_what_is_wrong(service: tuple[str, str], tmp_path: Path) -> None:
    url, database_url = service
    runner = CliRunner()
    env = {"BONAS_SERVER": url, "BONAS_TOKEN": make_token(database_url, "user", "bob")}
    bad = runner.invoke(
        cli, ["submit", str(write_spec(tmp_path / "b.yaml", batch_size=0))], env=env
    )
    assert bad.exit_code == 1 and "batch_size" in bad.stderr
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    not_mapping = runner.invoke(cli, ["submit", str(tmp_path / "list.yaml")], env=env)
    assert not_mapping.exit_code == 1 and "must hold a mapping" in not_mapping.stderr
    missing = runner.invoke(cli, ["status", "77"], env=env)
    assert missing.exit_code == 1 and "search 77 does not exist" in missing.stderr
    no_token = runner.invoke(cli, ["status"], env={"BONAS_SERVER": url, "BONAS_TOKEN": ""})
    assert no_token.exit_code == 1 and "no token" in no_token.stderr
    forged = runner.invoke(cli, ["status"], env={"BONAS_SERVER": url, "BONAS_TOKEN": "bonas_x"})
    assert forged.exit_code == 1 and "unknown or revoked token" in forged.stderr
    role = runner.invoke(
        cli, ["token", "create", "--role", "root", "--name", "x", "--database-url", database_url]
    )
    assert role.exit_code == 1 and "unknown role 'root'" in role.stderr


def test_token_commands_refuse_an_unmigrated_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(
        cli, ["token", "create", "--role", "user", "--name", "x", "--database-url", url]
    )
    assert result.exit_code == 1 and "bonas db upgrade" in result.stderr


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(cli, ["serve", "--database-url", url, "--port", "1"])
    assert result.exit_code == 1
    assert "has no bonas schema" in result.stderr and "bonas db upgrade" in result.stderr
