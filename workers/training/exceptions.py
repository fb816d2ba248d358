"""Errors raised by the trainers; all derive from `TrainingError`."""

from __future__ import annotations


class TrainingError(Exception):
    """Base class of every error the training package raises on purpose."""


class TrainOptionsError(TrainingError, ValueError):
    """Training options are out of range or malformed; the message names the field."""


class TrainingStopped(TrainingError):  # noqa: N818 (the name the daemon's API uses)
    """The caller's stop flag was raised; training ended at a step boundary with no results.

    Nothing partial is returned: a batch is either trained and evaluated completely or not at
    all, so a daemon that catches this releases its lease and reports nothing.
    """
