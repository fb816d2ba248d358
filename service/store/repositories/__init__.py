"""Repositories: take the caller's session, flush but never commit, return domain objects."""

from __future__ import annotations

from service.states import DEFAULT_MAX_ATTEMPTS
from service.store.repositories.architectures import ArchitectureRepository, ArchitectureSort
from service.store.repositories.batches import BatchRepository
from service.store.repositories.evaluations import EvaluationRepository
from service.store.repositories.events import EventRepository
from service.store.repositories.pools import PoolGrant, PoolRepository
from service.store.repositories.searches import SearchRepository
from service.store.repositories.snapshots import SurrogateSnapshotRepository
from service.store.repositories.tokens import TokenRepository, hash_token, new_token_secret
from service.store.repositories.workers import WorkerRepository

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "ArchitectureRepository",
    "ArchitectureSort",
    "BatchRepository",
    "EvaluationRepository",
    "EventRepository",
    "PoolGrant",
    "PoolRepository",
    "SearchRepository",
    "SurrogateSnapshotRepository",
    "TokenRepository",
    "WorkerRepository",
    "hash_token",
    "new_token_secret",
]
