"""``/api/v1/searches/{id}/architectures``, ``/batches`` and ``/best``: what a search found.

Architectures come sorted, filtered and paginated, each with its measured results and the
surrogate's prediction from when it was proposed (`service.usecases.architectures`). The best
architecture can also be exported (`service.api.export`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.deps import ReadSessionDep
from service.api.params import ArchitectureId, Limit, Offset, SearchId
from service.auth import UserDep
from service.schemas import ArchitectureOut, BatchOut, Page
from service.states import BatchState
from service.store import ArchitectureSort
from service.usecases import architectures

router = APIRouter(prefix="/searches/{search_id}", tags=["architectures"])


@router.get("/architectures", summary="List the architectures of a search")
def list_architectures(
    search_id: SearchId,
    principal: UserDep,
    session: ReadSessionDep,
    sort: Annotated[ArchitectureSort, Query(description="Order of the list.")] = (
        ArchitectureSort.ID
    ),
    descending: Annotated[bool, Query(description="Reverse the order.")] = False,
    evaluated: Annotated[
        bool | None, Query(description="Only measured (true) or unmeasured (false) ones.")
    ] = None,
    source: Annotated[
        str | None, Query(max_length=64, description="Only those proposed by this source.")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[ArchitectureOut]:
    """Architectures with measured metrics and the prediction made when each was proposed.

    ``sort=objective&descending=true`` lists the best first for a maximised objective; results are
    those at the search's fidelity.
    """
    return architectures.list_architectures(
        session,
        principal,
        search_id,
        sort=sort,
        descending=descending,
        evaluated=evaluated,
        source=source,
        limit=limit,
        offset=offset,
    )


@router.get("/architectures/{architecture_id}", summary="Read one architecture")
def get_architecture(
    search_id: SearchId,
    architecture_id: ArchitectureId,
    principal: UserDep,
    session: ReadSessionDep,
) -> ArchitectureOut:
    return architectures.read_architecture(session, principal, search_id, architecture_id)


@router.get("/batches", summary="List the batches of a search")
def list_batches(
    search_id: SearchId,
    principal: UserDep,
    session: ReadSessionDep,
    state: Annotated[list[BatchState] | None, Query(description="Keep these states.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[BatchOut]:
    """Batches, oldest first, with their lease (worker, expiry, attempts) and progress."""
    return architectures.list_batches(
        session, principal, search_id, states=state, limit=limit, offset=offset
    )


@router.get("/best", summary="The best architecture so far")
def get_best(search_id: SearchId, principal: UserDep, session: ReadSessionDep) -> ArchitectureOut:
    """The best feasible architecture at the search's fidelity (404 until one is measured)."""
    return architectures.read_best(session, principal, search_id)
