"""The example search specs under examples/ are valid searches (users copy them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from service.search_spec import SearchSpec

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_spec_is_a_valid_search(path: Path) -> None:
    spec = SearchSpec.model_validate(yaml.safe_load(path.read_text()))
    assert spec.name == path.stem.replace("_", "-")


@pytest.mark.slow
def test_minimal_loop_runs_end_to_end() -> None:
    script = Path(__file__).resolve().parents[2] / "examples" / "minimal_loop.py"
    assert len(script.read_text().splitlines()) < 150
    done = subprocess.run(
        [sys.executable, str(script), "--budget", "20", "--k", "10"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    lines = done.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["bonas", "random"]
    assert all("@20:" in line and "table optimum" in line for line in lines)
