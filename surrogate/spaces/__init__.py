"""Search spaces: NAS-Bench-201, NAS-Bench-101, DARTS, and user-declared spaces.

`get_space(name)` returns a built-in space; `space_from_spec(spec)` rebuilds any space from the
JSON that `SearchSpace.describe()` returns (and accepts user declarations); `load_space_file(path)`
reads a user declaration from JSON or YAML.
"""

from __future__ import annotations

from surrogate.spaces.base import ArchGraph, SearchSpace
from surrogate.spaces.registry import (
    BUILTIN_SPACE_NAMES,
    get_space,
    load_space_file,
    space_from_spec,
)

__all__ = [
    "BUILTIN_SPACE_NAMES",
    "ArchGraph",
    "SearchSpace",
    "get_space",
    "load_space_file",
    "space_from_spec",
]
