"""The dashboard: its page and assets at ``/``, and its aggregated reads under
``/api/v1/dashboard``.

The page (``index.html``, ES modules, one stylesheet) ships inside the package and is served as
is: no build step, no CDN, nothing fetched from elsewhere at run time. Its data comes from the
resource routers (``/api/v1/events`` for polling, ``/api/v1/searches/...``) and from the
endpoints below, which give what those do not: whole charts computed on the server (best so far
with thinned points, the random-search baseline, predictions against measurements, the Pareto
front), laid-out cells, batches in flight with their workers, and plain explanations of why a
search is not moving. Every endpoint needs a user (or admin) token and shows a user only their
own searches.

Build the router with `dashboard_router()` and mount it in the app factory; its caches live in
the router, so two apps never share them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from protocol import API_PREFIX
from service.api.params import SearchId
from service.auth import EngineDep, SettingsDep, UserDep
from service.dashboard import data
from service.dashboard.baseline import TableValuesCache
from service.dashboard.meta import meta_out
from service.dashboard.results import FitCache, ResultsCache
from service.dashboard.schemas import (
    BaselineOut,
    BatchesOut,
    MetaOut,
    SeriesOut,
    SummaryOut,
    SurrogateOut,
    TopOut,
    TradeoffOut,
)
from service.errors import NOT_FOUND, ApiError
from service.store import session_scope, utcnow
from service.usecases.summary import spec_of, visible_search

ASSETS = {
    "app.js": "text/javascript",
    "api.js": "text/javascript",
    "charts.js": "text/javascript",
    "chart-axes.js": "text/javascript",
    "chart-layers.js": "text/javascript",
    "chart-legend.js": "text/javascript",
    "chart-scale.js": "text/javascript",
    "chart-tooltip.js": "text/javascript",
    "dag.js": "text/javascript",
    "format.js": "text/javascript",
    "store.js": "text/javascript",
    "poller.js": "text/javascript",
    "session.js": "text/javascript",
    "panel-summary.js": "text/javascript",
    "panel-progress.js": "text/javascript",
    "panel-batches.js": "text/javascript",
    "panel-surrogate.js": "text/javascript",
    "panel-tradeoff.js": "text/javascript",
    "panel-pareto.js": "text/javascript",
    "panel-top.js": "text/javascript",
    "style.css": "text/css",
    "favicon.svg": "image/svg+xml",
}
"""Files of the page, served from ``/dashboard/<name>``."""

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
"""The page runs only its own scripts and talks only to its own origin."""

MAX_POINTS = 2000
"""Default and largest point count of a chart."""
BASELINE_POINTS = 400

Points = Annotated[int, Query(ge=10, le=MAX_POINTS, description="Most points returned.")]


def dashboard_router(data_roots: Sequence[Path] = ()) -> APIRouter:
    """The dashboard's page, assets and read endpoints.

    Args:
        data_roots: The only directories the random-search baseline reads benchmark tables
            under (`Settings.data_roots`; none: it reads no file).
    """
    router = APIRouter()
    results = ResultsCache()
    fits = FitCache()
    tables = TableValuesCache(data_roots)
    _add_page(router)
    api = APIRouter(prefix=f"{API_PREFIX}/dashboard", tags=["dashboard"])

    @api.get("/meta", summary="Event kinds and panels, for the dashboard")
    def meta(principal: UserDep) -> MetaOut:
        """Every event kind with a label and the panels of a search it makes stale; the page
        reads this once when it signs in."""
        return meta_out()

    @api.get("/summary", summary="Searches, workers and notices for the dashboard")
    def summary(
        principal: UserDep,
        engine: EngineDep,
        settings: SettingsDep,
        limit: Annotated[int, Query(ge=1, le=200, description="Most searches listed.")] = 50,
    ) -> SummaryOut:
        """The caller's searches (newest first) with progress, best so far and notices; the
        workers with stale flags and current batches; and the event cursor to poll from."""
        with session_scope(engine, read_only=True) as session:
            return data.summary_out(session, principal, settings.stale_seconds, utcnow(), limit)

    @api.get("/searches/{search_id}/series", summary="Best so far against evaluations")
    def series(
        search_id: SearchId, principal: UserDep, engine: EngineDep, max_points: Points = MAX_POINTS
    ) -> SeriesOut:
        """The best-so-far curve (exact steps) and the evaluation points, thinned past
        ``max_points`` keeping every new best and the extremes of each stretch of the run."""
        with session_scope(engine, read_only=True) as session:
            search = visible_search(session, principal, search_id)
            spec = spec_of(search)
            found = results.get(session, search, spec)
        return data.series_out(search, spec, found, max_points)

    @api.get("/searches/{search_id}/baseline", summary="Random-search expectation")
    def baseline(
        search_id: SearchId,
        principal: UserDep,
        engine: EngineDep,
        up_to: Annotated[
            int | None, Query(ge=1, le=10_000_000, description="Largest evaluation count.")
        ] = None,
        max_points: Annotated[int, Query(ge=10, le=MAX_POINTS)] = BASELINE_POINTS,
    ) -> BaselineOut:
        """The exact expected best so far of uniform random sampling without replacement from
        the search's benchmark table (table-evaluator searches without constraints), up to
        ``up_to`` evaluations (default: the budget, or the table's size)."""
        with session_scope(engine, read_only=True) as session:
            search = visible_search(session, principal, search_id)
        spec = spec_of(search)
        limit = up_to or search.budget_evaluations or 10_000_000
        return data.baseline_out(search, spec, tables, limit, max_points)

    @api.get("/searches/{search_id}/surrogate", summary="Predicted against measured")
    def surrogate(
        search_id: SearchId, principal: UserDep, engine: EngineDep, max_points: Points = MAX_POINTS
    ) -> SurrogateOut:
        """Every surrogate version with Kendall's tau between its predictions and the
        measurements of what it proposed, and the (thinned) predicted-measured pairs."""
        with session_scope(engine, read_only=True) as session:
            search = visible_search(session, principal, search_id)
            spec = spec_of(search)
            found = results.get(session, search, spec)
            return data.surrogate_out(session, search, spec, found, fits, max_points)

    @api.get("/searches/{search_id}/tradeoff", summary="Objective against params or FLOPs")
    def tradeoff(
        search_id: SearchId,
        principal: UserDep,
        engine: EngineDep,
        metric: Annotated[
            str | None, Query(max_length=200, description="Cost metric (default: the first).")
        ] = None,
        max_points: Points = MAX_POINTS,
    ) -> TradeoffOut:
        """The objective against a cost metric the results carry (params, FLOPs...), with the
        Pareto front of the feasible results; empty when no result carries a cost."""
        with session_scope(engine, read_only=True) as session:
            search = visible_search(session, principal, search_id)
            spec = spec_of(search)
            found = results.get(session, search, spec)
        return data.tradeoff_out(search, spec, found, metric, max_points)

    @api.get("/searches/{search_id}/pareto", summary="Pareto front and hypervolume, drawn")
    def pareto(search_id: SearchId, principal: UserDep, engine: EngineDep) -> data.ParetoPanelOut:
        """The search's Pareto set, every measured point and the hypervolume after each result
        (``/api/v1/searches/{id}/pareto``), with hints for the objectives' axes."""
        with session_scope(engine, read_only=True) as session:
            search = visible_search(session, principal, search_id)
            return data.pareto_panel_out(session, principal, search_id, spec_of(search))

    @api.get("/searches/{search_id}/top", summary="The best architectures, drawn")
    def top(
        search_id: SearchId,
        principal: UserDep,
        engine: EngineDep,
        limit: Annotated[int, Query(ge=1, le=50, description="How many.")] = 6,
    ) -> TopOut:
        """The best feasible architectures, best first, each with its cells laid out as DAGs."""
        with session_scope(engine, read_only=True) as session:
            search = visible_search(session, principal, search_id)
            return data.top_out(session, search, spec_of(search), limit)

    @api.get("/searches/{search_id}/batches", summary="Batches in flight")
    def batches(search_id: SearchId, principal: UserDep, engine: EngineDep) -> BatchesOut:
        """Leased and queued batches with their workers, lease clocks and progress."""
        with session_scope(engine, read_only=True) as session:
            search = visible_search(session, principal, search_id)
            return data.batches_out(session, search, utcnow())

    router.include_router(api)
    return router


def _add_page(router: APIRouter) -> None:
    @router.get("/", include_in_schema=False)
    def index(request: Request) -> Response:
        return _asset_response(request, "index.html", "text/html; charset=utf-8")

    @router.get("/dashboard/{name}", include_in_schema=False)
    def asset(name: str, request: Request) -> Response:
        media_type = ASSETS.get(name)
        if media_type is None:
            raise ApiError(404, NOT_FOUND, f"no dashboard file {name!r}")
        return _asset_response(request, name, media_type)


def _asset_response(request: Request, name: str, media_type: str) -> Response:
    body, etag = _asset(name)
    headers = {"ETag": etag, "Cache-Control": "no-cache", **SECURITY_HEADERS}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


@lru_cache(maxsize=len(ASSETS) + 1)
def _asset(name: str) -> tuple[bytes, str]:
    """A packaged file and its ETag (read once per process)."""
    body = resources.files("service.dashboard").joinpath(name).read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
