"""Find or build search spaces: built-ins by name, any space from its declaration.

Built-in spaces are built on first use and cached, so every caller shares one instance (NB201's
index table, for one, is built once). Their modules are imported inside the functions: importing
`surrogate.spaces` stays cheap, and one space's heavy setup never runs for another's user.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import yaml

from surrogate.exceptions import InvalidSpaceSpecError
from surrogate.spaces.base import SearchSpace
from surrogate.spaces.cell import CellSpace
from surrogate.spaces.macro import MacroSpace
from surrogate.spaces.spec import (
    BUILTIN_TYPES,
    BuiltinSpaceSpec,
    CellSpaceSpec,
    parse_space_spec,
)

BUILTIN_SPACE_NAMES: tuple[str, ...] = BUILTIN_TYPES
"""Names that `get_space` accepts: `nb201`, `nb101`, `darts`."""

JSON_SUFFIXES = (".json",)
YAML_SUFFIXES = (".yaml", ".yml")


def get_space(name: str) -> SearchSpace[Any]:
    """The built-in space called `name` (one shared instance per name).

    Raises:
        InvalidSpaceSpecError: `name` is not a built-in space.
    """
    if name not in BUILTIN_SPACE_NAMES:
        raise InvalidSpaceSpecError(
            f"unknown search space {name!r}; built-in spaces: {', '.join(BUILTIN_SPACE_NAMES)} "
            "(declare other spaces with space_from_spec or a space file)"
        )
    return _builtin(name)


@functools.cache
def _builtin(name: str) -> SearchSpace[Any]:
    if name == "nb201":
        from surrogate.spaces.nb201 import NasBench201Space

        return NasBench201Space()
    if name == "nb101":
        from surrogate.spaces.nb101 import NasBench101Space

        return NasBench101Space()
    from surrogate.spaces.darts import DartsSpace

    darts: SearchSpace[Any] = DartsSpace()
    return darts


def space_from_spec(spec: object) -> SearchSpace[Any]:
    """Build a space from a declaration or from what `SearchSpace.describe()` returned.

    Raises:
        InvalidSpaceSpecError: The declaration is malformed (the message says where and why).
    """
    parsed = parse_space_spec(spec)
    if isinstance(parsed, BuiltinSpaceSpec):
        return get_space(parsed.type)
    if isinstance(parsed, CellSpaceSpec):
        return CellSpace(parsed.name, parsed.num_nodes, parsed.ops)
    return MacroSpace(parsed.name, parsed.layers)


def load_space_file(path: str | Path) -> SearchSpace[Any]:
    """Read a declaration from a `.json`, `.yaml` or `.yml` file and build the space.

    YAML is read with `yaml.safe_load`, which builds plain data only.

    Raises:
        InvalidSpaceSpecError: The file is missing, unreadable, of another kind, does not parse,
            or holds a bad declaration.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in JSON_SUFFIXES + YAML_SUFFIXES:
        raise InvalidSpaceSpecError(
            f"{file}: unsupported file type {suffix or '(none)'!r}; accepted: .json, .yaml, .yml"
        )
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidSpaceSpecError(f"{file}: no such space file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidSpaceSpecError(f"{file}: cannot read the space file: {error}") from error
    try:
        data = json.loads(text) if suffix in JSON_SUFFIXES else yaml.safe_load(text)
    except json.JSONDecodeError as error:
        raise InvalidSpaceSpecError(
            f"{file}: invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
        ) from error
    except yaml.YAMLError as error:
        raise InvalidSpaceSpecError(f"{file}: invalid YAML: {error}") from error
    try:
        return space_from_spec(data)
    except InvalidSpaceSpecError as error:
        raise InvalidSpaceSpecError(f"{file}: {error}") from error
