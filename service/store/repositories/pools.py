"""Worker scoping: which searches a worker token serves, and the pools an admin grants.

The model:

* Every token has an ``owner`` name. A **worker** token's owner is the name it serves: either a
  user (``bonas token create --role worker --owner alice``: alice's own workers) or a **pool**
  (``--pool gpu-farm``: a shared fleet, whose token's owner is the pool's name).
* An admin grants a pool to users (``bonas pool grant gpu-farm alice``); the grants live in
  ``worker_pool_grants``. Granting is an admin's act only: a user cannot make a pool serve them.
* A worker leases only batches of running searches whose owner it serves: the owner is the
  token's owner name, or was granted to that name as a pool. Heartbeats, reports and releases
  on any other batch are answered as for a batch that does not exist, so a worker learns
  nothing about other users' work. An admin token acting as a worker serves everyone.

Pools and users share one namespace of names on purpose: a worker token of owner ``alice``
serves alice, and also whoever an admin granted ``alice`` to. There is no wildcard grant; a
lab whose one fleet serves every user grants the pool to each user.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.orm import Session

from service.store.errors import boundary
from service.store.tables import NAME_LENGTH, SearchRow, WorkerPoolGrantRow
from service.store.types import as_utc


@dataclass(frozen=True, slots=True)
class PoolGrant:
    """A pool granted to a user: workers of `pool` serve `owner`'s searches."""

    pool: str
    owner: str
    granted_at: datetime


def served_owners_clause(serving: str) -> ColumnElement[bool]:
    """SQL condition on `SearchRow`: the search's owner is served by worker name `serving`."""
    granted = select(WorkerPoolGrantRow.owner).where(WorkerPoolGrantRow.pool == serving)
    return or_(SearchRow.owner == serving, SearchRow.owner.in_(granted))


def _check_name(kind: str, name: str) -> str:
    if not name or len(name) > NAME_LENGTH or "\x00" in name or name != name.strip():
        raise ValueError(
            f"{kind} name {name[:40]!r} is not accepted: use 1 to {NAME_LENGTH} characters "
            "without leading or trailing spaces or NUL"
        )
    return name


class PoolRepository:
    """Pool grants, inside the caller's session (never commits)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @boundary
    def grant(self, pool: str, owner: str, *, now: datetime) -> PoolGrant:
        """Let workers of `pool` serve `owner`'s searches (idempotent: keeps the first time).

        Raises:
            ValueError: A name is empty, too long or holds NUL.
        """
        _check_name("pool", pool)
        _check_name("owner", owner)
        row = self._session.get(WorkerPoolGrantRow, (pool, owner))
        if row is None:
            row = WorkerPoolGrantRow(pool=pool, owner=owner, granted_at=as_utc(now))
            self._session.add(row)
            self._session.flush()
        return PoolGrant(row.pool, row.owner, as_utc(row.granted_at))

    @boundary
    def revoke(self, pool: str, owner: str) -> bool:
        """Withdraw a grant; returns whether one existed. Leases already held run to their end.

        Raises:
            ValueError: A name is empty, too long or holds NUL.
        """
        _check_name("pool", pool)
        _check_name("owner", owner)
        result = self._session.execute(
            delete(WorkerPoolGrantRow).where(
                WorkerPoolGrantRow.pool == pool, WorkerPoolGrantRow.owner == owner
            )
        )
        return bool(getattr(result, "rowcount", 0))

    @boundary
    def list(self, *, pool: str | None = None) -> tuple[PoolGrant, ...]:
        """Grants, by pool then owner, optionally of one pool.

        Raises:
            ValueError: `pool` is empty, too long or holds NUL.
        """
        query = select(WorkerPoolGrantRow)
        if pool is not None:
            _check_name("pool", pool)
            query = query.where(WorkerPoolGrantRow.pool == pool)
        rows = self._session.scalars(
            query.order_by(WorkerPoolGrantRow.pool, WorkerPoolGrantRow.owner)
        )
        return tuple(PoolGrant(r.pool, r.owner, as_utc(r.granted_at)) for r in rows)

    @boundary
    def serves(self, serving: str, owner: str) -> bool:
        """Whether a worker token of owner name `serving` serves searches owned by `owner`."""
        if serving == owner:
            return True
        if "\x00" in serving or "\x00" in owner:
            return False  # no such name can be stored
        return self._session.get(WorkerPoolGrantRow, (serving, owner)) is not None
