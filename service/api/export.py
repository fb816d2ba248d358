"""``/api/v1/searches/{id}/best/export``: the best architecture as a download, and
``/api/v1/searches/{id}/architectures/{architecture_id}/export``: any architecture of the search
(a point of its Pareto front) in the same formats.

What is exported, and the limits on it, are `service.usecases.export`'s; this route reads the
query and turns the export into an attachment.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from service.api.deps import ReadSessionDep
from service.api.params import ArchitectureId, SearchId
from service.auth import UserDep
from service.schemas import GenotypeOut
from service.usecases import export as exports
from service.usecases.export import MAX_SIZE, ExportFormat, NetworkSize

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


@router.get("/best/export", summary="Export the best architecture", responses=EXPORT_RESPONSES)
def export_best(
    search_id: SearchId,
    principal: UserDep,
    session: ReadSessionDep,
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
    size = NetworkSize(num_classes, in_channels, channels, cells_per_stage)
    exported = exports.export_best(session, principal, search_id, format, size)
    disposition = f'attachment; filename="{exported.filename}"'
    return Response(
        exported.content,
        media_type=exported.media_type,
        headers={"Content-Disposition": disposition},
    )


@router.get(
    "/architectures/{architecture_id}/export",
    summary="Export one architecture (a point of the Pareto front)",
    responses=EXPORT_RESPONSES,
)
def export_architecture(
    search_id: SearchId,
    architecture_id: ArchitectureId,
    principal: UserDep,
    session: ReadSessionDep,
    format: Annotated[ExportFormat, Query(description="json, torchscript or state_dict.")] = (
        ExportFormat.JSON
    ),
    num_classes: Annotated[int | None, Query(ge=1, le=MAX_SIZE["num_classes"])] = None,
    in_channels: Annotated[int | None, Query(ge=1, le=MAX_SIZE["in_channels"])] = None,
    channels: Annotated[int | None, Query(ge=1, le=MAX_SIZE["channels"])] = None,
    cells_per_stage: Annotated[int | None, Query(ge=1, le=MAX_SIZE["cells_per_stage"])] = None,
) -> Response:
    """Any architecture of the search as a download, in the formats and sizes of
    ``/best/export`` (404 when it is not in this search). The Pareto set
    (``/searches/{id}/pareto``) names its points by ``architecture_id``."""
    size = NetworkSize(num_classes, in_channels, channels, cells_per_stage)
    exported = exports.export_architecture(
        session, principal, search_id, architecture_id, format, size
    )
    disposition = f'attachment; filename="{exported.filename}"'
    return Response(
        exported.content,
        media_type=exported.media_type,
        headers={"Content-Disposition": disposition},
    )
