"""`TrainingOptions`: how a training evaluator trains a batch, as the search and the lease carry it.

One typed model, shared by both sides: the service validates a search's ``evaluator.train``
against it once, at submission (a bad option is a 422 naming it), stores it, and sends it in
every lease; the worker's parse of the lease is this model's validation, so the trainer gets a
typed object and there is no second parser to drift from the first. The OpenAPI schema shows
every field with its bounds.

The seed and the method are not options: the search sets them (the seed from the search's
``seed`` and the batch, the method from the evaluator's ``kind``), so they are refused here;
`workers.training.TrainOptions` adds them for the trainer.

The defaults train a batch of about ten NAS-Bench-201 members on the digits on a small CPU in
seconds (narrow network, one cell per stage, a few hundred steps); GPU runs on CIFAR raise
`channels`, `cells_per_stage`, `epochs` and `batch_size`. The optimiser settings are BONAS's:
SGD with lr 0.025, momentum 0.9, weight decay 3e-4, cosine decay, gradient norm clipped at 5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, GetCoreSchemaHandler, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from protocol.base import Message

Schedule = Literal["fair", "random"]

TRAINING_MAXIMA: dict[str, int] = {
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
    "latency_batch_size": 1_024,
}
"""Largest accepted value of each count (docs/limits.md): a search's training options come from
its submitter, and these bound what one batch may ask of a worker."""

SET_BY_THE_SEARCH = ("seed", "method")
"""Trainer settings a search fixes itself, which its options may not name."""


@dataclass(frozen=True)
class _AtMost:
    """Field metadata: refuse a count above its `TRAINING_MAXIMA` entry, and show the maximum.

    The refusal reads as every other option's in the service (``channels is 512, above its
    maximum of 256``, as `surrogate.limits.check_maxima` words it), and the OpenAPI schema
    gets the bound as ``maximum``.
    """

    name: str

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["maximum"] = TRAINING_MAXIMA[self.name]
        return json_schema

    def _check(self, value: int) -> int:
        maximum = TRAINING_MAXIMA[self.name]
        if value > maximum:
            raise ValueError(
                f"{self.name} is {value}, above its maximum of {maximum:,}; "
                "the limits are listed in docs/limits.md"
            )
        return value


_Rate = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class TrainingOptions(Message):
    """How to train and evaluate a batch of architectures (every field has a default).

    Attributes:
        epochs: Length of the member phase in passes over the training data. With weight
            sharing the passes are shared among the `k` members (each gets about `1/k` of the
            steps, rounded so that all get the same number per epoch); stand-alone, each
            architecture gets them all. 0 only with `steps_per_member`.
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
        amp: Use bfloat16 autocast (CUDA only; ignored on CPU).
        channels_last: Use the channels-last memory format (CUDA only).
        log_every: Report progress every this many steps.
        cpu_threads: Threads torch may use while training on a CPU (restored afterwards).
            One suits the small default networks, whose ops are too small to split and which
            otherwise lose several-fold to thread contention on a shared machine; None leaves
            torch's setting alone.
        measure_latency: Time each member's stand-alone network on the worker's device after
            it is evaluated (`workers.latency`, docs/costs-measured.md), and report
            ``latency_ms_b1``, ``latency_p90_ms_b1``, ``latency_ms_b<N>`` and
            ``latency_p90_ms_b<N>`` (milliseconds; N is `latency_batch_size`) among its
            metrics, to constrain or optimise on. Off by default: it adds
            ``25 * 2`` forwards per member.
        latency_batch_size: The second (throughput) batch size timed when `measure_latency`
            is set (the first is always 1; 1 here times batch 1 alone); keep it small on CPU
            workers.
    """

    refused_names: ClassVar[tuple[str, ...]] = SET_BY_THE_SEARCH
    """Names refused with "set by the search" (the trainer's subclass accepts them)."""

    epochs: Annotated[int, Field(ge=0), _AtMost("epochs")] = 10
    warmup_epochs: Annotated[int, Field(ge=0), _AtMost("warmup_epochs")] = 1
    steps_per_member: Annotated[int, Field(ge=1), _AtMost("steps_per_member")] | None = None
    schedule: Schedule = "fair"
    batch_size: Annotated[int, Field(ge=1), _AtMost("batch_size")] = 64
    eval_batch_size: Annotated[int, Field(ge=1), _AtMost("eval_batch_size")] = 256
    lr: _Rate = 0.025
    momentum: _Rate = 0.9
    weight_decay: _Rate = 3e-4
    grad_clip: _Rate = 5.0
    channels: Annotated[int, Field(ge=1), _AtMost("channels")] = 8
    cells_per_stage: Annotated[int, Field(ge=1), _AtMost("cells_per_stage")] = 1
    calibration_batches: Annotated[int, Field(ge=1), _AtMost("calibration_batches")] = 4
    amp: bool = True
    channels_last: bool = True
    log_every: Annotated[int, Field(ge=1), _AtMost("log_every")] = 10
    cpu_threads: Annotated[int, Field(ge=1), _AtMost("cpu_threads")] | None = 1
    measure_latency: bool = False
    latency_batch_size: Annotated[int, Field(ge=1), _AtMost("latency_batch_size")] = 64

    @model_validator(mode="before")
    @classmethod
    def _known_names(cls, value: Any) -> Any:
        # Before the fields, so that a misspelt or reserved name gets a message that says what
        # is accepted rather than pydantic's bare "extra inputs are not permitted".
        if not isinstance(value, dict):
            return value
        for name in cls.refused_names:
            if name in value:
                raise ValueError(
                    f"train.{name} is set by the search (the seed from `seed`, the method from "
                    "the evaluator kind); remove it"
                )
        unknown = sorted(set(value) - set(cls.model_fields))
        if unknown:
            accepted = ", ".join(n for n in cls.model_fields if n not in cls.refused_names)
            raise ValueError(f"unknown training options {unknown}; accepted: {accepted}")
        return value

    @model_validator(mode="after")
    def _some_training(self) -> TrainingOptions:
        if self.epochs == 0 and self.steps_per_member is None:
            raise ValueError("epochs must be >= 1 unless steps_per_member is set")
        return self


__all__ = ["SET_BY_THE_SEARCH", "TRAINING_MAXIMA", "Schedule", "TrainingOptions"]
