"""Errors raised while locating, reading and checking datasets; all derive from `DatasetError`."""

from __future__ import annotations


class DatasetError(Exception):
    """Base class of every error the dataset package raises on purpose."""


class DatasetSpecError(DatasetError, ValueError):
    """A dataset description is malformed (unknown name, bad fraction, missing root...)."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The files a dataset needs are not where the description says."""


class CorruptDatasetError(DatasetError):
    """A dataset file exists but cannot be read: truncated, wrong format or wrong contents."""


class UnsafePickleError(CorruptDatasetError):
    """A pickle asks for an object outside the small set that CIFAR files legitimately use.

    Raised instead of running it: loading a pickle can execute arbitrary code, so a file that
    names, say, `os.system` is refused outright.
    """
