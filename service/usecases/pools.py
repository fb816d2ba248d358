"""The pool use cases: admins grant worker pools to users (who a worker token serves).

A worker token serves its owner name and every user that name was granted to as a pool; the
model is described in `service.store.repositories.pools`. The caller is an admin (the router's
dependency checks the role) and owns the transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from service.errors import NOT_FOUND, ApiError
from service.schemas import Page
from service.schemas.common import ApiModel
from service.store import PoolGrant, PoolRepository


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


def list_grants(
    session: Session, *, pool: str | None = None, limit: int = 50, offset: int = 0
) -> Page[PoolGrantOut]:
    """Every grant (or one pool's), by pool then owner."""
    grants = PoolRepository(session).list(pool=pool)
    return Page[PoolGrantOut](
        items=[PoolGrantOut.of(g) for g in grants[offset : offset + limit]],
        total=len(grants),
        limit=limit,
        offset=offset,
    )


def grant_pool(session: Session, now: datetime, pool: str, owner: str) -> PoolGrantOut:
    """Let worker tokens of `pool` lease `owner`'s batches (granting twice keeps the first)."""
    return PoolGrantOut.of(PoolRepository(session).grant(pool, owner, now=now))


def revoke_grant(session: Session, pool: str, owner: str) -> None:
    """Stop `pool`'s workers from leasing `owner`'s batches (leases held run to their end).

    Raises:
        ApiError: 404 when `pool` is not granted to `owner`.
    """
    if not PoolRepository(session).revoke(pool, owner):
        raise ApiError(404, NOT_FOUND, f"pool {pool!r} is not granted to {owner!r}")
