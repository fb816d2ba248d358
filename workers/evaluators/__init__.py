"""Evaluators: how a worker turns a leased batch into metrics.

* `TableEvaluator` (``table``): lookups in a benchmark CSV; no training, no GPU.
* `WeightSharingEvaluator` (``weight_sharing``): the batch trained jointly in a super-network.
* `StandaloneEvaluator` (``standalone``): each member trained alone from scratch.

`create_evaluator` builds one by kind; the training ones are imported only when asked for, so a
table-only worker never loads the training stack.
"""

from __future__ import annotations

import importlib.util

from protocol import EvaluatorKind
from workers.evaluators.base import (
    Evaluator,
    EvaluatorContext,
    ProgressCallback,
    SpaceCache,
    StopCheck,
    check_reports,
    parse_members,
)
from workers.exceptions import EvaluationError

__all__ = [
    "Evaluator",
    "EvaluatorContext",
    "ProgressCallback",
    "SpaceCache",
    "StopCheck",
    "available_kinds",
    "check_reports",
    "create_evaluator",
    "parse_members",
]

_TRAINING_KINDS = (EvaluatorKind.WEIGHT_SHARING, EvaluatorKind.STANDALONE)


def available_kinds() -> tuple[EvaluatorKind, ...]:
    """Evaluator kinds this installation can run (training ones need `workers.training`)."""
    spec = importlib.util.find_spec("workers.training")
    if spec is None or spec.origin is None:  # absent, or an empty namespace directory
        return (EvaluatorKind.TABLE,)
    return (EvaluatorKind.TABLE, *_TRAINING_KINDS)


def create_evaluator(
    kind: EvaluatorKind, context: EvaluatorContext, spaces: SpaceCache | None = None
) -> Evaluator:
    """A new evaluator of `kind`.

    Raises:
        EvaluationError: This installation cannot run `kind`.
    """
    spaces = spaces or SpaceCache()
    if kind is EvaluatorKind.TABLE:
        from workers.evaluators.table import TableEvaluator

        return TableEvaluator(context, spaces)
    if kind not in available_kinds():
        raise EvaluationError(f"this worker cannot run {kind.value!r} batches (no trainer)")
    if kind is EvaluatorKind.WEIGHT_SHARING:
        from workers.evaluators.weight_sharing import WeightSharingEvaluator

        return WeightSharingEvaluator(context, spaces)
    from workers.evaluators.standalone import StandaloneEvaluator

    return StandaloneEvaluator(context, spaces)
