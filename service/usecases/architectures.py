"""What a search found: its architectures, its batches and its best architecture so far.

Architectures come sorted, filtered and paginated, each with its measured results at the
search's fidelity and the surrogate's prediction from when it was proposed. The best is the best
feasible one under the search's constraints (`summary.best_view`). A search the caller may not
see does not exist (404), and neither do its architectures.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from service.auth import Principal
from service.errors import NOT_FOUND, ApiError
from service.schemas import ArchitectureOut, BatchOut, Page
from service.search_spec import SearchSpec, batch_fidelity
from service.store import (
    ArchitectureRepository,
    ArchitectureSort,
    ArchitectureView,
    BatchRepository,
    BatchState,
)
from service.usecases.summary import architecture_out, best_view, spec_of, visible_search


def list_architectures(
    session: Session,
    principal: Principal,
    search_id: int,
    *,
    sort: ArchitectureSort = ArchitectureSort.ID,
    descending: bool = False,
    evaluated: bool | None = None,
    source: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[ArchitectureOut]:
    """A page of a search's architectures, with results at the search's fidelity.

    ``sort=OBJECTIVE, descending=True`` lists the best first for a maximised objective.
    """
    spec = spec_of(visible_search(session, principal, search_id))
    page = ArchitectureRepository(session).list(
        search_id,
        sort=sort,
        descending=descending,
        evaluated=evaluated,
        fidelity=batch_fidelity(spec),
        source=source,
        limit=limit,
        offset=offset,
    )
    items = [architecture_out(spec, view) for view in page.items]
    return Page[ArchitectureOut](items=items, total=page.total, limit=limit, offset=offset)


def read_architecture(
    session: Session, principal: Principal, search_id: int, architecture_id: int
) -> ArchitectureOut:
    """One architecture of a search.

    Raises:
        ApiError: 404 when the search is not visible or the architecture is not in it.
    """
    search = visible_search(session, principal, search_id)
    try:
        (view,) = ArchitectureRepository(session).views([architecture_id])
    except LookupError:
        view = None
    if view is None or view.architecture.search_id != search_id:
        raise ApiError(
            404, NOT_FOUND, f"architecture {architecture_id} is not in search {search_id}"
        )
    return architecture_out(spec_of(search), view)


def list_batches(
    session: Session,
    principal: Principal,
    search_id: int,
    *,
    states: Sequence[BatchState] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[BatchOut]:
    """A search's batches, oldest first, with their lease (worker, expiry, attempts) and
    progress."""
    visible_search(session, principal, search_id)
    batches = BatchRepository(session).list(search_id, states=list(states) if states else None)
    chosen = batches[offset : offset + limit]
    return Page[BatchOut](
        items=[BatchOut.of(b) for b in chosen], total=len(batches), limit=limit, offset=offset
    )


def best_of(
    session: Session, principal: Principal, search_id: int
) -> tuple[SearchSpec, ArchitectureView]:
    """A search's spec and its best feasible architecture at the search's fidelity.

    Raises:
        ApiError: 404 when the search is not visible or nothing has been measured yet.
    """
    spec = spec_of(visible_search(session, principal, search_id))
    view = best_view(session, spec, search_id)
    if view is None:
        raise ApiError(404, NOT_FOUND, f"search {search_id} has no measured architecture yet")
    return spec, view


def read_best(session: Session, principal: Principal, search_id: int) -> ArchitectureOut:
    """The best feasible architecture so far (404 until one is measured)."""
    spec, view = best_of(session, principal, search_id)
    return architecture_out(spec, view)
