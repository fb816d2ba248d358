"""`TrainOptions`: every knob of the weight-sharing and stand-alone trainers, as plain data.

The defaults train a batch of about ten NAS-Bench-201 members on the digits on a small CPU in
seconds (narrow network, one cell per stage, a few hundred steps); GPU runs on CIFAR raise
`channels`, `cells_per_stage`, `epochs` and `batch_size`. The optimiser settings are BONAS's:
SGD with lr 0.025, momentum 0.9, weight decay 3e-4, cosine decay, gradient norm clipped at 5.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from surrogate.limits import SEED_MAX, check_maxima
from workers.training.exceptions import TrainOptionsError

Method = Literal["weight_sharing", "standalone"]
Schedule = Literal["fair", "random"]
METHODS: tuple[str, ...] = ("weight_sharing", "standalone")
SCHEDULES: tuple[str, ...] = ("fair", "random")

TRAIN_MAXIMA: dict[str, float] = {
    "epochs": 1_000,
    "warmup_epochs": 1_000,
    "steps_per_member": 1_000_000,
    "batch_size": 4_096,
    "eval_batch_size": 8_192,
    "channels": 256,
    "cells_per_stage": 16,
    "calibration_batches": 1_000,
    "log_every": 1_000_000,
    "cpu_threads": 256,
    "seed": SEED_MAX,
}
"""Largest accepted value of each count of `TrainOptions` (docs/limits.md): a search's training
options come from its submitter, and these bound what one batch may ask of a worker."""


@dataclass(frozen=True)
class TrainOptions:
    """How to train and evaluate a batch of architectures.

    Attributes:
        method: `"weight_sharing"` trains the batch jointly in one supernet (BONAS's method);
            `"standalone"` trains each architecture from scratch on its own (to confirm a pick).
        epochs: Length of the member phase in passes over the training data. With weight
            sharing the passes are shared among the `k` members (each gets about `1/k` of the
            steps, rounded so that all get the same number per epoch); stand-alone, each
            architecture gets them all.
        warmup_epochs: Passes over the data training the whole union before the member phase
            (weight sharing only).
        steps_per_member: If set, replaces `epochs`: each member trains this many steps (the
            member phase has `k * steps_per_member` steps).
        schedule: `"fair"` gives every member one step per round, in a fresh random order each
            round (FairNAS's strict fairness, applied to members); `"random"` draws a member
            uniformly for each step.
        batch_size: Training images per step (over all processes under DDP).
        eval_batch_size: Images per forward when calibrating and evaluating.
        lr: Initial learning rate, decayed to 0 along a cosine over all steps.
        momentum: SGD momentum.
        weight_decay: SGD weight decay.
        grad_clip: Maximum gradient norm (0 disables clipping).
        channels: Width of the network's first stage.
        cells_per_stage: Cells per stage (cell spaces).
        calibration_batches: Training batches of `eval_batch_size` images over which each
            member's BatchNorm statistics are recomputed before it is evaluated.
        seed: Seeds initialisation, data order, augmentation and the schedule.
        amp: Use bfloat16 autocast (CUDA only; ignored on CPU).
        channels_last: Use the channels-last memory format (CUDA only).
        log_every: Report progress every this many steps.
        cpu_threads: Threads torch may use while training on a CPU (restored afterwards).
            One suits the small default networks, whose ops are too small to split and which
            otherwise lose several-fold to thread contention on a shared machine; None leaves
            torch's setting alone.
    """

    method: Method = "weight_sharing"
    epochs: int = 10
    warmup_epochs: int = 1
    steps_per_member: int | None = None
    schedule: Schedule = "fair"
    batch_size: int = 64
    eval_batch_size: int = 256
    lr: float = 0.025
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    channels: int = 8
    cells_per_stage: int = 1
    calibration_batches: int = 4
    seed: int = 0
    amp: bool = True
    channels_last: bool = True
    log_every: int = 10
    cpu_threads: int | None = 1

    def __post_init__(self) -> None:
        try:
            check_maxima("", self, TRAIN_MAXIMA)
        except ValueError as error:
            raise TrainOptionsError(str(error)) from None
        if self.method not in METHODS:
            raise TrainOptionsError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.schedule not in SCHEDULES:
            raise TrainOptionsError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        positive = (
            "batch_size",
            "eval_batch_size",
            "channels",
            "cells_per_stage",
            "calibration_batches",
            "log_every",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise TrainOptionsError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("epochs", "warmup_epochs"):
            if getattr(self, name) < 0:
                raise TrainOptionsError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.cpu_threads is not None and self.cpu_threads < 1:
            raise TrainOptionsError(f"cpu_threads must be >= 1 when set, got {self.cpu_threads}")
        if self.steps_per_member is not None and self.steps_per_member < 1:
            raise TrainOptionsError(
                f"steps_per_member must be >= 1 when set, got {self.steps_per_member}"
            )
        if self.epochs == 0 and self.steps_per_member is None:
            raise TrainOptionsError("epochs must be >= 1 unless steps_per_member is set")
        for name in ("lr", "momentum", "weight_decay", "grad_clip"):
            if getattr(self, name) < 0:
                raise TrainOptionsError(f"{name} must be >= 0, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> TrainOptions:
        """Inverse of `to_dict`; missing keys take their defaults, unknown keys are an error."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(value) - known)
        if unknown:
            raise TrainOptionsError(
                f"unknown training options {unknown}; accepted: {', '.join(sorted(known))}"
            )
        try:
            return cls(**dict(value))
        except TypeError as error:
            raise TrainOptionsError(str(error)) from None
