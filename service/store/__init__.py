"""The store: SQL tables, migrations, and repositories that return frozen domain objects.

Usage::

    engine = make_engine(url)
    ensure_at_head(engine)            # from service.store.migrate; refuses an un-migrated database
    with session_scope(engine) as session:
        search = SearchRepository(session).create(...)

Every write happens inside the caller's `session_scope`; repositories flush but never commit.
Every method that depends on time takes ``now`` (aware UTC) from the caller.
"""

from __future__ import annotations

from service.store.domain import (
    DEFAULT_FIDELITY,
    ArchitectureInput,
    ArchitectureRecord,
    ArchitectureView,
    BatchRecord,
    BatchState,
    EvaluationInput,
    EvaluationRecord,
    EventRecord,
    HeartbeatResult,
    Lease,
    LeaseMember,
    Observation,
    Page,
    ProposalInfo,
    ReapOutcome,
    ReportOutcome,
    Role,
    SearchCounts,
    SearchRecord,
    SearchState,
    Snapshot,
    SnapshotInfo,
    TokenRecord,
    WorkerRecord,
)
from service.store.engine import (
    is_sqlite,
    make_engine,
    normalize_url,
    read_only_engine,
    safe_url,
    session_scope,
)
from service.store.repositories import (
    ArchitectureRepository,
    ArchitectureSort,
    BatchRepository,
    EvaluationRepository,
    EventRepository,
    PoolGrant,
    PoolRepository,
    SearchRepository,
    SurrogateSnapshotRepository,
    TokenRepository,
    WorkerRepository,
    hash_token,
)
from service.store.types import utcnow

__all__ = [
    "DEFAULT_FIDELITY",
    "ArchitectureInput",
    "ArchitectureRecord",
    "ArchitectureRepository",
    "ArchitectureSort",
    "ArchitectureView",
    "BatchRecord",
    "BatchRepository",
    "BatchState",
    "EvaluationInput",
    "EvaluationRecord",
    "EvaluationRepository",
    "EventRecord",
    "EventRepository",
    "HeartbeatResult",
    "Lease",
    "LeaseMember",
    "Observation",
    "Page",
    "PoolGrant",
    "PoolRepository",
    "ProposalInfo",
    "ReapOutcome",
    "ReportOutcome",
    "Role",
    "SearchCounts",
    "SearchRecord",
    "SearchRepository",
    "SearchState",
    "Snapshot",
    "SnapshotInfo",
    "SurrogateSnapshotRepository",
    "TokenRecord",
    "TokenRepository",
    "WorkerRecord",
    "WorkerRepository",
    "hash_token",
    "is_sqlite",
    "make_engine",
    "normalize_url",
    "read_only_engine",
    "safe_url",
    "session_scope",
    "utcnow",
]
