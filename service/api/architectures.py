"""``/api/v1/searches/{id}/architectures``, ``/batches`` and ``/best``: what a search found.

Architectures come sorted, filtered and paginated, each with its measured results and the
surrogate's prediction from when it was proposed. The best architecture (feasible under the
search's constraints) can be exported as a genotype or as a PyTorch module.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from service.api.export import MAX_SIZE, ExportFormat, NetworkSize, export_module, genotype
from service.api.params import ArchitectureId, Limit, Offset, SearchId
from service.api.views import architecture_out, best_view, spec_of, visible_search
from service.auth import EngineDep, UserDep
from service.errors import NOT_FOUND, ApiError
from service.schemas import ArchitectureOut, BatchOut, GenotypeOut, Page
from service.search_spec import SearchSpec, batch_fidelity
from service.store import (
    ArchitectureRepository,
    ArchitectureSort,
    ArchitectureView,
    BatchRepository,
    BatchState,
    session_scope,
)

router = APIRouter(prefix="/searches/{search_id}", tags=["architectures"])

EXPORT_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "The genotype as JSON, or the module as a file.",
        "content": {
            "application/json": {"schema": GenotypeOut.model_json_schema()},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.get("/architectures", summary="List the architectures of a search")
def list_architectures(
    search_id: SearchId,
    principal: UserDep,
    engine: EngineDep,
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
    with session_scope(engine, read_only=True) as session:
        search = visible_search(session, principal, search_id)
        spec = spec_of(search)
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


@router.get("/architectures/{architecture_id}", summary="Read one architecture")
def get_architecture(
    search_id: SearchId, architecture_id: ArchitectureId, principal: UserDep, engine: EngineDep
) -> ArchitectureOut:
    with session_scope(engine, read_only=True) as session:
        search = visible_search(session, principal, search_id)
        view = _architecture(session, search_id, architecture_id)
        return architecture_out(spec_of(search), view)


@router.get("/batches", summary="List the batches of a search")
def list_batches(
    search_id: SearchId,
    principal: UserDep,
    engine: EngineDep,
    state: Annotated[list[BatchState] | None, Query(description="Keep these states.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[BatchOut]:
    """Batches, oldest first, with their lease (worker, expiry, attempts) and progress."""
    with session_scope(engine, read_only=True) as session:
        visible_search(session, principal, search_id)
        batches = BatchRepository(session).list(search_id, states=state or None)
    chosen = batches[offset : offset + limit]
    return Page[BatchOut](
        items=[BatchOut.of(b) for b in chosen], total=len(batches), limit=limit, offset=offset
    )


@router.get("/best", summary="The best architecture so far")
def get_best(search_id: SearchId, principal: UserDep, engine: EngineDep) -> ArchitectureOut:
    """The best feasible architecture at the search's fidelity (404 until one is measured)."""
    with session_scope(engine, read_only=True) as session:
        search = visible_search(session, principal, search_id)
        spec = spec_of(search)
        view = _best(session, spec, search_id)
        return architecture_out(spec, view)


@router.get("/best/export", summary="Export the best architecture", responses=EXPORT_RESPONSES)
def export_best(
    search_id: SearchId,
    principal: UserDep,
    engine: EngineDep,
    format: Annotated[ExportFormat, Query(description="json, torchscript or state_dict.")] = (
        ExportFormat.JSON
    ),
    num_classes: Annotated[int | None, Query(ge=1, le=MAX_SIZE["num_classes"])] = None,
    in_channels: Annotated[int | None, Query(ge=1, le=MAX_SIZE["in_channels"])] = None,
    channels: Annotated[int | None, Query(ge=1, le=MAX_SIZE["channels"])] = None,
    cells_per_stage: Annotated[int | None, Query(ge=1, le=MAX_SIZE["cells_per_stage"])] = None,
) -> Response:
    """The best architecture as a download.

    ``json``: its genotype (space description, key, architecture, objective, metrics).
    ``torchscript``: its network, freshly initialised, for ``torch.jit.load``.
    ``state_dict``: the same network's weights, for ``torch.load`` into the workers' supernet
    class. The network's size follows the search; the query may override it. A module above
    4,000,000 parameters is refused (422).
    """
    with session_scope(engine, read_only=True) as session:
        search = visible_search(session, principal, search_id)
        spec = spec_of(search)
        view = _best(session, spec, search_id)
    stem = f"search-{search_id}-best"
    if format is ExportFormat.JSON:
        body = GenotypeOut.model_validate(genotype(spec, search_id, view))
        return Response(
            body.model_dump_json(indent=2),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{stem}.json"'},
        )
    size = NetworkSize(num_classes, in_channels, channels, cells_per_stage)
    exported = export_module(spec, view, format, size, stem)
    return Response(
        exported.content,
        media_type=exported.media_type,
        headers={"Content-Disposition": f'attachment; filename="{exported.filename}"'},
    )


def _architecture(session: Session, search_id: int, architecture_id: int) -> ArchitectureView:
    try:
        (view,) = ArchitectureRepository(session).views([architecture_id])
    except LookupError:
        view = None
    if view is None or view.architecture.search_id != search_id:
        raise ApiError(
            404, NOT_FOUND, f"architecture {architecture_id} is not in search {search_id}"
        )
    return view


def _best(session: Session, spec: SearchSpec, search_id: int) -> ArchitectureView:
    view = best_view(session, spec, search_id)
    if view is None:
        raise ApiError(404, NOT_FOUND, f"search {search_id} has no measured architecture yet")
    return view
