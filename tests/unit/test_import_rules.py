"""The dependency rules between our packages, checked on every module's imports.

`surrogate/` is a pure library and imports none of our other packages; `protocol/` (the wire
protocol, error reasons and API prefix) is what `service/` and `workers/` share and imports
neither; `workers/` may import `surrogate` and `protocol` but never `service`; the user SDK
`service.client` loads neither the store nor SQLAlchemy nor torch, so that installing a client
does not need a database driver or a GPU stack.
Imports are read with `ast` (those inside functions and ``TYPE_CHECKING`` blocks count too: they
are dependencies all the same); the SDK rule is checked on what importing it really loads.

`KNOWN_SERVICE_TO_WORKER_INTERNALS` lists the imports of worker internals by `service/` that the
code still has (issue #14 removes them): it is a ratchet, so a new one fails, and so does an entry
whose import is gone (delete the entry then).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
OUR_PACKAGES = ("surrogate", "protocol", "workers", "service", "migrations")

WORKER_INTERNALS = ("workers.training", "workers.supernets")
"""Worker packages that need torch and the training stack; `service/` should not reach them."""

KNOWN_SERVICE_TO_WORKER_INTERNALS = frozenset(
    {
        # The export route rebuilds a member network to describe it.
        ("service/usecases/export.py", "workers.supernets"),
    }
)

SDK_FORBIDDEN = ("service.store", "sqlalchemy", "torch")
"""Modules (and their submodules) that importing `service.client` must not load."""


def package_of(path: Path) -> str:
    """Dotted name of the package that holds a module file below the repository root."""
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1])


def imports_of(source: str, package: str) -> Iterator[str]:
    """Every module some code in `package` imports, absolute, relative imports resolved."""
    here = package.split(".") if package else []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield module
            if node.module is None:  # `from . import x`: x may be a module of the package
                yield from (f"{module}.{alias.name}" for alias in node.names)


def within(module: str, packages: tuple[str, ...]) -> bool:
    """Whether `module` is one of `packages` or inside one of them."""
    return any(module == p or module.startswith(f"{p}.") for p in packages)


def edges(package: str) -> set[tuple[str, str]]:
    """(file relative to the root, imported module) for every import in `package`."""
    files = sorted((REPO_ROOT / package).rglob("*.py"))
    assert files, f"no modules found under {package}/"
    return {
        (path.relative_to(REPO_ROOT).as_posix(), module)
        for path in files
        for module in imports_of(path.read_text(encoding="utf-8"), package_of(path))
    }


def test_the_reader_sees_nested_and_relative_imports() -> None:
    source = (
        "import os.path\n"
        "from . import routes\n"
        "from ..store import tables\n"
        "if TYPE_CHECKING:\n    import sqlalchemy\n"
        "def late():\n    from workers.training import options\n"
    )
    found = set(imports_of(source, "service.api"))
    assert found == {
        "os.path",
        "service.api",
        "service.api.routes",
        "service.store",
        "sqlalchemy",
        "workers.training",
    }
    assert package_of(REPO_ROOT / "service" / "store" / "__init__.py") == "service.store"
    assert ("service/client.py", "service.states") in edges("service")


def test_surrogate_imports_none_of_our_other_packages() -> None:
    bad = sorted(
        (path, module)
        for path, module in edges("surrogate")
        if within(module, ("protocol", "service", "workers", "migrations"))
    )
    assert not bad, f"surrogate/ is a pure library and must not import our packages: {bad}"


def test_the_protocol_imports_neither_side() -> None:
    bad = sorted(
        (path, module)
        for path, module in edges("protocol")
        if within(module, ("surrogate", "service", "workers", "migrations"))
    )
    assert not bad, f"protocol/ is shared by service/ and workers/ and imports neither: {bad}"


def test_workers_never_import_service() -> None:
    bad = sorted(
        (path, module) for path, module in edges("workers") if within(module, ("service",))
    )
    assert not bad, f"workers/ must not import service/ (move what both need elsewhere): {bad}"


def test_service_reaches_worker_internals_only_where_listed() -> None:
    found = {
        (path, module) for path, module in edges("service") if within(module, WORKER_INTERNALS)
    }
    new = sorted(found - KNOWN_SERVICE_TO_WORKER_INTERNALS)
    assert not new, f"service/ must not import {WORKER_INTERNALS} (new imports): {new}"
    gone = sorted(KNOWN_SERVICE_TO_WORKER_INTERNALS - found)
    assert not gone, f"these listed imports are gone; remove them from the allow-list: {gone}"


@pytest.mark.parametrize("module", ["service.client"])
def test_the_client_sdk_loads_neither_the_store_nor_sqlalchemy_nor_torch(module: str) -> None:
    script = f"import json, sys\nimport {module}\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout)
    assert module in loaded
    bad = sorted(name for name in loaded if within(name, SDK_FORBIDDEN))
    assert not bad, f"importing {module} loaded {bad}; it may load none of {SDK_FORBIDDEN}"
