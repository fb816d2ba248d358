"""Errors of the analytic cost model."""

from __future__ import annotations

from surrogate.exceptions import SurrogateError


class CostModelError(SurrogateError, ValueError):
    """The cost model cannot price an architecture: an unknown op, or a space it has no
    network for. The message names what was asked and what is accepted."""
