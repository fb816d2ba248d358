"""The weight-sharing trainer (BONAS's method, with its code's defects fixed) and stand-alone
training.

`train_weight_sharing` builds one supernet over the union of a batch, optionally trains the
whole union for some warm-up epochs, then trains one member's path per step as the schedule
says (fair by default), and finally evaluates each member on the validation part of the
training data after recomputing its BatchNorm statistics. `train_standalone` trains one
architecture alone from scratch with the same machinery.

Everything random descends from `TrainOptions.seed` (initialisation in a forked global RNG, data
order and augmentation in a private generator, the schedule in a numpy generator), so a run is
reproducible bit for bit on a CPU.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from surrogate.spaces.base import SearchSpace
from workers.costs import member_flops
from workers.datasets.base import Dataset
from workers.datasets.loader import TrainBatches, calibration_images, eval_batches
from workers.latency import LatencyOptions, member_latency_metrics
from workers.supernets import Supernet, SupernetConfig, build_supernet
from workers.training.batchnorm import recalibrate_batchnorm
from workers.training.distributed import DistributedContext
from workers.training.exceptions import TrainingStopped
from workers.training.options import TrainOptions
from workers.training.results import MemberResult, TrainProgress
from workers.training.schedule import member_schedule

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[TrainProgress], None]
StopFlag = Callable[[], bool]

CALIBRATION_SEED_OFFSET = 1
"""The calibration images are drawn with `seed + 1`, apart from the training stream."""


@dataclass(frozen=True)
class StepPlan:
    """How many steps each phase takes.

    Attributes:
        steps_per_epoch: Full batches per pass over the training part.
        warmup_steps: Steps on the whole union.
        rounds_per_epoch: Steps each member gets per epoch of the member phase.
        rounds: Steps each member gets in all.
        member_steps: Steps of the member phase (`rounds * k`).
    """

    steps_per_epoch: int
    warmup_steps: int
    rounds_per_epoch: int
    rounds: int
    member_steps: int

    @property
    def total_steps(self) -> int:
        return self.warmup_steps + self.member_steps


def plan_steps(num_members: int, steps_per_epoch: int, options: TrainOptions) -> StepPlan:
    """Lay out warm-up and member phase for `num_members` members.

    An epoch of the member phase is as close to one pass over the data as whole rounds allow
    (at least one round), so that every member gets the same number of steps in every epoch.
    """
    warmup = options.warmup_epochs * steps_per_epoch if num_members > 1 else 0
    per_epoch = max(1, round(steps_per_epoch / num_members))
    if options.steps_per_member is not None:
        rounds = options.steps_per_member
    else:
        rounds = per_epoch * options.epochs
    return StepPlan(steps_per_epoch, warmup, per_epoch, rounds, rounds * num_members)


def supernet_config(dataset: Dataset, options: TrainOptions) -> SupernetConfig:
    return SupernetConfig(
        num_classes=dataset.num_classes,
        in_channels=dataset.in_channels,
        channels=options.channels,
        cells_per_stage=options.cells_per_stage,
    )


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run the block with the global torch RNG seeded, restoring the caller's state after."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def cpu_threads(threads: int | None, device: torch.device) -> Iterator[None]:
    """Run the block with torch limited to `threads` CPU threads (CPU devices only)."""
    if threads is None or device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class TrainingSession:
    """One supernet being trained and evaluated on one device (or one rank of a DDP group).

    Args:
        supernet: The network (moved to `device` here).
        dataset: Training and validation data.
        options: Training options.
        device: Where to train.
        progress: Receives `TrainProgress` reports (on every rank; filter by rank if needed).
        should_stop: Polled before every step; when it returns True, `TrainingStopped` is
            raised at that step boundary.
        distributed: This process's DDP context, or None for a single process.
    """

    def __init__(
        self,
        supernet: Supernet[Any],
        dataset: Dataset,
        options: TrainOptions,
        device: torch.device,
        progress: ProgressCallback | None = None,
        should_stop: StopFlag | None = None,
        distributed: DistributedContext | None = None,
    ) -> None:
        self.options = options
        self.dataset = dataset
        self.device = device
        self.progress = progress
        self.should_stop = should_stop
        self.distributed = distributed
        cuda = device.type == "cuda"
        self.autocast = options.amp and cuda
        self.memory_format = (
            torch.channels_last if cuda and options.channels_last else torch.contiguous_format
        )
        self.model = supernet.to(device).to(memory_format=self.memory_format)  # type: ignore[call-overload]
        self.trainable: nn.Module = distributed.wrap(self.model) if distributed else self.model
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=options.lr,
            momentum=options.momentum,
            weight_decay=options.weight_decay,
        )
        rank, world = (distributed.rank, distributed.world_size) if distributed else (0, 1)
        self.batches = TrainBatches(
            dataset, options.batch_size, device, options.seed, rank=rank, world_size=world
        )
        self.step = 0
        self.total_steps = 1
        self.steps_per_epoch = self.batches.steps_per_epoch

    # --- control ----------------------------------------------------------------------------

    def check_stop(self) -> None:
        """Raise `TrainingStopped` if the stop flag is up (on any rank, under DDP)."""
        flag = self.should_stop is not None and self.should_stop()
        if self.distributed is not None:
            flag = self.distributed.any(flag)
        if flag:
            raise TrainingStopped(f"stopped at step {self.step} of {self.total_steps}")

    def report(self, phase: str, epoch: int, loss: torch.Tensor | None, member: int | None) -> None:
        if self.progress is None:
            return
        value = None if loss is None else float(loss.item())
        self.progress(TrainProgress(phase, epoch, self.step, self.total_steps, value, member))

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.autocast:
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _input(self, X: torch.Tensor) -> torch.Tensor:
        return X.contiguous(memory_format=self.memory_format)

    # --- training ---------------------------------------------------------------------------

    def train_step(self, arch: Any) -> torch.Tensor:
        """One SGD step of `arch`'s path (the union when `arch` is None); returns the loss."""
        self.check_stop()
        lr = 0.5 * self.options.lr * (1.0 + math.cos(math.pi * self.step / self.total_steps))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        X, y = next(self.batches)
        self.model.train()
        with self._autocast():
            logits = self.trainable(self._input(X), arch)
        loss = F.cross_entropy(logits.float(), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        if self.options.grad_clip > 0:
            nn.utils.clip_grad_norm_(
                [p for p in self.model.parameters() if p.grad is not None],
                self.options.grad_clip,
            )
        self.optimizer.step()
        self.step += 1
        return loss.detach()

    def warm_up(self, steps: int) -> None:
        """Train the whole union (every op of every edge) for `steps` steps."""
        for _ in range(steps):
            loss = self.train_step(None)
            if self.step % self.options.log_every == 0 or self.step == steps:
                self.report("warmup", (self.step - 1) // self.steps_per_epoch, loss, None)

    def train_members(
        self, members: Sequence[Any], schedule: Sequence[int], last_epoch_steps: int
    ) -> list[float]:
        """Train members' paths in `schedule` order.

        Returns:
            Per member, the mean loss of its last `last_epoch_steps` steps.
        """
        recent = [collections.deque[torch.Tensor](maxlen=last_epoch_steps) for _ in members]
        start = self.step
        epoch_length = max(1, last_epoch_steps * len(members))
        warmup_epochs = start // self.steps_per_epoch if start else 0
        for index, member in enumerate(schedule):
            loss = self.train_step(members[member])
            recent[member].append(loss)
            if self.step % self.options.log_every == 0 or index == len(schedule) - 1:
                epoch = warmup_epochs + index // epoch_length
                self.report("train", epoch, loss, member)
        means = torch.stack([torch.stack(list(r)).mean() for r in recent])
        if self.distributed is not None:
            means = self.distributed.sum(means) / self.distributed.world_size
        return [float(v) for v in means.tolist()]

    # --- evaluation -------------------------------------------------------------------------

    def calibrate(self, arch: Any, images: Sequence[torch.Tensor]) -> None:
        """Recompute BatchNorm statistics along `arch`'s path on `images`."""

        def forward(X: torch.Tensor) -> object:
            with self._autocast():
                return self.model(self._input(X), arch)

        recalibrate_batchnorm(self.model, forward, images, self.check_stop)

    @torch.no_grad()
    def evaluate(self, arch: Any) -> tuple[float, float]:
        """Accuracy (percent) and mean cross-entropy of `arch` on the validation part."""
        images, labels = self.dataset.val_images, self.dataset.val_labels
        if self.distributed is not None:
            world, rank = self.distributed.world_size, self.distributed.rank
            images = torch.tensor_split(images, world)[rank]
            labels = torch.tensor_split(labels, world)[rank]
        self.model.eval()
        totals = torch.zeros(3, dtype=torch.float64, device=self.device)
        batches = eval_batches(
            self.dataset, images, labels, self.options.eval_batch_size, self.device
        )
        for X, y in batches:
            self.check_stop()
            with self._autocast():
                logits = self.model(self._input(X), arch).float()
            totals[0] += (logits.argmax(dim=1) == y).sum()
            totals[1] += F.cross_entropy(logits, y, reduction="sum")
            totals[2] += y.shape[0]
        if self.distributed is not None:
            totals = self.distributed.sum(totals)
        correct, loss_sum, count = (float(v) for v in totals.tolist())
        return 100.0 * correct / count, loss_sum / count


def _unique(space: SearchSpace[Any], archs: Sequence[Any]) -> tuple[list[Any], list[int]]:
    """Distinct architectures by key, and for each input the index of its distinct one."""
    index: dict[str, int] = {}
    unique: list[Any] = []
    where: list[int] = []
    for arch in archs:
        key = space.key(arch)
        if key not in index:
            index[key] = len(unique)
            unique.append(arch)
        where.append(index[key])
    return unique, where


def train_weight_sharing(
    space: SearchSpace[Any],
    archs: Sequence[Any],
    dataset: Dataset,
    options: TrainOptions,
    device: torch.device | str = "cpu",
    progress: ProgressCallback | None = None,
    should_stop: StopFlag | None = None,
    distributed: DistributedContext | None = None,
) -> list[MemberResult]:
    """Train a batch jointly in one supernet and evaluate every member.

    Args:
        space: The search space of `archs`.
        archs: The batch (duplicates by key are trained once and reported for each copy).
        dataset: Training and validation data.
        options: Training options (`options.method` is not consulted here).
        device: Where to train (ignored under DDP, where the context's device is used).
        progress: Receives progress reports.
        should_stop: Polled before every step.
        distributed: DDP context when running under `torchrun`.

    Returns:
        One `MemberResult` per input architecture, in input order.

    Raises:
        TrainingStopped: `should_stop` returned True; no results are returned.
    """
    device = distributed.device if distributed is not None else torch.device(device)
    members, where = _unique(space, archs)
    started = time.perf_counter()
    with seeded(options.seed, device), cpu_threads(options.cpu_threads, device):
        supernet = build_supernet(space, members, supernet_config(dataset, options))
        session = TrainingSession(
            supernet, dataset, options, device, progress, should_stop, distributed
        )
        plan = plan_steps(len(members), session.steps_per_epoch, options)
        session.total_steps = max(1, plan.total_steps)
        rng = np.random.default_rng(options.seed)
        schedule = member_schedule(options.schedule, len(members), plan.rounds, rng)
        logger.info(
            "training %d members: %d warm-up steps, %d member steps (%d each)",
            len(members),
            plan.warmup_steps,
            plan.member_steps,
            plan.rounds,
        )
        session.warm_up(plan.warmup_steps)
        train_losses = session.train_members(members, schedule, plan.rounds_per_epoch)
        batch_train_s = time.perf_counter() - started
        results = _evaluate_all(session, space, members, train_losses, batch_train_s)
    return [results[i] for i in where]


def _evaluate_all(
    session: TrainingSession,
    space: SearchSpace[Any],
    members: Sequence[Any],
    train_losses: Sequence[float],
    batch_train_s: float,
) -> list[MemberResult]:
    options = session.options
    images = calibration_images(
        session.dataset,
        options.eval_batch_size,
        options.calibration_batches,
        session.device,
        options.seed + CALIBRATION_SEED_OFFSET,
    )
    epoch = session.step // session.steps_per_epoch
    results: list[MemberResult] = []
    for index, arch in enumerate(members):
        session.report("calibrate", epoch, None, index)
        started = time.perf_counter()
        session.calibrate(arch, images)
        calibrated = time.perf_counter()
        session.report("evaluate", epoch, None, index)
        accuracy, loss = session.evaluate(arch)
        evaluated = time.perf_counter()
        metrics = {
            "val_accuracy": accuracy,
            "val_loss": loss,
            "train_loss": train_losses[index],
            "params": float(session.model.count_parameters(arch)),
            "flops": member_flops(space, arch, session.model.config, session.dataset.image_shape),
        }
        timings = {
            "train_s": batch_train_s / len(members),
            "batch_train_s": batch_train_s,
            "calibrate_s": calibrated - started,
            "eval_s": evaluated - calibrated,
        }
        if _measures_latency(session):
            session.report("latency", epoch, None, index)
            metrics.update(_latency_metrics(session, arch))
            timings["latency_s"] = time.perf_counter() - evaluated
        results.append(
            MemberResult(key=space.key(arch), arch=arch, metrics=metrics, timings=timings)
        )
    return results


def _measures_latency(session: TrainingSession) -> bool:
    """Whether this process times the members: when asked, and on rank 0 alone under DDP
    (the ranks share one member at a time; timing it on every GPU at once would only make the
    numbers contend with each other, and rank 0's results are the ones reported)."""
    if not session.options.measure_latency:
        return False
    return session.distributed is None or session.distributed.is_main


def _latency_metrics(session: TrainingSession, arch: Any) -> dict[str, float]:
    """`arch`'s stand-alone network timed on the session's device (`workers.latency`), at batch
    1 and at `latency_batch_size`, at the training data's image size."""
    second = session.options.latency_batch_size
    sizes = (1,) if second == 1 else (1, second)
    shape = (session.dataset.in_channels, *session.dataset.image_shape)
    network = session.model.alone(arch)
    return member_latency_metrics(network, shape, session.device, LatencyOptions(batch_sizes=sizes))


def train_standalone(
    space: SearchSpace[Any],
    arch: Any,
    dataset: Dataset,
    options: TrainOptions,
    device: torch.device | str = "cpu",
    progress: ProgressCallback | None = None,
    should_stop: StopFlag | None = None,
    distributed: DistributedContext | None = None,
) -> MemberResult:
    """Train one architecture from scratch, alone, and evaluate it.

    The network is the space's supernet built from `arch` alone (so it holds exactly `arch`'s
    ops), trained for `options.epochs` passes over the data (or `steps_per_member` steps);
    warm-up does not apply.
    """
    (result,) = train_weight_sharing(
        space, [arch], dataset, options, device, progress, should_stop, distributed
    )
    return result
