"""Pydantic models of the public HTTP API (the worker endpoints use `protocol`)."""

from __future__ import annotations

from service.schemas.common import MAX_LIMIT, ApiModel, ErrorResponse, Page
from service.schemas.events import EventOut, EventsPage
from service.schemas.health import HealthOut
from service.schemas.pareto import ObjectiveOut, ParetoOut, ParetoPointOut, ReferenceOut
from service.schemas.searches import (
    ArchitectureOut,
    BatchOut,
    BudgetOut,
    CountsOut,
    EvaluationOut,
    GenotypeOut,
    PredictionOut,
    SearchOut,
)
from service.schemas.tokens import TokenCreate, TokenCreated, TokenOut
from service.schemas.workers import WorkerOut

__all__ = [
    "MAX_LIMIT",
    "ApiModel",
    "ArchitectureOut",
    "BatchOut",
    "BudgetOut",
    "CountsOut",
    "ErrorResponse",
    "EvaluationOut",
    "EventOut",
    "EventsPage",
    "GenotypeOut",
    "HealthOut",
    "ObjectiveOut",
    "Page",
    "ParetoOut",
    "ParetoPointOut",
    "PredictionOut",
    "ReferenceOut",
    "SearchOut",
    "TokenCreate",
    "TokenCreated",
    "TokenOut",
    "WorkerOut",
]
