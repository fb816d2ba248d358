"""Datasets for the trainers, read from local files (never downloaded) and held as tensors.

* `DatasetSpec` names a dataset and where its files lie; `load_dataset` turns it into a
  `Dataset`: uint8 images of the training part and of the validation part of the *training*
  data (the test split is never read), with per-channel statistics for normalisation.
* `digits` (scikit-learn's bundled 8x8 digits) needs no files; `cifar10` and `cifar100` read the
  official python batches through a restricted unpickler; `imagefolder` reads a directory of
  class folders.
* `TrainBatches` and `eval_batches` turn a `Dataset` into normalised float batches on a device,
  with random crop and flip written in torch operations.
"""

from __future__ import annotations

from workers.datasets.augment import normalise, random_crop, random_flip
from workers.datasets.base import (
    DATASET_NAMES,
    Augmentation,
    Dataset,
    DatasetSpec,
    split_train_val,
)
from workers.datasets.exceptions import (
    CorruptDatasetError,
    DatasetError,
    DatasetNotFoundError,
    DatasetSpecError,
    UnsafePickleError,
)
from workers.datasets.loader import TrainBatches, eval_batches
from workers.datasets.registry import load_dataset

__all__ = [
    "DATASET_NAMES",
    "Augmentation",
    "CorruptDatasetError",
    "Dataset",
    "DatasetError",
    "DatasetNotFoundError",
    "DatasetSpec",
    "DatasetSpecError",
    "TrainBatches",
    "UnsafePickleError",
    "eval_batches",
    "load_dataset",
    "normalise",
    "random_crop",
    "random_flip",
    "split_train_val",
]
