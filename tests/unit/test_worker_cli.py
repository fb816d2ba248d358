"""`bonas worker`: options, environment variables, and exit codes of a daemon that cannot start."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli.main import app


@pytest.fixture(autouse=True)
def keep_signal_handlers() -> Iterator[None]:
    """The command installs its own SIGTERM/SIGINT handlers; give pytest its own back."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(app, ["worker", "--help"])
    assert result.exit_code == 0
    for option in ("--server", "--token", "--device", "--name", "--scratch", "--max-batches"):
        assert option in result.output


def test_an_unknown_device_exits_with_code_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["worker", "--server", "http://127.0.0.1:9", "--device", "tpu", "--scratch", str(tmp_path)],
        env={"BONAS_WORKER_TOKEN": "t"},
    )
    assert result.exit_code == 2


def test_the_token_is_required() -> None:
    result = CliRunner().invoke(
        app, ["worker", "--server", "http://x"], env={"BONAS_WORKER_TOKEN": None}
    )
    assert result.exit_code != 0
    assert "--token" in result.output
