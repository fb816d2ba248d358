"""Evaluators that train: BONAS's weight-sharing trainer and stand-alone training.

The worker daemon calls one function:

    results = train_batch(space, archs, dataset, options, progress, should_stop, device)

which trains the batch as `options.method` says (`"weight_sharing"`: one supernet over the
union of the batch; `"standalone"`: each architecture from scratch, one after another) and
returns one `MemberResult` per architecture (metrics: `val_accuracy` in percent on the
validation part of the training data, `val_loss`, `train_loss`, `params`, and `flops` per
image from `workers.costs`). If `should_stop` returns True at any step, `TrainingStopped`
is raised and nothing is returned.

Data-parallel training of one batch over several GPUs of a host runs under `torchrun`; see
`workers.training.ddp`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import torch

from surrogate.spaces.base import SearchSpace
from workers.datasets import Dataset, DatasetSpec, load_dataset
from workers.training.batchnorm import recalibrate_batchnorm
from workers.training.distributed import DistributedContext
from workers.training.exceptions import TrainingError, TrainingStopped, TrainOptionsError
from workers.training.options import TrainOptions
from workers.training.results import MemberResult, TrainProgress
from workers.training.schedule import fair_schedule, member_schedule, random_schedule
from workers.training.trainer import (
    TrainingSession,
    plan_steps,
    train_standalone,
    train_weight_sharing,
)

A = TypeVar("A")

__all__ = [
    "DistributedContext",
    "MemberResult",
    "TrainOptions",
    "TrainOptionsError",
    "TrainProgress",
    "TrainingError",
    "TrainingSession",
    "TrainingStopped",
    "fair_schedule",
    "member_schedule",
    "plan_steps",
    "random_schedule",
    "recalibrate_batchnorm",
    "train_batch",
    "train_standalone",
    "train_weight_sharing",
]


def train_batch(
    space: SearchSpace[A],
    archs: Sequence[A],
    dataset: DatasetSpec | Dataset,
    options: TrainOptions = TrainOptions(),  # noqa: B008 (frozen, so sharing the default is safe)
    progress: Callable[[TrainProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    device: str = "cpu",
) -> list[MemberResult]:
    """Train and evaluate a batch of architectures of `space`.

    Args:
        space: The search space.
        archs: The batch (at least one architecture).
        dataset: A dataset, or the description of one to load from local files.
        options: How to train; `options.method` picks weight sharing or stand-alone training.
        progress: Receives a `TrainProgress` every `options.log_every` steps and at phase
            changes (called from the training thread; keep it quick).
        should_stop: Polled before every step; returning True aborts the batch.
        device: `"cpu"`, `"cuda"` or `"cuda:N"`.

    Returns:
        One `MemberResult` per architecture, in the order of `archs`.

    Raises:
        TrainingStopped: `should_stop` returned True.
        DatasetError: The dataset cannot be loaded.
        SupernetError: The space or an op is not supported.
        InvalidArchitectureError: An architecture is not in `space`.
    """
    if not archs:
        raise TrainingError("a batch needs at least one architecture")
    data = load_dataset(dataset) if isinstance(dataset, DatasetSpec) else dataset
    target = torch.device(device)
    if options.method == "weight_sharing":
        return train_weight_sharing(space, archs, data, options, target, progress, should_stop)
    results: list[MemberResult] = []
    for index, arch in enumerate(archs):
        report = _tagged(progress, index)
        results.append(train_standalone(space, arch, data, options, target, report, should_stop))
    return results


def _tagged(
    progress: Callable[[TrainProgress], None] | None, member: int
) -> Callable[[TrainProgress], None] | None:
    """Wrap `progress` so that reports from a stand-alone run name the batch member."""
    if progress is None:
        return None
    callback = progress

    def report(update: TrainProgress) -> None:
        callback(
            TrainProgress(
                update.phase, update.epoch, update.step, update.total_steps, update.loss, member
            )
        )

    return report
