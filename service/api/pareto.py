"""``/api/v1/searches/{id}/pareto``: a search's Pareto set, its measured points and hypervolume.

What the front is, and how the hypervolume is measured, are `service.usecases.pareto`'s.
"""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import ReadSessionDep
from service.api.params import SearchId
from service.auth import UserDep
from service.schemas import ParetoOut
from service.usecases import pareto

router = APIRouter(prefix="/searches/{search_id}", tags=["architectures"])


@router.get("/pareto", summary="The Pareto set of a search")
def get_pareto(search_id: SearchId, principal: UserDep, session: ReadSessionDep) -> ParetoOut:
    """The feasible measured architectures no other is better than in every objective, every
    measured point (for a scatter), and the hypervolume after each result, with the bounds and
    reference point it is measured from. A single-objective search answers with its best
    architecture as the front. Any front point exports through
    ``/searches/{id}/architectures/{architecture_id}/export``."""
    return pareto.read_pareto(session, principal, search_id)
