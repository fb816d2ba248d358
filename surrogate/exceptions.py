"""Errors raised by the surrogate library; all derive from `SurrogateError`."""

from __future__ import annotations


class SurrogateError(Exception):
    """Base class of every error the surrogate library raises on purpose."""


class InvalidArchitectureError(SurrogateError, ValueError):
    """An architecture (or its codes, JSON or string form) is not in the search space."""


class InvalidSpaceSpecError(SurrogateError, ValueError):
    """A user's search-space declaration is malformed; the message says what and where."""


class SpaceNotEnumerableError(SurrogateError):
    """The search space is infinite or too large to list."""


class UnknownArchitectureError(SurrogateError, KeyError):
    """A benchmark table has no row for the architecture asked about."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else "unknown architecture"
