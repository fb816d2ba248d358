"""What the two training evaluators share: turning a lease into a `train_batch` call.

`workers.training.train_batch` does the work; this module translates in both directions:
the wire's dataset into the trainer's (resolving paths on this machine) and its training options,
already validated as part of the lease (`protocol.TrainingOptions`), into the trainer's
configuration (adding the method and the lease's seed); the trainer's progress into heartbeat
progress, and its per-member results into `MemberReport`s. Loaded datasets are kept between
batches, since a search trains every batch on the same data.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from protocol import (
    DatasetSpec,
    EvaluatorKind,
    Lease,
    MemberReport,
    Progress,
    StandaloneEvaluatorSpec,
    WeightSharingEvaluatorSpec,
)
from surrogate.exceptions import SurrogateError
from workers.datasets import Dataset, DatasetError, load_dataset
from workers.datasets import DatasetSpec as LoaderSpec
from workers.evaluators.base import (
    Evaluator,
    EvaluatorContext,
    ProgressCallback,
    SpaceCache,
    StopCheck,
    parse_members,
)
from workers.exceptions import EvaluationError, EvaluationStoppedError
from workers.supernets.exceptions import SupernetError
from workers.training import (
    MemberResult,
    TrainingError,
    TrainingStopped,
    TrainOptions,
    TrainProgress,
    train_batch,
)

TrainingSpec = WeightSharingEvaluatorSpec | StandaloneEvaluatorSpec


class TrainedEvaluator(Evaluator):
    """Evaluates a batch by training it; subclasses fix the method and the default fidelity."""

    default_fidelity: str

    def __init__(
        self, context: EvaluatorContext, spaces: SpaceCache | None = None, max_datasets: int = 2
    ) -> None:
        super().__init__(context)
        self._spaces = spaces or SpaceCache()
        self._datasets: OrderedDict[LoaderSpec, Dataset] = OrderedDict()
        self._max_datasets = max_datasets
        self._lock = threading.Lock()

    def evaluate(
        self, lease: Lease, progress: ProgressCallback, should_stop: StopCheck
    ) -> list[MemberReport]:
        spec = lease.evaluator
        if not isinstance(spec, TrainingSpec) or spec.kind is not self.kind:
            raise EvaluationError(
                f"the {self.kind.value} evaluator cannot run a {spec.kind.value} batch"
            )
        space = self._spaces.get(lease.space)
        archs = parse_members(space, lease)
        options = self.train_options(spec, lease.seed)
        dataset = self.dataset(spec.dataset)
        keys = [m.key for m in lease.members]

        def forward(update: TrainProgress) -> None:
            member = keys[update.member] if update.member is not None else None
            progress(
                Progress(
                    phase=update.phase,
                    epoch=update.epoch,
                    step=update.step,
                    total_steps=update.total_steps,
                    loss=update.loss,
                    member=member,
                )
            )

        try:
            results = train_batch(
                space, archs, dataset, options, forward, should_stop, self.context.device
            )
        except TrainingStopped as stopped:
            raise EvaluationStoppedError(str(stopped)) from stopped
        except (TrainingError, SupernetError, SurrogateError) as error:
            raise EvaluationError(f"training failed: {error}") from error
        if [r.key for r in results] != keys:
            raise EvaluationError("the trainer returned results for other members than asked")
        fidelity = spec.fidelity or self.default_fidelity
        return [self._report(r, spec.objective_metric, fidelity) for r in results]

    def train_options(self, spec: TrainingSpec, seed: int) -> TrainOptions:
        """The spec's training options, with this evaluator's method and the lease's seed.

        The options were validated when the lease was parsed; only the seed is new here, and
        the lease's model bounds it too.
        """
        return TrainOptions.for_batch(spec.train, self.kind.value, seed)

    def dataset(self, spec: DatasetSpec) -> Dataset:
        """The dataset a spec names, loaded once and kept for the next batches.

        Raises:
            EvaluationError: The spec is malformed, or the files are missing or corrupt.
        """
        root = str(self.context.resolve(spec.path)) if spec.path else None
        try:
            loader_spec = LoaderSpec.from_dict({"name": spec.name, "root": root, **spec.options})
        except (DatasetError, TypeError, ValueError) as error:
            raise EvaluationError(f"bad dataset description: {error}") from error
        with self._lock:
            if loader_spec in self._datasets:
                self._datasets.move_to_end(loader_spec)
                return self._datasets[loader_spec]
        try:
            dataset = load_dataset(loader_spec)
        except (DatasetError, OSError) as error:
            raise EvaluationError(f"cannot load dataset {spec.name!r}: {error}") from error
        with self._lock:
            self._datasets[loader_spec] = dataset
            while len(self._datasets) > self._max_datasets:
                self._datasets.popitem(last=False)
        return dataset

    def _report(self, result: MemberResult, objective_metric: str, fidelity: str) -> MemberReport:
        metrics = _finite(result.metrics)
        timings = {k: v for k, v in _finite(result.timings).items() if v >= 0}
        if objective_metric not in result.metrics:
            raise EvaluationError(
                f"the trainer measured no {objective_metric!r}; it measured {sorted(metrics)}"
            )
        objective = float(result.metrics[objective_metric])
        if not math.isfinite(objective):
            return MemberReport(
                key=result.key,
                status="failed",
                metrics=metrics,
                fidelity=fidelity,
                evaluator=self.kind,
                timings=timings,
                error=f"{objective_metric} is not finite (training diverged)",
            )
        return MemberReport(
            key=result.key,
            metrics=metrics,
            objective=objective,
            fidelity=fidelity,
            evaluator=self.kind,
            timings=timings,
        )


def _finite(values: Mapping[str, Any]) -> dict[str, float]:
    """The finite numeric entries of `values` (NaN and infinities cannot travel in JSON)."""
    finite = {}
    for name, value in values.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            finite[name] = number
    return finite


__all__ = ["EvaluatorKind", "TrainedEvaluator"]
