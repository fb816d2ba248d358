"""`DatasetSpec` (what to load), `Dataset` (what was loaded) and the train/validation split.

Images are held as uint8 tensors of shape `(N, C, H, W)`: a CIFAR-10 training set is 150 MB that
way instead of 600 MB as floats, and it moves to a GPU once. Conversion to normalised floats,
and augmentation, happen per batch on the device (`workers.datasets.loader`).

Searches never see a test split: the loaders read only the training files, and the validation
part on which members are ranked is carved out of those (as NAS-Bench-201's `cifar10-valid`
does), so that the final test accuracy of a chosen architecture stays unbiased.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from workers.datasets.exceptions import CorruptDatasetError, DatasetSpecError

DATASET_NAMES = ("digits", "cifar10", "cifar100", "imagefolder")
"""Dataset names that `DatasetSpec.name` accepts."""


@dataclass(frozen=True)
class Augmentation:
    """Training-time augmentation: random crop after zero padding, then optional flip.

    Attributes:
        padding: Pixels of zero padding on each side before a random crop back to the original
            size (0 disables cropping).
        flip: Whether to flip images horizontally with probability 1/2 (off for digits, whose
            mirror images are other symbols).
    """

    padding: int = 0
    flip: bool = False

    def __post_init__(self) -> None:
        if self.padding < 0:
            raise DatasetSpecError(f"augmentation padding must be >= 0, got {self.padding}")


NO_AUGMENTATION = Augmentation()


@dataclass(frozen=True)
class DatasetSpec:
    """Which dataset to load and how to split it; plain data, so it travels in JSON.

    Attributes:
        name: One of `DATASET_NAMES`.
        root: Directory holding the files (`cifar-10-batches-py` or its parent for CIFAR-10,
            `cifar-100-python` or its parent for CIFAR-100, the class folders for
            `imagefolder`); unused for `digits`.
        val_fraction: Share of the training data held out, per class, for validation.
        split_seed: Seed of the split. Part of the dataset's identity: every batch of a search
            should use the same split so that estimates are comparable.
        max_train: If set, keep only this many training images (a stratified subset, for quick
            runs); the validation part is unaffected.
        image_size: `imagefolder` only: resize every image to this square size (needed when
            the images differ in size).
        augment: Whether training batches are augmented (crop and, where sensible, flip).
    """

    name: str = "digits"
    root: str | None = None
    val_fraction: float = 0.25
    split_seed: int = 0
    max_train: int | None = None
    image_size: int | None = None
    augment: bool = True

    def __post_init__(self) -> None:
        if self.name not in DATASET_NAMES:
            raise DatasetSpecError(
                f"unknown dataset {self.name!r}; accepted: {', '.join(DATASET_NAMES)}"
            )
        if self.name != "digits" and not self.root:
            raise DatasetSpecError(f"dataset {self.name!r} needs a root directory")
        if not 0.0 < self.val_fraction < 1.0:
            raise DatasetSpecError(
                f"val_fraction must lie strictly between 0 and 1, got {self.val_fraction}"
            )
        if self.max_train is not None and self.max_train < 1:
            raise DatasetSpecError(f"max_train must be positive, got {self.max_train}")
        if self.image_size is not None and self.image_size < 1:
            raise DatasetSpecError(f"image_size must be positive, got {self.image_size}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> DatasetSpec:
        """Inverse of `to_dict`; unknown keys are an error (a typo must not pass silently)."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(value) - known)
        if unknown:
            raise DatasetSpecError(
                f"unknown dataset fields {unknown}; accepted: {', '.join(sorted(known))}"
            )
        return cls(**dict(value))


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled image dataset split into a training part and a validation part.

    Attributes:
        name: Human-readable name (for logs and results).
        train_images: `(N_train, C, H, W)` uint8.
        train_labels: `(N_train,)` int64 in `[0, num_classes)`.
        val_images: `(N_val, C, H, W)` uint8.
        val_labels: `(N_val,)` int64.
        num_classes: Number of classes.
        mean: Per-channel mean of the training images, on the `[0, 1]` scale.
        std: Per-channel standard deviation of the training images, on the `[0, 1]` scale.
        augmentation: What `TrainBatches` applies to training batches.
    """

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augmentation: Augmentation = field(default=NO_AUGMENTATION)

    def __post_init__(self) -> None:
        for part in ("train", "val"):
            images: torch.Tensor = getattr(self, f"{part}_images")
            labels: torch.Tensor = getattr(self, f"{part}_labels")
            if images.dtype != torch.uint8 or images.dim() != 4:
                raise DatasetSpecError(
                    f"{part}_images must be a uint8 tensor (N, C, H, W), got {images.dtype} "
                    f"of shape {tuple(images.shape)}"
                )
            if labels.dtype != torch.int64 or labels.shape != (images.shape[0],):
                raise DatasetSpecError(
                    f"{part}_labels must be int64 of shape ({images.shape[0]},), got "
                    f"{labels.dtype} of shape {tuple(labels.shape)}"
                )
        if self.train_images.shape[1:] != self.val_images.shape[1:]:
            raise DatasetSpecError("training and validation images differ in shape")
        if self.num_train == 0 or self.num_val == 0:
            raise DatasetSpecError("both the training and the validation part must be non-empty")
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels:
            raise DatasetSpecError("mean and std need one value per channel")

    @property
    def in_channels(self) -> int:
        return int(self.train_images.shape[1])

    @property
    def image_shape(self) -> tuple[int, int]:
        return int(self.train_images.shape[2]), int(self.train_images.shape[3])

    @property
    def num_train(self) -> int:
        return int(self.train_images.shape[0])

    @property
    def num_val(self) -> int:
        return int(self.val_images.shape[0])

    @classmethod
    def from_arrays(
        cls,
        name: str,
        images: np.ndarray,
        labels: np.ndarray,
        num_classes: int,
        spec: DatasetSpec,
        augmentation: Augmentation,
    ) -> Dataset:
        """Split full training data by `spec` and compute its statistics.

        Args:
            name: Dataset name.
            images: `(N, C, H, W)` uint8.
            labels: `(N,)` integers in `[0, num_classes)`.
            num_classes: Number of classes.
            spec: Supplies the validation fraction, the split seed and `max_train`.
            augmentation: Used when `spec.augment` is true.
        """
        train_index, val_index = split_train_val(labels, spec.val_fraction, spec.split_seed)
        if spec.max_train is not None and spec.max_train < len(train_index):
            subset = stratified_subset(labels[train_index], spec.max_train, spec.split_seed)
            train_index = train_index[subset]
        train_images = torch.from_numpy(np.ascontiguousarray(images[train_index]))
        mean, std = channel_statistics(train_images)
        return cls(
            name=name,
            train_images=train_images,
            train_labels=torch.from_numpy(labels[train_index].astype(np.int64)),
            val_images=torch.from_numpy(np.ascontiguousarray(images[val_index])),
            val_labels=torch.from_numpy(labels[val_index].astype(np.int64)),
            num_classes=num_classes,
            mean=mean,
            std=std,
            augmentation=augmentation if spec.augment else NO_AUGMENTATION,
        )


def split_train_val(
    labels: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split: from each class, a seeded random `val_fraction` goes to validation.

    Every class with at least two examples keeps one in each part, so that a tiny dataset still
    trains and validates on every class.

    Returns:
        Sorted index arrays `(train_index, val_index)`.
    """
    rng = np.random.default_rng(seed)
    train: list[np.ndarray] = []
    val: list[np.ndarray] = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        members = members[rng.permutation(len(members))]
        n_val = round(val_fraction * len(members))
        if len(members) >= 2:
            n_val = min(max(n_val, 1), len(members) - 1)
        val.append(members[:n_val])
        train.append(members[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def stratified_subset(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Sorted indices of exactly `count` examples, classes kept in proportion (up to rounding).

    Rounding per class can miss the total by a few; the shortfall or excess is settled with
    seeded random examples.
    """
    _, kept = split_train_val(labels, count / len(labels), seed)
    rng = np.random.default_rng(seed)
    if len(kept) > count:
        kept = rng.choice(kept, size=count, replace=False)
    elif len(kept) < count:
        rest = np.setdiff1d(np.arange(len(labels)), kept)
        kept = np.concatenate([kept, rng.choice(rest, size=count - len(kept), replace=False)])
    return np.sort(kept)


def channel_statistics(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images `(N, C, H, W)` on `[0, 1]`."""
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    count = 0
    for start in range(0, images.shape[0], 4096):
        chunk = images[start : start + 4096].to(torch.float64) / 255.0
        total += chunk.sum(dim=(0, 2, 3))
        total_sq += chunk.square().sum(dim=(0, 2, 3))
        count += chunk.shape[0] * chunk.shape[2] * chunk.shape[3]
    mean = total / count
    var = (total_sq / count - mean.square()).clamp_min(0.0)
    std = var.sqrt().clamp_min(1e-3)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def check_labels(labels: np.ndarray, num_classes: int, source: str) -> None:
    """Raise `CorruptDatasetError` if labels fall outside `[0, num_classes)`."""
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise CorruptDatasetError(
            f"{source}: labels must lie in [0, {num_classes}), found "
            f"{int(labels.min())}..{int(labels.max())}"
        )
