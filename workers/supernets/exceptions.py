"""Errors raised while building or running supernets; all derive from `SupernetError`."""

from __future__ import annotations


class SupernetError(Exception):
    """Base class of every error the supernet package raises on purpose."""


class UnknownOpError(SupernetError, ValueError):
    """A search space names an operation that the ops library cannot build."""


class NotAMemberError(SupernetError, ValueError):
    """An architecture uses an op (or an edge) that the supernet's union does not hold."""


class UnsupportedSpaceError(SupernetError, TypeError):
    """No supernet is defined for this kind of search space."""
