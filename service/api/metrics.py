"""Prometheus metrics at ``/metrics``: request counters and a snapshot of the store.

The text exposition format is simple enough to write by hand, which spares a dependency. Request
counts and latencies are counted by `RequestMetrics` (per process; with several API processes,
Prometheus sums them). Searches, batches, evaluations and workers are read from the store at each
scrape, so every API process reports the same figures for them.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.deps import ClockDep, ReadSessionDep
from service.auth import AdminDep, SettingsDep
from service.usecases.metrics import StoreGauges, store_gauges

router = APIRouter(tags=["metrics"])

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_ERROR_JSON = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}


class RequestStats:
    """Thread-safe counters of requests by (method, route, status) and their durations."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[tuple[str, str, str], int] = defaultdict(int)
        self.seconds: dict[tuple[str, str], float] = defaultdict(float)
        self.timed: dict[tuple[str, str], int] = defaultdict(int)

    def record(self, method: str, handler: str, status: int, seconds: float) -> None:
        with self._lock:
            self.counts[(method, handler, str(status))] += 1
            self.seconds[(method, handler)] += seconds
            self.timed[(method, handler)] += 1

    def lines(self) -> list[str]:
        with self._lock:
            counts = sorted(self.counts.items())
            seconds = sorted(self.seconds.items())
            timed = dict(self.timed)
        out = [
            "# HELP bonas_http_requests_total HTTP requests answered, by handler and status.",
            "# TYPE bonas_http_requests_total counter",
        ]
        out += [
            _sample("bonas_http_requests_total", {"method": m, "handler": r, "status": s}, n)
            for (m, r, s), n in counts
        ]
        out += [
            "# HELP bonas_http_request_duration_seconds Time spent answering, by handler.",
            "# TYPE bonas_http_request_duration_seconds summary",
        ]
        for (m, r), total in seconds:
            labels = {"method": m, "handler": r}
            out.append(_sample("bonas_http_request_duration_seconds_sum", labels, total))
            out.append(_sample("bonas_http_request_duration_seconds_count", labels, timed[(m, r)]))
        return out


class RequestMetrics:
    """ASGI middleware that counts every HTTP request into a `RequestStats`.

    Requests are labelled by the name of the path operation that answered (``get_search``), not
    the raw path, so the number of series stays bounded; unmatched paths share ``unmatched``.
    """

    def __init__(self, app: ASGIApp, stats: RequestStats) -> None:
        self.app = app
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            endpoint: Any = scope.get("endpoint")
            label = getattr(endpoint, "__name__", None) or "unmatched"
            self.stats.record(scope["method"], label, status, time.perf_counter() - started)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}},
        401: {"description": "Missing, unknown or revoked token.", "content": _ERROR_JSON},
        403: {"description": "Not an admin token.", "content": _ERROR_JSON},
        503: {"description": "The database is busy; retry after a pause.", "content": _ERROR_JSON},
    },
)
def metrics(
    request: Request,
    principal: AdminDep,
    session: ReadSessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> PlainTextResponse:
    """Request counters of this process, and searches, batches, evaluations and workers (admin
    tokens only: the figures cover every user's searches)."""
    gauges = store_gauges(session, clock(), stale_seconds=settings.stale_seconds)
    lines = list(_store_lines(gauges))
    stats: RequestStats | None = getattr(request.app.state, "request_stats", None)
    if stats is not None:
        lines += stats.lines()
    return PlainTextResponse("\n".join(lines) + "\n", media_type=CONTENT_TYPE)


def _store_lines(gauges: StoreGauges) -> Iterable[str]:
    yield "# HELP bonas_searches Searches by state."
    yield "# TYPE bonas_searches gauge"
    for search_state, n in gauges.searches.items():
        yield _sample("bonas_searches", {"state": search_state.value}, n)
    yield "# HELP bonas_batches Batches by state."
    yield "# TYPE bonas_batches gauge"
    for batch_state, n in gauges.batches.items():
        yield _sample("bonas_batches", {"state": batch_state.value}, n)
    yield "# HELP bonas_evaluations Stored evaluation results."
    yield "# TYPE bonas_evaluations gauge"
    yield _sample("bonas_evaluations", {}, gauges.evaluations)
    yield "# HELP bonas_workers Registered workers, by whether they are stale."
    yield "# TYPE bonas_workers gauge"
    for stale, n in gauges.workers.items():
        yield _sample("bonas_workers", {"stale": "true" if stale else "false"}, n)


def _sample(name: str, labels: dict[str, str], value: float) -> str:
    if not labels:
        return f"{name} {_number(value)}"
    text = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
    return f"{name}{{{text}}} {_number(value)}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
