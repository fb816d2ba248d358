"""The example search specs under examples/ are valid searches (users copy them)."""

from __future__ import annotations

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
