"""Surrogate snapshots: the strategy's state as bytes, and how well its predictions held up.

A snapshot is stored after every refit, in the same transaction as the batch it proposed, so a
restarted controller loads the latest one and continues exactly (same surrogate version, warm
start from the same weights). The state travels through `torch.save` and comes back through
`torch.load(weights_only=True)`, which rebuilds tensors and plain containers only: a row of the
database cannot make the controller run code.

Fit metrics say how good each surrogate version was *out of sample*: the architectures a version
proposed carry its predicted mean, and once they are measured, Kendall's tau between predictions
and measurements is that version's ranking quality on data it never saw.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

import torch

from service.store import Observation as StoredObservation
from surrogate.models.fit import FitReport
from surrogate.ranking import tau_by_version


def encode_state(state: dict[str, Any]) -> bytes:
    """Serialise a strategy's `state_dict()`."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def decode_state(data: bytes) -> dict[str, Any]:
    """Inverse of `encode_state`; refuses anything but tensors and plain containers."""
    state = torch.load(io.BytesIO(data), weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"a strategy state must be a dict, got {type(state).__name__}")
    return state


def prediction_metrics(observations: Iterable[StoredObservation]) -> dict[str, Any]:
    """Out-of-sample tau of every surrogate version, and of all versions pooled.

    Only observations with a prediction and a finite objective count.

    Returns:
        ``{"by_version": {"3": {"tau": 0.41, "n": 10}, ...}, "all": {"tau": ..., "n": ...}}``.
    """
    pairs: list[tuple[int, float, float]] = []
    for item in observations:
        proposal = item.architecture.proposal
        measured = item.evaluation.objective
        if proposal.predicted_mean is None or proposal.surrogate_version is None:
            continue
        if measured is None or not math.isfinite(measured):
            continue
        pairs.append((proposal.surrogate_version, proposal.predicted_mean, measured))
    agreement = tau_by_version(pairs)
    return {
        "by_version": {
            str(version): {"tau": one.tau, "n": one.n}
            for version, one in agreement.by_version.items()
        },
        "all": {"tau": agreement.pooled.tau, "n": agreement.pooled.n},
    }


def fit_report_metrics(report: FitReport) -> dict[str, Any]:
    """A refit's report (`RefitReport.fit`) as JSON-safe numbers (a non-finite float: None)."""
    clean: dict[str, Any] = {}
    for name, value in asdict(report).items():
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        clean[name] = value
    return clean
