"""The web dashboard: a static page shipped in the package, and the read endpoints it needs.

`dashboard_router()` serves the page at ``/`` and its aggregated reads under
``/api/v1/dashboard``; the app factory mounts it.
"""

from __future__ import annotations

from service.dashboard.router import dashboard_router

__all__ = ["dashboard_router"]
