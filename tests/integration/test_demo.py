"""`bonas demo` as a user runs it: a subprocess that serves, starts a worker, searches and prints.

Both documented examples run, shortened (fewer evaluations, one epoch per batch) so the test
stays near a minute; the full default demo takes 1 to 3 minutes on a 2-core machine.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from service.cli.demo_commands import _prepare_database
from service.store import SearchRepository, make_engine, session_scope
from tests.support.processes import BONAS_CLI
from tests.support.tables import nb201_csv

pytestmark = pytest.mark.slow

NB201_CELL = re.compile(r"^\|[a-z_0-9]+~0\|\+\|[a-z_0-9]+~0\|[a-z_0-9]+~1\|\+(\|[a-z_0-9]+~\d)+\|$")


def run_demo(tmp_path: Path, *args: str) -> str:
    done = subprocess.run(
        [*BONAS_CLI, "demo", "--data-dir", str(tmp_path / "data"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("BONAS_")}
        | {"COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def best_cell(output: str) -> str:
    lines = output.splitlines()
    return lines[lines.index("Best architecture:") + 1].strip()


def test_demo_trains_nb201_cells_on_digits_and_prints_the_best(tmp_path: Path) -> None:
    output = run_demo(tmp_path, "--budget", "16", "--epochs", "1")

    assert "Search 1 completed: evaluation budget reached: 16 of 16 evaluations" in output
    assert NB201_CELL.match(best_cell(output)), output
    accuracy = re.search(r"^validation accuracy: ([0-9.]+)$", output, re.MULTILINE)
    assert accuracy is not None and 0 < float(accuracy.group(1)) <= 100
    assert re.search(r"^Dashboard: http://127\.0\.0\.1:\d+/", output, re.MULTILINE)
    assert (tmp_path / "data" / "demo.db").is_file()


def test_demo_on_a_table_keeps_the_database_only_when_asked(tmp_path: Path) -> None:
    table = nb201_csv(tmp_path)

    first = run_demo(tmp_path, "--table", str(table), "--budget", "20")
    kept = run_demo(tmp_path, "--table", str(table), "--budget", "10", "--keep")

    assert "Search 1 completed: evaluation budget reached: 20 of 20" in first
    assert NB201_CELL.match(best_cell(first)), first
    assert "cifar10_test_200ep: " in first
    assert "Search 2 completed" in kept  # the first search is still in the kept database
    url = _prepare_database(tmp_path / "data", keep=False)  # what a run without --keep does
    engine = make_engine(url)
    try:
        with session_scope(engine, read_only=True) as session:
            assert SearchRepository(session).list().total == 0
    finally:
        engine.dispose()
