"""What the use cases share: access checks on searches and the search summary (counts, budget,
best).

A search is visible to its owner and to admins; to anyone else it does not exist (404, not 403),
so a user cannot probe which search ids others have. Batches follow their search: a user sees
the batches of their own searches (in the workers list and the dashboard summary), a worker
token those of the owners it serves (`service.store.PoolRepository`), an admin every batch.

The routers, the dashboard and the worker use cases all read a search through these functions,
so a search means the same thing (the same counts, budget used and best) wherever it is shown.
Every function takes the caller's session and, where time matters, ``now``; none reads a clock.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from service.auth import Principal
from service.errors import NOT_FOUND, ApiError
from service.schemas import ArchitectureOut, BudgetOut, CountsOut, SearchOut
from service.search_spec import SearchSpec, batch_fidelity
from service.store import (
    ArchitectureRepository,
    ArchitectureSort,
    ArchitectureView,
    BatchRecord,
    BatchRepository,
    BatchState,
    EvaluationRepository,
    PoolRepository,
    Role,
    SearchRecord,
    SearchRepository,
)

BEST_SCAN_PAGE = 200
"""Architectures read per page while looking for the best feasible one under constraints."""


def visible_search(session: Session, principal: Principal, search_id: int) -> SearchRecord:
    """The search `search_id` if `principal` may see it.

    Raises:
        ApiError: 404 when it does not exist or belongs to another user.
    """
    try:
        search = SearchRepository(session).get(search_id)
    except LookupError:
        search = None
    if search is None or not principal.may_read(search.owner):
        raise ApiError(404, NOT_FOUND, f"search {search_id} does not exist")
    return search


def serves(session: Session, principal: Principal, owner: str) -> bool:
    """Whether `principal` may see (a user) or work on (a worker) the batches of `owner`."""
    if principal.is_admin or principal.owner == owner:
        return True
    return principal.role == Role.WORKER and PoolRepository(session).serves(principal.owner, owner)


def batch_visible(session: Session, principal: Principal, batch: BatchRecord) -> bool:
    """Whether `principal` may see `batch` (see `serves`)."""
    if principal.is_admin:
        return True
    return serves(session, principal, SearchRepository(session).get(batch.search_id).owner)


def spec_of(search: SearchRecord) -> SearchSpec:
    """The validated spec of a stored search (validated once per process, `from_stored`)."""
    return SearchSpec.from_stored(search.spec)


def feasible(spec: SearchSpec, view: ArchitectureView) -> bool | None:
    """Whether an architecture's result at the search's fidelity meets the constraints."""
    fidelity = batch_fidelity(spec)
    results = [e for e in view.evaluations if e.fidelity == fidelity]
    if not results:
        return None
    latest = results[-1]
    return latest.objective is not None and spec.feasible(latest.metrics)


def architecture_out(spec: SearchSpec, view: ArchitectureView) -> ArchitectureOut:
    """The API form of an architecture of a search with spec `spec`."""
    return ArchitectureOut.of(view, fidelity=batch_fidelity(spec), feasible=feasible(spec, view))


def best_view(session: Session, spec: SearchSpec, search_id: int) -> ArchitectureView | None:
    """The best feasible architecture of a search so far, if any.

    Without constraints the store answers directly. With constraints the architectures are read
    best first, a page at a time, until one meets them.
    """
    fidelity = batch_fidelity(spec)
    maximize = spec.objective.maximize
    if not spec.constraints:
        return EvaluationRepository(session).best(search_id, maximize=maximize, fidelity=fidelity)
    repository = ArchitectureRepository(session)
    offset = 0
    while True:
        page = repository.list(
            search_id,
            sort=ArchitectureSort.OBJECTIVE,
            descending=maximize,
            evaluated=True,
            fidelity=fidelity,
            limit=BEST_SCAN_PAGE,
            offset=offset,
        )
        for view in page.items:
            if feasible(spec, view):
                return view
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return None


def counts_out(session: Session, search_id: int) -> CountsOut:
    """Architectures of a search by where they stand."""
    counts = SearchRepository(session).counts(search_id)
    batches = BatchRepository(session)

    def members(state: BatchState) -> int:
        if not counts.batches.get(state):
            return 0
        return sum(len(b.member_ids) for b in batches.list(search_id, states=[state]))

    return CountsOut(
        architectures=counts.architectures,
        done=counts.evaluations,
        in_flight=members(BatchState.LEASED),
        queued=members(BatchState.QUEUED),
        failed=members(BatchState.FAILED),
        batches={state: counts.batches.get(state, 0) for state in BatchState},
    )


def budget_out(search: SearchRecord, done: int, now: datetime) -> BudgetOut:
    """The budget of a search and the fraction used."""
    elapsed = None if search.started_at is None else search.running_seconds(now)
    fractions = [0.0]
    if search.budget_evaluations:
        fractions.append(done / search.budget_evaluations)
    if search.budget_wall_seconds and elapsed is not None:
        fractions.append(elapsed / search.budget_wall_seconds)
    return BudgetOut(
        evaluations=search.budget_evaluations,
        wall_seconds=search.budget_wall_seconds,
        evaluations_used=done,
        wall_seconds_used=elapsed,
        fraction_used=min(1.0, max(fractions)),
    )


def search_out(session: Session, search: SearchRecord, now: datetime) -> SearchOut:
    """A search with its counts, budget and best architecture so far."""
    spec = spec_of(search)
    counts = counts_out(session, search.id)
    best = best_view(session, spec, search.id)
    return SearchOut(
        id=search.id,
        name=search.name,
        owner=search.owner,
        state=search.state,
        spec=search.spec,
        space=search.space_spec,
        objective=spec.objective.metric,
        maximize=spec.objective.maximize,
        fidelity=batch_fidelity(spec),
        created_at=search.created_at,
        updated_at=search.updated_at,
        started_at=search.started_at,
        finished_at=search.finished_at,
        finished_reason=search.finished_reason,
        counts=counts,
        budget=budget_out(search, counts.done, now),
        best=None if best is None else architecture_out(spec, best),
    )
