"""Fixtures shared by every test package: where the shared benchmark data lives.

The data (`../shared/data` beside the checkout) is never copied into the repository, and a
fresh clone may not have it, so tests that read it ask for the `shared_data` fixture, which
skips them cleanly when it is absent. Mark such tests `@pytest.mark.data`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """`../shared/data` beside the repository root, or `None` when it is absent."""
    path = REPO_ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


def require_shared_file(relative: str) -> Path:
    """The shared data file at `relative` (e.g. `nasbench201/nb201_cifar10.csv`), or skip."""
    root = shared_data_dir()
    if root is None:
        pytest.skip("shared benchmark data (../shared/data) is absent")
    path = root / relative
    if not path.is_file():
        pytest.skip(f"shared data file {relative} is absent")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data directory; skips the test when it is absent."""
    root = shared_data_dir()
    if root is None:
        pytest.skip("shared benchmark data (../shared/data) is absent")
    return root
