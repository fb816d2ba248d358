"""Data roots: where the files that a search names may live, and how its names become paths.

A search spec names its benchmark table or dataset with a *name relative to a data root*
(``nb201/cifar10.csv``, ``cifar``), never with a path of some machine: the operator of each
worker (``bonas worker --data-root DIR``, repeatable, or ``BONAS_DATA_ROOTS``) and of the service
(``BONAS_DATA_ROOTS``) says which directories hold data, and nothing outside them is opened on
a user's behalf. Without a configured root nothing is read at all.

The rules, identical on both sides:

* `check_name` (no filesystem): a name is a relative POSIX path of at most `MAX_NAME_LENGTH`
  characters, without ``..`` components, NUL or other control characters, and not starting with
  ``/`` or ``~``, and without hidden components (``.env``, ``.ssh/...``: a root that happens
  to be a home or project directory still does not serve its dot files). Absolute paths are
  refused everywhere, even ones that would point inside a root: the same spec must work on
  workers that mount their roots at different places, and the service can then refuse a bad
  path at submission with a 422, before any worker sees it.
* `DataRoots.resolve`: the name is joined to each root in turn and resolved with ``realpath``;
  the first root under which it exists wins. A name whose real path leaves its root (a symlink
  pointing outside) is refused, whether or not the target exists, so that symlinks are no
  way out; a name found under no root gets one message, the same whether or not such a file
  exists elsewhere on the machine (no existence oracle).

Every error is a `DataPathError` whose message holds the name as given and the kind of problem
only: never a line of a file, a directory listing, or the roots themselves.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from protocol.names import DataPathError, check_name

Expect = Literal["file", "dir", "any"]


def is_within(path: str | Path, root: str | Path) -> bool:
    """Whether the real path of `path` lies inside the real directory `root` (or is it)."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return os.path.commonpath([real, real_root]) == real_root


@dataclass(frozen=True)
class DataRoots:
    """The directories that names are resolved under, in order of preference.

    Attributes:
        roots: Absolute real paths of the directories (see `of`).
    """

    roots: tuple[Path, ...] = ()

    @classmethod
    def of(cls, directories: Iterable[str | Path]) -> DataRoots:
        """Roots from operator-given directories (``~`` expanded, made absolute and real).

        Directories are the operator's configuration, trusted as given; one that does not exist
        simply holds nothing.
        """
        seen: dict[Path, None] = {}
        for directory in directories:
            seen[Path(os.path.realpath(Path(directory).expanduser()))] = None
        return cls(tuple(seen))

    def __bool__(self) -> bool:
        return bool(self.roots)

    def resolve(self, name: str, expect: Expect = "any") -> Path:
        """The real path that `name` stands for under the first root that has it.

        Args:
            name: A name from a spec (see `check_name`).
            expect: ``"file"`` for a regular file, ``"dir"`` for a directory, ``"any"`` for
                either.

        Returns:
            An absolute real path inside one of the roots.

        Raises:
            DataPathError: The name is malformed, no root is configured, it escapes its root
                through a symlink, it exists under no root, or it is not of the expected kind.
        """
        relative = check_name(name)
        if not self.roots:
            raise DataPathError(
                name,
                "no data roots are configured here, so no file is read (the operator sets "
                "them with --data-root or BONAS_DATA_ROOTS)",
            )
        for root in self.roots:
            real = os.path.realpath(root / relative)
            if os.path.commonpath([real, str(root)]) != str(root):
                raise DataPathError(name, "escapes its data root through a symlink")
            try:
                mode = os.stat(real).st_mode
            except OSError:
                continue
            _check_kind(name, mode, expect)
            return Path(real)
        raise DataPathError(name, "no such file under the data roots")


def _check_kind(name: str, mode: int, expect: Expect) -> None:
    if expect == "file" and not stat.S_ISREG(mode):
        raise DataPathError(name, "is not a regular file under the data roots")
    if expect == "dir" and not stat.S_ISDIR(mode):
        raise DataPathError(name, "is not a directory under the data roots")
    if expect == "any" and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise DataPathError(name, "is neither a regular file nor a directory")
