"""Response models of the dashboard's read endpoints (``/api/v1/dashboard/...``).

Long series travel as columns (one list per field) rather than as lists of objects: a 2,000-point
chart is then a few kilobytes of numbers instead of 2,000 repeated key names.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from service.schemas.common import ApiModel


class MetricHintOut(ApiModel):
    """How the page shows a metric: see `service.dashboard.hints.MetricHint`."""

    name: str
    label: str
    short: str
    direction: Literal["higher", "lower"] | None
    unit: Literal["percent", "fraction", "millions", "count", "seconds", "number"]
    cost: bool


Hints = dict[str, MetricHintOut]
"""Metric name -> how to show it."""


class EventKindOut(ApiModel):
    """One kind of event of the log, as the page treats it.

    Attributes:
        kind: As events carry it (``batch.reported``).
        label: For people.
        refreshes: The panel endpoints of a search (``series``, ``batches``...) whose data an
            event of this kind about that search makes stale.
    """

    kind: str
    label: str
    refreshes: list[str]


class MetaOut(ApiModel):
    """What the page reads once, at sign-in.

    Attributes:
        event_kinds: Every kind the event log holds.
    """

    event_kinds: list[EventKindOut]


class NoticeOut(ApiModel):
    """A plain explanation of what is (not) happening: see `service.dashboard.diagnostics`."""

    level: Literal["info", "warning", "error"]
    code: str
    title: str
    detail: str


class ProgressOut(ApiModel):
    """A batch's progress as the worker last reported it.

    Attributes:
        phase: What the worker is doing (``train``, ``lookup``...), if it said.
        fraction: Steps (or epochs) done over those planned, when both are known.
        raw: The progress as reported.
    """

    phase: str | None
    fraction: float | None = Field(ge=0, le=1)
    raw: dict[str, Any]


class WorkerRowOut(ApiModel):
    """A worker as the dashboard lists it.

    Attributes:
        device: The torch device it trains on (``cpu``, ``cuda:0``).
        device_name: The accelerator's name, if any.
        seen_seconds_ago: Seconds since its last request.
        stale: Silent for longer than the stale threshold.
        current_batch_id: The batch it holds, if any.
        current_search_id: That batch's search.
        progress: That batch's progress.
    """

    id: int
    name: str
    device: str | None
    device_name: str | None
    hostname: str | None
    last_seen_at: datetime
    seen_seconds_ago: float = Field(ge=0)
    stale: bool
    current_batch_id: int | None
    current_search_id: int | None
    progress: ProgressOut | None


class SearchRowOut(ApiModel):
    """A search as the list shows it: state, progress, best so far, and what holds it up.

    Attributes:
        space: The space's type (``nb201``, ``cell``...).
        evaluator: The evaluator kind (``table``, ``weight_sharing``, ``standalone``).
        done: Stored results.
        in_flight: Architectures in leased batches.
        queued: Architectures in queued batches.
        failed: Architectures in failed batches.
        budget_evaluations: The evaluation budget, if any.
        fraction_used: The larger used fraction of the budget's limits.
        best: The best feasible objective so far.
        notices: Why the search is or is not moving.
        hints: How to show the objective and every other metric named here, by name.
    """

    id: int
    name: str
    owner: str
    state: str
    objective: str
    maximize: bool
    space: str
    evaluator: str
    batch_size: int
    done: int
    in_flight: int
    queued: int
    failed: int
    budget_evaluations: int | None
    budget_wall_seconds: float | None
    fraction_used: float
    best: float | None
    best_architecture_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    finished_reason: str | None
    notices: list[NoticeOut]
    hints: Hints


class SummaryOut(ApiModel):
    """Everything the page's top level shows, in one answer.

    Attributes:
        now: The server's clock (the page shows times relative to it).
        cursor: The newest event id: the page polls ``/api/v1/events?after=<cursor>`` from here.
        stale_seconds: After how long a silent worker is flagged stale.
        searches: The caller's searches (all, for an admin), newest first.
        total_searches: How many there are (the list may be cut).
        workers: Registered workers, most recently seen first.
        total_workers: How many there are.
        notices: Notices about the worker pool.
    """

    now: datetime
    cursor: int = Field(ge=0)
    stale_seconds: float
    searches: list[SearchRowOut]
    total_searches: int
    workers: list[WorkerRowOut]
    total_workers: int
    notices: list[NoticeOut]


class PointsOut(ApiModel):
    """Evaluation points as columns: evaluation number, objective, architecture, feasibility."""

    index: list[int]
    value: list[float]
    architecture_id: list[int]
    feasible: list[bool]
    source: list[str]


class StepsOut(ApiModel):
    """The best-so-far curve as its steps (value from ``index`` until the next step)."""

    index: list[int]
    value: list[float]
    architecture_id: list[int]


class SeriesOut(ApiModel):
    """Best so far against evaluations, and the evaluations (thinned past a cap).

    Attributes:
        evaluations: Stored results (failed members included: they used budget).
        drawable: Results with an objective.
        thinned: Whether ``points`` holds fewer than ``drawable`` points.
        budget_evaluations: The evaluation budget, if any (the x axis runs to it).
        quartiles: The 25th, 50th and 75th percentiles of every drawable result (not only the
            points sent, whose extremes are over-represented), for the page's zoom.
        hints: How to show the objective and every other metric named here, by name.
    """

    search_id: int
    objective: str
    maximize: bool
    evaluations: int
    drawable: int
    thinned: bool
    budget_evaluations: int | None
    quartiles: list[float]
    points: PointsOut
    steps: StepsOut
    hints: Hints


class BaselineOut(ApiModel):
    """The exact expected best so far of random search over the search's benchmark table.

    Attributes:
        available: Whether the curve could be computed; ``reason`` says why not.
        table_size: Architectures (distinct keys) in the table.
        table_best: The best value in the table (the ceiling of every curve).
        counts: Evaluation counts at which the curve is given.
        expected: The expected best so far after each count.
    """

    search_id: int
    available: bool
    reason: str | None
    table_path: str | None
    table_size: int | None
    table_best: float | None
    counts: list[int]
    expected: list[float]


class SurrogateVersionOut(ApiModel):
    """One surrogate version and how well its predictions ranked what it proposed.

    Attributes:
        version: The snapshot's version (1, 2, ...).
        n_observations: Results it was fitted on.
        tau: Kendall's tau-b between its predictions and the measurements of the architectures
            it proposed (None below 3 pairs or when either side is constant).
        n: Measured architectures it proposed.
        fit_seconds: How long its fit took.
        final_loss: Its last training loss.
    """

    version: int
    n_observations: int
    created_at: datetime | None
    tau: float | None
    n: int
    fit_seconds: float | None
    final_loss: float | None


class PredictionPointsOut(ApiModel):
    """Predicted against measured, as columns."""

    version: list[int]
    predicted: list[float]
    std: list[float | None]
    measured: list[float]
    architecture_id: list[int]


class SurrogateOut(ApiModel):
    """The surrogate's predictions against the measurements, per version.

    Attributes:
        versions: Every version, oldest first (also those that proposed nothing measured yet).
        tau: Kendall's tau over every measured prediction, all versions pooled.
        n: How many measured predictions there are.
        thinned: Whether ``points`` holds fewer than ``n`` points.
        hints: How to show the objective and every other metric named here, by name.
    """

    search_id: int
    objective: str
    versions: list[SurrogateVersionOut]
    tau: float | None
    n: int
    thinned: bool
    points: PredictionPointsOut
    hints: Hints


class TradeoffPointsOut(ApiModel):
    """Cost against objective, as columns."""

    cost: list[float]
    value: list[float]
    architecture_id: list[int]
    feasible: list[bool]


class TradeoffOut(ApiModel):
    """The objective against a cost metric (params, FLOPs) with the Pareto front.

    Attributes:
        metrics: Cost metrics found in the results (empty: nothing to draw).
        cost_metric: The one drawn.
        n: Results carrying both the objective and the cost.
        thinned: Whether ``points`` holds fewer than ``n`` points.
        front: The Pareto front (lower cost, better objective), by increasing cost.
        hints: How to show the objective and every other metric named here, by name.
    """

    search_id: int
    objective: str
    maximize: bool
    metrics: list[str]
    cost_metric: str | None
    n: int
    thinned: bool
    points: TradeoffPointsOut
    front: TradeoffPointsOut
    hints: Hints


class GraphNodeOut(ApiModel):
    """A placed node of a drawn cell."""

    id: int
    label: str
    title: str
    kind: str
    x: float
    y: float


class GraphEdgeOut(ApiModel):
    """A routed edge of a drawn cell (``points`` in layer units)."""

    source: int
    target: int
    op: str | None
    label: str | None
    kind: str
    points: list[tuple[float, float]]
    label_at: tuple[float, float]


class CellGraphOut(ApiModel):
    """A drawn cell: see `service.dashboard.cells.CellGraph`."""

    name: str
    ops_on: Literal["edges", "nodes"]
    layers: int
    span: float
    nodes: list[GraphNodeOut]
    edges: list[GraphEdgeOut]


class TopArchitectureOut(ApiModel):
    """One of the best architectures with its cell drawn.

    Attributes:
        rank: 1 for the best.
        metrics: Everything measured at the search's fidelity.
        predicted_mean: The surrogate's prediction when it was proposed.
        source: Who proposed it.
        graphs: Its cells, laid out (empty when the space is not drawable).
    """

    rank: int
    id: int
    key: str
    arch: Any
    objective: float | None
    feasible: bool | None
    metrics: dict[str, Any]
    predicted_mean: float | None
    predicted_std: float | None
    surrogate_version: int | None
    source: str
    graphs: list[CellGraphOut]


class TopOut(ApiModel):
    """The best architectures of a search, best first.

    Attributes:
        hints: How to show the objective and every other metric named here, by name.
    """

    search_id: int
    objective: str
    maximize: bool
    space: dict[str, Any]
    items: list[TopArchitectureOut]
    hints: Hints


class BatchRowOut(ApiModel):
    """A batch in flight with its worker and progress.

    Attributes:
        size: Architectures in the batch.
        worker_name: The worker holding it (leased batches).
        expires_in: Seconds until its lease lapses (negative once it has).
        heartbeat_seconds_ago: Seconds since the last heartbeat.
    """

    id: int
    state: str
    size: int
    attempts: int
    max_attempts: int
    worker_id: int | None
    worker_name: str | None
    expires_in: float | None
    heartbeat_seconds_ago: float | None
    progress: ProgressOut
    created_at: datetime
    failure_reason: str | None


class BatchesOut(ApiModel):
    """A search's batches in flight (leased first, then queued) and its batch counts."""

    search_id: int
    now: datetime
    items: list[BatchRowOut]
    counts: dict[str, int]
