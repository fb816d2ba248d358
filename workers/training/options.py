"""`TrainOptions`: the trainer's configuration, a search's `TrainingOptions` plus method and seed.

The options themselves (fields, defaults, bounds, rules) are defined once, in
`protocol.training.TrainingOptions`, which the service validates at submission and the worker
receives, already validated, in the lease. The trainer needs two more settings that the search
fixes rather than its submitter: the method (from the evaluator's kind) and the seed (from the
lease). `TrainOptions` is that model with those two fields added, and `TrainOptions.for_batch` is
the whole conversion; nothing here parses options a second time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, ValidationError

from protocol.training import TRAINING_MAXIMA, TrainingOptions
from surrogate.limits import SEED_MAX
from workers.training.exceptions import TrainOptionsError

Method = Literal["weight_sharing", "standalone"]

TRAIN_MAXIMA: dict[str, float] = {**TRAINING_MAXIMA, "seed": SEED_MAX}
"""Largest accepted value of each count of `TrainOptions` (docs/limits.md): those of
`protocol.training.TRAINING_MAXIMA`, and the seed's."""


class TrainOptions(TrainingOptions):
    """How to train and evaluate one batch: the search's options, the method and the seed.

    Construct it directly in code that trains without a search (tests, benchmarks); a worker
    builds it with `for_batch` from the lease. Invalid values raise pydantic's
    `ValidationError` (a `ValueError`) naming the field; `from_dict` raises
    `TrainOptionsError`.

    Attributes:
        method: `"weight_sharing"` trains the batch jointly in one supernet (BONAS's method);
            `"standalone"` trains each architecture from scratch on its own (to confirm a pick).
        seed: Seeds initialisation, data order, augmentation and the schedule.
    """

    refused_names: ClassVar[tuple[str, ...]] = ()

    method: Method = "weight_sharing"
    seed: Annotated[int, Field(ge=0, le=SEED_MAX)] = 0

    @classmethod
    def for_batch(cls, options: TrainingOptions, method: str, seed: int) -> TrainOptions:
        """The trainer's configuration of one batch: `options` with `method` and `seed`.

        Raises:
            pydantic.ValidationError: `method` is not one of `Method`, or `seed` is out of range.
        """
        return cls.model_validate({**options.model_dump(), "method": method, "seed": seed})

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain data (what `from_dict` reads back; DDP sends it to its ranks)."""
        return self.model_dump()

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> TrainOptions:
        """Inverse of `to_dict`; missing keys take their defaults, unknown keys are an error.

        Raises:
            TrainOptionsError: A name is unknown or a value out of range (the message says
                which).
        """
        try:
            return cls.model_validate(dict(value))
        except ValidationError as error:
            raise TrainOptionsError(str(error)) from None


__all__ = ["TRAIN_MAXIMA", "Method", "TrainOptions"]
