"""``/api/v1/pools``: admins grant worker pools to users (who a worker token serves).

A worker token serves its owner name and every user that name was granted to as a pool; the
model is described in `service.store.repositories.pools`. Only admins see or change grants.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from service.api.params import Limit, Offset
from service.auth import AdminDep, SessionDep
from service.errors import NOT_FOUND, ApiError
from service.schemas import Page
from service.schemas.common import ApiModel
from service.store import PoolGrant, PoolRepository, utcnow
from service.store.tables import NAME_LENGTH

router = APIRouter(prefix="/pools", tags=["pools"])

PoolName = Annotated[
    str,
    Path(min_length=1, max_length=NAME_LENGTH, description="The pool: a worker token's owner."),
]
OwnerName = Annotated[
    str, Path(min_length=1, max_length=NAME_LENGTH, description="The user the pool serves.")
]


class PoolGrantOut(ApiModel):
    """A pool granted to a user: worker tokens of `pool` lease `owner`'s batches.

    Attributes:
        pool: The pool (the owner name of its worker tokens).
        owner: The user whose searches the pool's workers serve.
        granted_at: When the grant was made.
    """

    pool: str
    owner: str
    granted_at: datetime

    @classmethod
    def of(cls, grant: PoolGrant) -> PoolGrantOut:
        return cls(pool=grant.pool, owner=grant.owner, granted_at=grant.granted_at)


@router.get("", summary="List pool grants")
def list_grants(
    principal: AdminDep,
    session: SessionDep,
    pool: Annotated[
        str | None, Query(min_length=1, max_length=NAME_LENGTH, description="One pool's grants.")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[PoolGrantOut]:
    """Every grant (or one pool's), by pool then owner."""
    grants = PoolRepository(session).list(pool=pool)
    return Page[PoolGrantOut](
        items=[PoolGrantOut.of(g) for g in grants[offset : offset + limit]],
        total=len(grants),
        limit=limit,
        offset=offset,
    )


@router.put("/{pool}/owners/{owner}", summary="Grant a pool to a user")
def grant(
    pool: PoolName, owner: OwnerName, principal: AdminDep, session: SessionDep
) -> PoolGrantOut:
    """Let worker tokens of `pool` lease `owner`'s batches (granting twice keeps the first)."""
    return PoolGrantOut.of(PoolRepository(session).grant(pool, owner, now=utcnow()))


@router.delete(
    "/{pool}/owners/{owner}",
    summary="Revoke a pool grant",
    status_code=status.HTTP_204_NO_CONTENT,
)
def revoke(pool: PoolName, owner: OwnerName, principal: AdminDep, session: SessionDep) -> None:
    """Stop `pool`'s workers from leasing `owner`'s batches (leases held run to their end)."""
    if not PoolRepository(session).revoke(pool, owner):
        raise ApiError(404, NOT_FOUND, f"pool {pool!r} is not granted to {owner!r}")
