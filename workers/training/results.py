"""What the trainers hand back: per-member results and progress reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MemberResult:
    """The evaluation of one architecture of a batch.

    Attributes:
        key: `space.key(arch)`, the architecture's canonical identity.
        arch: The architecture value itself.
        metrics: `val_accuracy` (percent, on the held-out validation part of the training
            data), `val_loss` (mean cross-entropy there), `train_loss` (mean training loss of
            the member's steps in its last epoch) and `params` (parameters of the member's own
            network).
        timings: Seconds: `train_s` (this member's share of the joint training),
            `batch_train_s` (the whole joint training, warm-up included), `calibrate_s` and
            `eval_s` (this member's BatchNorm recalibration and evaluation).
    """

    key: str
    arch: Any
    metrics: Mapping[str, float]
    timings: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainProgress:
    """A progress report, sent every `log_every` steps and at phase changes.

    Attributes:
        phase: `"warmup"`, `"train"`, `"calibrate"` or `"evaluate"`.
        epoch: Epoch of training (warm-up epochs first), from 0.
        step: Steps done so far in training (warm-up and member phase together).
        total_steps: Steps that training will take in all.
        loss: Training loss of the latest step (None outside training).
        member: Index in the batch of the member concerned (None during warm-up).
    """

    phase: str
    epoch: int
    step: int
    total_steps: int
    loss: float | None = None
    member: int | None = None
