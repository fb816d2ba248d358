"""ORM tables of the store (SQLAlchemy 2.0 typed declarative).

These classes never leave `service.store`: repositories turn rows into the frozen objects of
`service.store.domain`. The schema itself is created only by the Alembic migrations under
``migrations/``; the tests check that the migrations and these declarations do not drift apart.

States are plain strings guarded by CHECK constraints (not database enums), so that adding a state
is a one-line migration on both backends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from service.store.domain import BatchState, Role, SearchState
from service.store.types import BigIntegerPK, JSONType, UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Constraint names are deterministic, so migrations can refer to them on every backend."""

NAME_LENGTH = 200
KEY_LENGTH = 1024
FIDELITY_LENGTH = 64
STATE_LENGTH = 16
HASH_LENGTH = 64  # hex sha256


def _in_check(column: str, values: type[SearchState] | type[BatchState] | type[Role]) -> str:
    listed = ", ".join(f"'{member.value}'" for member in values)
    return f"{column} IN ({listed})"


class Base(DeclarativeBase):
    """Declarative base carrying the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
    }


class SearchRow(Base):
    """One NAS run: its spec, budget, owner and life-cycle state."""

    __tablename__ = "searches"
    __table_args__ = (CheckConstraint(_in_check("state", SearchState), name="state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    owner: Mapped[str] = mapped_column(String(NAME_LENGTH), index=True)
    state: Mapped[str] = mapped_column(String(STATE_LENGTH), index=True)
    spec: Mapped[dict[str, Any]]
    space_spec: Mapped[dict[str, Any]]
    # The spec's evaluator kind, copied out so that leases can filter on it (None: any worker).
    evaluator_kind: Mapped[str | None] = mapped_column(String(32))
    budget_evaluations: Mapped[int | None] = mapped_column(Integer)
    budget_wall_seconds: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    finished_reason: Mapped[str | None] = mapped_column(Text)
    # Time spent paused, so that a wall-time budget counts running time only.
    paused_seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0"))
    paused_at: Mapped[datetime | None]


class ArchitectureRow(Base):
    """An architecture proposed within a search, unique by canonical key, with its proposal info."""

    __tablename__ = "architectures"
    __table_args__ = (UniqueConstraint("search_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("searches.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    arch: Mapped[dict[str, Any]]
    source: Mapped[str] = mapped_column(String(64))
    predicted_mean: Mapped[float | None] = mapped_column(Float)
    predicted_std: Mapped[float | None] = mapped_column(Float)
    acquisition_value: Mapped[float | None] = mapped_column(Float)
    surrogate_version: Mapped[int | None] = mapped_column(Integer)
    proposal_info: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkerRow(Base):
    """A registered worker process."""

    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    token_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    capabilities: Mapped[dict[str, Any]]
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class BatchRow(Base):
    """A unit of work handed to one worker at a time under a lease."""

    __tablename__ = "batches"
    __table_args__ = (
        CheckConstraint(_in_check("state", BatchState), name="state"),
        CheckConstraint("attempts >= 0 AND attempts <= max_attempts", name="attempts"),
        Index("ix_batches_state_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(
        ForeignKey("searches.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(String(STATE_LENGTH))
    fidelity: Mapped[str] = mapped_column(String(FIDELITY_LENGTH))
    attempts: Mapped[int] = mapped_column(Integer)
    max_attempts: Mapped[int] = mapped_column(Integer)
    lease_worker_id: Mapped[int | None] = mapped_column(
        ForeignKey("workers.id", ondelete="SET NULL"), index=True
    )
    lease_token: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    # The worker's id of the report that completed the batch: a retry with it is a duplicate.
    report_id: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    progress: Mapped[dict[str, Any]]
    failure_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class BatchMemberRow(Base):
    """Which architectures a batch holds, in order."""

    __tablename__ = "batch_members"

    batch_id: Mapped[int] = mapped_column(
        ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True
    )
    architecture_id: Mapped[int] = mapped_column(
        ForeignKey("architectures.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer)


class EvaluationRow(Base):
    """A measured result of one architecture at one fidelity; never two for the same pair."""

    __tablename__ = "evaluations"
    __table_args__ = (UniqueConstraint("architecture_id", "fidelity"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(
        ForeignKey("searches.id", ondelete="CASCADE"), index=True
    )
    architecture_id: Mapped[int] = mapped_column(ForeignKey("architectures.id", ondelete="CASCADE"))
    fidelity: Mapped[str] = mapped_column(String(FIDELITY_LENGTH))
    metrics: Mapped[dict[str, Any]]
    objective: Mapped[float | None] = mapped_column(Float)
    evaluator: Mapped[str] = mapped_column(String(128))
    wall_seconds: Mapped[float | None] = mapped_column(Float)
    timings: Mapped[dict[str, Any]]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id", ondelete="SET NULL"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id", ondelete="SET NULL"))
    attempt: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SurrogateSnapshotRow(Base):
    """A fitted surrogate of a search, versioned per search."""

    __tablename__ = "surrogate_snapshots"
    __table_args__ = (UniqueConstraint("search_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("searches.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    n_observations: Mapped[int] = mapped_column(Integer)
    fit_metrics: Mapped[dict[str, Any]]
    model_state: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiTokenRow(Base):
    """An API bearer token, stored as the sha256 of its secret."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(_in_check("role", Role), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(STATE_LENGTH))
    owner: Mapped[str] = mapped_column(String(NAME_LENGTH), index=True)
    label: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class WorkerPoolGrantRow(Base):
    """A worker pool granted to a user: workers whose token belongs to `pool` serve `owner`.

    A worker token serves the searches of its own owner name and of every owner granted to that
    name as a pool (see `service.store.repositories.pools`).
    """

    __tablename__ = "worker_pool_grants"

    pool: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    owner: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True, index=True)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventRow(Base):
    """An append-only log entry; its id only grows, so clients poll with ``after=<last id>``."""

    __tablename__ = "events"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigIntegerPK, primary_key=True, autoincrement=True)
    search_id: Mapped[int | None] = mapped_column(
        ForeignKey("searches.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


metadata = Base.metadata
"""The metadata Alembic compares against (``target_metadata``)."""
