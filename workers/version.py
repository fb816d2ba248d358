"""The installed bonas version, the one definition both the service and the daemon report.

The controller shows it on ``/health``; a worker sends it in its ``User-Agent`` and its
capabilities. It lives beside the wire protocol because both sides of that protocol import it.
"""

from __future__ import annotations

from importlib import metadata


def bonas_version() -> str:
    """The installed bonas version (``0+unknown`` when run from a source tree)."""
    try:
        return metadata.version("bonas")
    except metadata.PackageNotFoundError:
        return "0+unknown"
