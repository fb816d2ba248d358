"""The answers of the dashboard's endpoints, built from the store.

The charts of a search (series, surrogate, trade-off) are built from its `SearchResults`, which
`service.dashboard.results` keeps and catches up incrementally; the summary, the top
architectures and the batches in flight are read directly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeGuard

import numpy as np
from sqlalchemy.orm import Session

from service.auth import Principal
from service.dashboard import diagnostics
from service.dashboard.baseline import (
    TableUnavailableError,
    TableValuesCache,
    draw_counts,
)
from service.dashboard.cells import CellGraph, cell_graphs
from service.dashboard.hints import MetricHint, cost_order, metric_hints
from service.dashboard.results import FitCache, SearchResults
from service.dashboard.scatter import pareto_front, thin_scatter
from service.dashboard.schemas import (
    BaselineOut,
    BatchesOut,
    BatchRowOut,
    CellGraphOut,
    GraphEdgeOut,
    GraphNodeOut,
    Hints,
    MetricHintOut,
    NoticeOut,
    PointsOut,
    PredictionPointsOut,
    ProgressOut,
    SearchRowOut,
    SeriesOut,
    StepsOut,
    SummaryOut,
    SurrogateOut,
    SurrogateVersionOut,
    TopArchitectureOut,
    TopOut,
    TradeoffOut,
    TradeoffPointsOut,
    WorkerRowOut,
)
from service.dashboard.series import Result, best_steps, thin_indices
from service.schemas.common import ApiModel
from service.schemas.pareto import ParetoOut
from service.search_spec import SearchSpec, batch_fidelity
from service.store import (
    ArchitectureRepository,
    ArchitectureSort,
    BatchRecord,
    BatchRepository,
    BatchState,
    EventRepository,
    SearchRecord,
    SearchRepository,
    SearchState,
    WorkerRecord,
    WorkerRepository,
)
from service.usecases.pareto import read_pareto
from service.usecases.summary import (
    batch_visible,
    best_view,
    budget_out,
    counts_out,
    feasible,
    spec_of,
)
from surrogate.ranking import RankAgreement, tau_by_version

TOP_SCAN = 200
"""Architectures read, best first, while looking for the feasible top ones."""
WORKER_LIST_LIMIT = 200
"""Most workers listed (most recently seen first)."""


# --- the summary ------------------------------------------------------------------------------


def summary_out(
    session: Session, principal: Principal, stale_seconds: float, now: datetime, limit: int
) -> SummaryOut:
    """Searches (the caller's, or all for an admin), workers, notices and the event cursor.

    Every worker is listed, but the batch it holds (id, search and progress) only when the
    caller may see that batch's search: a user sees their own batches, an admin all.
    """
    cursor = EventRepository(session).last_id()  # first: nothing below it can be missed
    owner = None if principal.is_admin else principal.owner
    page = SearchRepository(session).list(owner=owner, limit=limit)
    workers_page = WorkerRepository(session).list(limit=WORKER_LIST_LIMIT)
    batches = BatchRepository(session)
    held: dict[int | None, BatchRecord] = {}
    for w in workers_page.items:
        if w.current_batch_id is not None:
            batch = batches.get(w.current_batch_id)
            if batch_visible(session, principal, batch):
                held[w.current_batch_id] = batch
    workers = [_worker_row(w, held, now, stale_seconds) for w in workers_page.items]
    facts = [_worker_facts(w, row) for w, row in zip(workers_page.items, workers, strict=True)]
    names = {w.id: w.name for w in workers_page.items}
    searches = [
        _search_row(session, search, facts, names, stale_seconds, now) for search in page.items
    ]
    return SummaryOut(
        now=now,
        cursor=cursor,
        stale_seconds=stale_seconds,
        searches=searches,
        total_searches=page.total,
        workers=workers,
        total_workers=workers_page.total,
        notices=[_notice(n) for n in diagnostics.worker_notices(facts, stale_seconds)],
    )


def _search_row(
    session: Session,
    search: SearchRecord,
    workers: Sequence[diagnostics.WorkerFacts],
    worker_names: dict[int, str],
    stale_seconds: float,
    now: datetime,
) -> SearchRowOut:
    spec = spec_of(search)
    counts = counts_out(session, search.id)
    best = best_view(session, spec, search.id)
    budget = budget_out(search, counts.done, now)
    leases: tuple[diagnostics.LeaseFacts, ...] = ()
    if search.state == SearchState.RUNNING and counts.batches.get(BatchState.LEASED):
        leased = BatchRepository(session).list(search.id, states=[BatchState.LEASED])
        leases = tuple(_lease_facts(b, worker_names) for b in leased)
    facts = diagnostics.SearchFacts(
        state=search.state.value,
        finished_reason=search.finished_reason,
        created_at=search.created_at,
        evaluator=spec.evaluator.kind,
        done=counts.done,
        budget_evaluations=search.budget_evaluations,
        queued_batches=counts.batches.get(BatchState.QUEUED, 0),
        leases=leases,
    )
    notices = diagnostics.search_notices(facts, workers, stale_seconds, now)
    return SearchRowOut(
        id=search.id,
        name=search.name,
        owner=search.owner,
        state=search.state.value,
        objective=spec.objective.metric,
        maximize=spec.objective.maximize,
        space=str(search.space_spec.get("type", "?")),
        evaluator=spec.evaluator.kind,
        batch_size=spec.batch_size,
        done=counts.done,
        in_flight=counts.in_flight,
        queued=counts.queued,
        failed=counts.failed,
        budget_evaluations=search.budget_evaluations,
        budget_wall_seconds=search.budget_wall_seconds,
        fraction_used=budget.fraction_used,
        best=None if best is None else best.objective(batch_fidelity(spec)),
        best_architecture_id=None if best is None else best.architecture.id,
        created_at=search.created_at,
        started_at=search.started_at,
        finished_at=search.finished_at,
        finished_reason=search.finished_reason,
        notices=[_notice(n) for n in notices],
        hints=hints_out(spec),
    )


def _lease_facts(batch: BatchRecord, worker_names: dict[int, str]) -> diagnostics.LeaseFacts:
    worker = batch.lease_worker_id
    return diagnostics.LeaseFacts(
        batch_id=batch.id,
        worker_name=None if worker is None else worker_names.get(worker, f"worker {worker}"),
        expires_at=batch.lease_expires_at,
        attempts=batch.attempts,
        max_attempts=batch.max_attempts,
    )


def _worker_row(
    worker: WorkerRecord,
    held: dict[int | None, BatchRecord],
    now: datetime,
    stale_seconds: float,
) -> WorkerRowOut:
    seen = max(0.0, (now - worker.last_seen_at).total_seconds())
    batch = held.get(worker.current_batch_id)
    capabilities = worker.capabilities
    return WorkerRowOut(
        id=worker.id,
        name=worker.name,
        device=_text(capabilities.get("device")),
        device_name=_text(capabilities.get("device_name")),
        hostname=_text(capabilities.get("hostname")),
        last_seen_at=worker.last_seen_at,
        seen_seconds_ago=seen,
        stale=seen > stale_seconds,
        current_batch_id=None if batch is None else batch.id,
        current_search_id=None if batch is None else batch.search_id,
        progress=None if batch is None else progress_out(batch.progress),
    )


def _worker_facts(worker: WorkerRecord, row: WorkerRowOut) -> diagnostics.WorkerFacts:
    evaluators = worker.capabilities.get("evaluators")
    return diagnostics.WorkerFacts(
        id=worker.id,
        name=worker.name,
        stale=row.stale,
        seen_seconds_ago=row.seen_seconds_ago,
        busy=worker.current_batch_id is not None,
        evaluators=tuple(str(e) for e in evaluators) if isinstance(evaluators, list) else None,
    )


def _notice(notice: diagnostics.Notice) -> NoticeOut:
    return NoticeOut(level=notice.level, code=notice.code, title=notice.title, detail=notice.detail)


def hints_out(spec: SearchSpec, names: Sequence[str] = ()) -> Hints:
    """How to show the search's objective, its constrained metrics and `names`."""
    return {name: _hint_out(hint) for name, hint in metric_hints(spec, names).items()}


def _hint_out(hint: MetricHint) -> MetricHintOut:
    return MetricHintOut(
        name=hint.name,
        label=hint.label,
        short=hint.short,
        direction=hint.direction,
        unit=hint.unit,
        cost=hint.cost,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def progress_out(progress: dict[str, Any]) -> ProgressOut:
    """A batch's reported progress, with the fraction done when the worker said enough."""
    fraction = None
    done, total = progress.get("step"), progress.get("total_steps")
    if _number(done) and _number(total) and total > 0:
        fraction = min(1.0, max(0.0, float(done) / float(total)))
    phase = progress.get("phase")
    return ProgressOut(phase=_text(phase), fraction=fraction, raw=dict(progress))


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --- per-search charts ------------------------------------------------------------------------


def series_out(search: SearchRecord, spec: SearchSpec, data: SearchResults, cap: int) -> SeriesOut:
    """Best so far against evaluations, with the evaluation points thinned to `cap`."""
    results = data.results
    steps = best_steps(results, maximize=spec.objective.maximize)
    kept = thin_indices(results, steps, cap)
    values = [r.objective for r in results if r.objective is not None]
    drawable = len(values)
    quartiles = [float(q) for q in np.quantile(values, [0.25, 0.5, 0.75])] if values else []
    return SeriesOut(
        search_id=search.id,
        objective=spec.objective.metric,
        maximize=spec.objective.maximize,
        evaluations=len(results),
        drawable=drawable,
        thinned=len(kept) < drawable,
        budget_evaluations=search.budget_evaluations,
        quartiles=quartiles,
        points=PointsOut(
            index=[i + 1 for i in kept],
            value=[_objective(results[i]) for i in kept],
            architecture_id=[results[i].architecture_id for i in kept],
            feasible=[results[i].feasible for i in kept],
            source=[results[i].source for i in kept],
        ),
        steps=StepsOut(
            index=[s.index for s in steps],
            value=[s.value for s in steps],
            architecture_id=[s.architecture_id for s in steps],
        ),
        hints=hints_out(spec),
    )


def _objective(result: Result) -> float:
    assert result.objective is not None
    return result.objective


def baseline_out(
    search: SearchRecord, spec: SearchSpec, tables: TableValuesCache, up_to: int, cap: int
) -> BaselineOut:
    """The exact random-search expectation over the search's table, up to `up_to` draws."""
    try:
        table = tables.values(spec)
    except TableUnavailableError as error:
        return BaselineOut(
            search_id=search.id,
            available=False,
            reason=str(error),
            table_path=None,
            table_size=None,
            table_best=None,
            counts=[],
            expected=[],
        )
    values = table.values
    counts = draw_counts(min(up_to, len(values)), cap)
    maximize = spec.objective.maximize
    return BaselineOut(
        search_id=search.id,
        available=True,
        reason=None,
        table_path=table.path,
        table_size=len(values),
        table_best=max(values) if maximize else min(values),
        counts=counts,
        expected=tables.expected_best(table, counts, maximize=maximize),
    )


def surrogate_out(
    session: Session,
    search: SearchRecord,
    spec: SearchSpec,
    data: SearchResults,
    fits: FitCache,
    cap: int,
) -> SurrogateOut:
    """Predicted against measured for every surrogate version, with Kendall's tau."""
    rows: list[tuple[int, float, float | None, float, int]] = []
    for result, prediction in zip(data.results, data.predictions, strict=True):
        if prediction is None or result.objective is None:
            continue
        version, mean, std = prediction
        rows.append((version, mean, std, result.objective, result.architecture_id))
    agreement = tau_by_version((r[0], r[1], r[3]) for r in rows)
    fitted = fits.get(session, search)
    versions = []
    for version in sorted(set(fitted) | set(agreement.by_version)):
        ranked = agreement.by_version.get(version, RankAgreement(tau=None, n=0))
        fit = fitted.get(version)
        versions.append(
            SurrogateVersionOut(
                version=version,
                n_observations=fit.n_observations if fit else 0,
                created_at=fit.created_at if fit else None,
                tau=ranked.tau,
                n=ranked.n,
                fit_seconds=fit.seconds if fit else None,
                final_loss=fit.final_loss if fit else None,
            )
        )
    # Newest versions first, so that thinning keeps their points where they overlap older ones.
    rows.sort(key=lambda row: -row[0])
    kept = thin_scatter([r[1] for r in rows], [r[3] for r in rows], cap) if rows else ()
    chosen = [rows[i] for i in sorted(kept, key=lambda i: (rows[i][0], i))]
    return SurrogateOut(
        search_id=search.id,
        objective=spec.objective.metric,
        versions=versions,
        tau=agreement.pooled.tau,
        n=agreement.pooled.n,
        thinned=len(chosen) < len(rows),
        points=PredictionPointsOut(
            version=[r[0] for r in chosen],
            predicted=[r[1] for r in chosen],
            std=[r[2] for r in chosen],
            measured=[r[3] for r in chosen],
            architecture_id=[r[4] for r in chosen],
        ),
        hints=hints_out(spec),
    )


def _float(value: object) -> float | None:
    return float(value) if _number(value) else None


def cost_metrics(data: SearchResults) -> list[str]:
    """Numeric metrics the hints call costs (params, FLOPs...), params first."""
    found: set[str] = set()
    for metrics in data.metrics:
        found.update(name for name, value in metrics.items() if _number(value))
    return cost_order(found)


def tradeoff_out(
    search: SearchRecord, spec: SearchSpec, data: SearchResults, metric: str | None, cap: int
) -> TradeoffOut:
    """The objective against a cost metric, with the Pareto front, thinned to `cap`."""
    metrics = cost_metrics(data)
    chosen = metric if metric in metrics else (metrics[0] if metrics else None)
    rows: list[tuple[float, float, int, bool]] = []
    if chosen is not None:
        for result, values in zip(data.results, data.metrics, strict=True):
            cost = values.get(chosen)
            if result.objective is not None and _number(cost):
                rows.append(
                    (float(cost), result.objective, result.architecture_id, result.feasible)
                )
    maximize = spec.objective.maximize
    feasible_rows = [i for i, r in enumerate(rows) if r[3]]
    front_of_feasible = pareto_front(
        [rows[i][0] for i in feasible_rows], [rows[i][1] for i in feasible_rows], maximize=maximize
    )
    front = [feasible_rows[i] for i in front_of_feasible]
    kept = thin_scatter([r[0] for r in rows], [r[1] for r in rows], cap, keep=front) if rows else ()
    return TradeoffOut(
        search_id=search.id,
        objective=spec.objective.metric,
        maximize=maximize,
        metrics=metrics,
        cost_metric=chosen,
        n=len(rows),
        thinned=len(kept) < len(rows),
        points=_tradeoff_points([rows[i] for i in kept]),
        front=_tradeoff_points([rows[i] for i in front]),
        hints=hints_out(spec, metrics),
    )


def _tradeoff_points(rows: Sequence[tuple[float, float, int, bool]]) -> TradeoffPointsOut:
    return TradeoffPointsOut(
        cost=[r[0] for r in rows],
        value=[r[1] for r in rows],
        architecture_id=[r[2] for r in rows],
        feasible=[r[3] for r in rows],
    )


class ParetoPanelOut(ApiModel):
    """The Pareto panel: the search's Pareto answer and how to show each objective.

    Attributes:
        pareto: What ``/api/v1/searches/{id}/pareto`` answers (`service.usecases.pareto`).
        hints: How to show each objective, by metric name (axis titles and units).
    """

    pareto: ParetoOut
    hints: Hints


def pareto_panel_out(
    session: Session, principal: Principal, search_id: int, spec: SearchSpec
) -> ParetoPanelOut:
    """The Pareto set, points and hypervolume curve of a search, with the objectives' hints
    (each objective's better direction is its goal, whatever its name suggests)."""
    hints = hints_out(spec, [o.metric for o in spec.all_objectives])
    for objective in spec.all_objectives:
        direction = "higher" if objective.maximize else "lower"
        hints[objective.metric] = hints[objective.metric].model_copy(
            update={"direction": direction}
        )
    return ParetoPanelOut(pareto=read_pareto(session, principal, search_id), hints=hints)


def top_out(session: Session, search: SearchRecord, spec: SearchSpec, limit: int) -> TopOut:
    """The best `limit` feasible architectures, best first, each with its cells laid out."""
    fidelity = batch_fidelity(spec)
    page = ArchitectureRepository(session).list(
        search.id,
        sort=ArchitectureSort.OBJECTIVE,
        descending=spec.objective.maximize,
        evaluated=True,
        fidelity=fidelity,
        limit=TOP_SCAN if spec.constraints else limit,
    )
    items: list[TopArchitectureOut] = []
    for view in page.items:
        ok = feasible(spec, view)
        if view.objective(fidelity) is None or (spec.constraints and not ok):
            continue
        architecture = view.architecture
        proposal = architecture.proposal
        results = [e for e in view.evaluations if e.fidelity == fidelity]
        items.append(
            TopArchitectureOut(
                rank=len(items) + 1,
                id=architecture.id,
                key=architecture.key,
                arch=architecture.arch,
                objective=view.objective(fidelity),
                feasible=ok,
                metrics=results[-1].metrics if results else {},
                predicted_mean=proposal.predicted_mean,
                predicted_std=proposal.predicted_std,
                surrogate_version=proposal.surrogate_version,
                source=proposal.source,
                graphs=[graph_out(g) for g in cell_graphs(search.space_spec, architecture.arch)],
            )
        )
        if len(items) == limit:
            break
    return TopOut(
        search_id=search.id,
        objective=spec.objective.metric,
        maximize=spec.objective.maximize,
        space=search.space_spec,
        items=items,
        hints=hints_out(spec, sorted({name for item in items for name in item.metrics})),
    )


def graph_out(graph: CellGraph) -> CellGraphOut:
    """The API form of a laid-out cell."""
    return CellGraphOut(
        name=graph.name,
        ops_on=graph.ops_on,
        layers=graph.layers,
        span=graph.span,
        nodes=[
            GraphNodeOut(id=n.id, label=n.label, title=n.title, kind=n.kind, x=n.x, y=n.y)
            for n in graph.nodes
        ],
        edges=[
            GraphEdgeOut(
                source=e.source,
                target=e.target,
                op=e.op,
                label=e.label,
                kind=e.kind,
                points=list(e.points),
                label_at=e.label_at,
            )
            for e in graph.edges
        ],
    )


def batches_out(session: Session, search: SearchRecord, now: datetime) -> BatchesOut:
    """The search's batches in flight, leased first, with worker names and progress."""
    batches = BatchRepository(session)
    in_flight = batches.list(search.id, states=[BatchState.LEASED, BatchState.QUEUED])
    workers = WorkerRepository(session)
    names: dict[int, str] = {}
    for batch in in_flight:
        worker = batch.lease_worker_id
        if worker is not None and worker not in names:
            names[worker] = workers.get(worker).name
    ordered = sorted(in_flight, key=lambda b: (b.state != BatchState.LEASED, b.id))
    counts = SearchRepository(session).counts(search.id).batches
    return BatchesOut(
        search_id=search.id,
        now=now,
        items=[_batch_row(b, names, now) for b in ordered],
        counts={state.value: counts.get(state, 0) for state in BatchState},
    )


def _batch_row(batch: BatchRecord, names: dict[int, str], now: datetime) -> BatchRowOut:
    leased = batch.state == BatchState.LEASED
    worker = batch.lease_worker_id if leased else None
    expires = batch.lease_expires_at if leased else None
    heartbeat = batch.heartbeat_at if leased else None
    return BatchRowOut(
        id=batch.id,
        state=batch.state.value,
        size=len(batch.member_ids),
        attempts=batch.attempts,
        max_attempts=batch.max_attempts,
        worker_id=worker,
        worker_name=None if worker is None else names.get(worker),
        expires_in=None if expires is None else (expires - now).total_seconds(),
        heartbeat_seconds_ago=None
        if heartbeat is None
        else max(0.0, (now - heartbeat).total_seconds()),
        progress=progress_out(batch.progress if leased else {}),
        created_at=batch.created_at,
        failure_reason=batch.failure_reason,
    )
