"""Names of data files in a search spec: what a valid one looks like, checked without any I/O.

The service refuses a bad name at submission (422) and the worker checks it again before opening
anything (`workers.data_roots` resolves it under the operator's roots), with the same rule from
here, so the two cannot disagree.
"""

from __future__ import annotations

from pathlib import PurePosixPath

MAX_NAME_LENGTH = 1024
"""Longest accepted name (characters)."""

NAME_RULE = (
    "a name relative to a data root (no '..', no leading '/' or '~', no hidden component, "
    "no control characters)"
)
"""What an accepted name looks like, for error messages."""


class DataPathError(ValueError):
    """A name of a spec does not lead to a usable file under the data roots.

    Attributes:
        name: The name as given (shown shortened if long).
        problem: What is wrong with it, in a few words (no file contents, no listings).
    """

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        self.problem = problem
        super().__init__(f"{shown_name(name)}: {problem}")


def shown_name(name: str) -> str:
    """`name` quoted for a message: control characters escaped, at most 120 characters."""
    text = repr(name)
    return text if len(text) <= 120 else text[:100] + "...'"


def check_name(name: str) -> str:
    """The normalised form of a data name (``a//b/./c`` -> ``a/b/c``), checked without any I/O.

    Raises:
        DataPathError: The name is empty, too long, absolute, starts with ``~``, contains a
            ``..`` or hidden component, NUL or another control character.
    """
    if not name or not name.strip():
        raise DataPathError(name, f"is empty; give {NAME_RULE}")
    if len(name) > MAX_NAME_LENGTH:
        raise DataPathError(name, f"is longer than {MAX_NAME_LENGTH} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise DataPathError(name, f"contains a NUL or control character; give {NAME_RULE}")
    if name.startswith(("/", "\\")) or PurePosixPath(name).is_absolute():
        raise DataPathError(name, f"is an absolute path, not under any data root; give {NAME_RULE}")
    if name.startswith("~"):
        raise DataPathError(name, f"starts with '~'; give {NAME_RULE}")
    parts = [part for part in PurePosixPath(name).parts if part != "."]
    if ".." in parts:
        raise DataPathError(name, f"contains a '..' component; give {NAME_RULE}")
    if not parts:
        raise DataPathError(name, f"names no file; give {NAME_RULE}")
    if any(part.startswith(".") for part in parts):
        raise DataPathError(
            name, "names a hidden file or folder (a component starting with '.'), never served"
        )
    return "/".join(parts)
