"""`load_dataset`: from a `DatasetSpec` to a loaded, split `Dataset`."""

from __future__ import annotations

from collections.abc import Callable

from workers.datasets.base import Dataset, DatasetSpec
from workers.datasets.cifar import load_cifar10, load_cifar100
from workers.datasets.digits import load_digits
from workers.datasets.imagefolder import load_imagefolder

_LOADERS: dict[str, Callable[[DatasetSpec], Dataset]] = {
    "digits": load_digits,
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "imagefolder": load_imagefolder,
}


def load_dataset(spec: DatasetSpec) -> Dataset:
    """Read the dataset that `spec` names from local files (digits: from scikit-learn).

    Raises:
        DatasetNotFoundError: Its files are missing.
        CorruptDatasetError: A file is damaged (`UnsafePickleError` for a malicious pickle).
    """
    return _LOADERS[spec.name](spec)
