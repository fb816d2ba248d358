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
    options = ("--server", "--token", "--device", "--name", "--scratch", "--max-batches")
    for option in (*options, "--evaluators"):
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


def test_unknown_evaluator_kinds_are_refused_before_anything_starts(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["worker", "--server", "http://127.0.0.1:9", "--evaluators", "table,gpu-magic",
         "--scratch", str(tmp_path)],
        env={"BONAS_WORKER_TOKEN": "t"},
    )  # fmt: skip
    assert result.exit_code == 2
    assert "gpu-magic" in result.output and "weight_sharing" in result.output


def test_a_daemon_offers_the_chosen_evaluators_only() -> None:
    from protocol import EvaluatorKind
    from workers.daemon import _chosen_kinds
    from workers.evaluators import available_kinds
    from workers.exceptions import WorkerSetupError

    assert _chosen_kinds(None) == available_kinds()
    table = EvaluatorKind.TABLE
    assert _chosen_kinds((table, table)) == (table,)
    with pytest.raises(WorkerSetupError, match="cannot offer"):
        _chosen_kinds(())
