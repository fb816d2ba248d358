"""The stand-alone evaluator: each member trained alone from scratch, one after the other.

Costs k times more than weight sharing for a batch of k; used to confirm a search's final picks
(and to measure how well the supernet's estimates rank architectures).
"""

from __future__ import annotations

from protocol import EvaluatorKind
from workers.evaluators.trained import TrainedEvaluator


class StandaloneEvaluator(TrainedEvaluator):
    """Trains each member of a leased batch on its own (``standalone`` batches)."""

    kind = EvaluatorKind.STANDALONE
    default_fidelity = "standalone"
