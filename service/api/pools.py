"""``/api/v1/pools``: admins grant worker pools to users (who a worker token serves).

A worker token serves its owner name and every user that name was granted to as a pool; the
model is described in `service.store.repositories.pools`, the use cases in
`service.usecases.pools`. Only admins see or change grants.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from service.api.deps import ClockDep, ReadSessionDep, SessionDep
from service.api.params import Limit, Offset
from service.auth import AdminDep
from service.schemas import Page
from service.store.tables import NAME_LENGTH
from service.usecases import pools
from service.usecases.pools import PoolGrantOut

router = APIRouter(prefix="/pools", tags=["pools"])

PoolName = Annotated[
    str,
    Path(min_length=1, max_length=NAME_LENGTH, description="The pool: a worker token's owner."),
]
OwnerName = Annotated[
    str, Path(min_length=1, max_length=NAME_LENGTH, description="The user the pool serves.")
]


@router.get("", summary="List pool grants")
def list_grants(
    principal: AdminDep,
    session: ReadSessionDep,
    pool: Annotated[
        str | None, Query(min_length=1, max_length=NAME_LENGTH, description="One pool's grants.")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[PoolGrantOut]:
    """Every grant (or one pool's), by pool then owner."""
    return pools.list_grants(session, pool=pool, limit=limit, offset=offset)


@router.put("/{pool}/owners/{owner}", summary="Grant a pool to a user")
def grant(
    pool: PoolName, owner: OwnerName, principal: AdminDep, session: SessionDep, clock: ClockDep
) -> PoolGrantOut:
    """Let worker tokens of `pool` lease `owner`'s batches (granting twice keeps the first)."""
    return pools.grant_pool(session, clock(), pool, owner)


@router.delete(
    "/{pool}/owners/{owner}",
    summary="Revoke a pool grant",
    status_code=status.HTTP_204_NO_CONTENT,
)
def revoke(pool: PoolName, owner: OwnerName, principal: AdminDep, session: SessionDep) -> None:
    """Stop `pool`'s workers from leasing `owner`'s batches (leases held run to their end)."""
    pools.revoke_grant(session, pool, owner)
