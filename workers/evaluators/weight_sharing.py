"""The weight-sharing evaluator: BONAS's joint training of a whole batch in one super-network.

Every member's estimate comes from the same supernet training (see `workers.training`), so the
numbers are cheap and noisy; they are stored under their own fidelity, ``"supernet"``.
"""

from __future__ import annotations

from protocol import EvaluatorKind
from workers.evaluators.trained import TrainedEvaluator


class WeightSharingEvaluator(TrainedEvaluator):
    """Trains a leased batch jointly (``weight_sharing`` batches)."""

    kind = EvaluatorKind.WEIGHT_SHARING
    default_fidelity = "supernet"
