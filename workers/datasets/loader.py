"""Batches of a `Dataset` on a device: an endless augmented training stream, and plain passes.

Everything stays in tensors on the target device (no worker processes, no PIL per image): the
datasets used here fit in memory, and a CIFAR-10 epoch then costs a few index operations.

For data-parallel training each process builds the same `TrainBatches` with the same seed and
takes its own contiguous shard of every global batch (`rank`, `world_size`), so the union of the
shards is exactly the batch that one process would have drawn.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from workers.datasets.augment import normalise, random_crop, random_flip
from workers.datasets.base import Dataset


class TrainBatches:
    """Endless stream of shuffled, augmented, normalised training batches.

    Each pass over the training part uses a fresh permutation; a pass ends when fewer than
    `batch_size` images remain (those wait for the next pass, so every batch is full).

    Args:
        dataset: Source of images, labels, statistics and augmentation.
        batch_size: Global batch size (over all processes).
        device: Where batches are placed.
        seed: Seeds shuffling and augmentation.
        rank: This process's index among `world_size` data-parallel processes.
        world_size: Number of data-parallel processes.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        device: torch.device | str,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < world_size:
            raise ValueError(f"batch size {batch_size} is smaller than world size {world_size}")
        self.dataset = dataset
        self.device = torch.device(device)
        self.batch_size = min(batch_size, dataset.num_train)
        self.rank = rank
        self.world_size = world_size
        self.images = dataset.train_images.to(self.device)
        self.labels = dataset.train_labels.to(self.device)
        self.generator = torch.Generator().manual_seed(seed)
        self._order = torch.empty(0, dtype=torch.int64)
        self._position = 0

    @property
    def steps_per_epoch(self) -> int:
        """Full batches in one pass over the training part."""
        return max(1, self.dataset.num_train // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This process's shard of the next global batch: `(X, y)`, `X` float32 `(b, C, H, W)`."""
        if self._position + self.batch_size > len(self._order):
            self._order = torch.randperm(self.dataset.num_train, generator=self.generator)
            self._position = 0
        index = self._order[self._position : self._position + self.batch_size]
        self._position += self.batch_size
        index = index.to(self.device)
        X = normalise(self.images[index], self.dataset.mean, self.dataset.std, torch.float32)
        augmentation = self.dataset.augmentation
        # Draw the random numbers for the whole global batch on every rank, then shard, so that
        # every process consumes its generator identically.
        X = random_crop(X, augmentation.padding, self.generator)
        if augmentation.flip:
            X = random_flip(X, self.generator)
        y = self.labels[index]
        if self.world_size > 1:
            X = torch.tensor_split(X, self.world_size)[self.rank]
            y = torch.tensor_split(y, self.world_size)[self.rank]
        return X, y


def eval_batches(
    dataset: Dataset,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    device: torch.device | str,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One pass over `images` in order, normalised by the training statistics, no augmentation.

    Args:
        dataset: Supplies the normalisation statistics.
        images: `(N, C, H, W)` uint8 (the validation part, or a shard of it).
        labels: `(N,)` int64.
        batch_size: Images per batch (the last batch may be smaller).
        device: Where batches are placed.
    """
    for start in range(0, images.shape[0], batch_size):
        chunk = images[start : start + batch_size].to(device)
        X = normalise(chunk, dataset.mean, dataset.std, torch.float32)
        yield X, labels[start : start + batch_size].to(device)


def calibration_images(
    dataset: Dataset, batch_size: int, num_batches: int, device: torch.device | str, seed: int
) -> list[torch.Tensor]:
    """Fixed, unaugmented training batches for recomputing BatchNorm statistics.

    The same images serve every member of a batch, so members are calibrated on equal terms.
    They are left unaugmented because evaluation images are, and the statistics should match
    what the network sees when it is evaluated.

    Returns:
        Up to `num_batches` float32 tensors `(b, C, H, W)` (fewer when the training part is
        smaller than `num_batches * batch_size`).
    """
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(dataset.num_train, generator=generator)[: num_batches * batch_size]
    chosen = dataset.train_images[order]
    return [
        normalise(chunk.to(device), dataset.mean, dataset.std, torch.float32)
        for chunk in torch.split(chosen, batch_size)
    ]
