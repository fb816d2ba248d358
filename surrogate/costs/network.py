"""`NetworkShape`, the size of the network around the searched part, and the blocks that
several spaces' networks share (stems, NAS-Bench-201's residual reduction, the classifier).

The network of each space is the one the worker trains (`workers.supernets`), which for
NAS-Bench-201 is the benchmark's own network; the shape is a parameter so that the same
model prices the paper's network (`NB201_CIFAR10`) and the small ones a worker trains.
"""

from __future__ import annotations

from dataclasses import dataclass

from surrogate.costs.counting import (
    Cost,
    FeatureMap,
    batch_norm,
    conv2d,
    global_average_pool,
    linear,
    pool2d,
    relu,
)
from surrogate.costs.exceptions import CostModelError
from surrogate.costs.ops import relu_conv_bn


@dataclass(frozen=True)
class NetworkShape:
    """Size of the network around the searched cells or layers, and of its input.

    The defaults are NAS-Bench-201's network on CIFAR-10: 16 channels in the first stage,
    5 cells per stage, 32x32 RGB images, 10 classes.

    Attributes:
        num_classes: Outputs of the classifier.
        in_channels: Channels of the input images.
        channels: Width of the first stage (each reduction doubles it; DARTS's stem has 3x).
        cells_per_stage: Cells per stage for cell spaces (NAS-Bench-201: 5, NAS-Bench-101: 3,
            DARTS: 6 for its 20-cell network); macro spaces ignore it.
        image_size: `(height, width)` of the input images.
    """

    num_classes: int = 10
    in_channels: int = 3
    channels: int = 16
    cells_per_stage: int = 5
    image_size: tuple[int, int] = (32, 32)

    def __post_init__(self) -> None:
        sizes = {
            "num_classes": self.num_classes,
            "in_channels": self.in_channels,
            "channels": self.channels,
            "cells_per_stage": self.cells_per_stage,
            "image height": self.image_size[0],
            "image width": self.image_size[1],
        }
        for name, value in sizes.items():
            if value < 1:
                raise CostModelError(f"{name} must be positive, got {value}")

    @property
    def input(self) -> FeatureMap:
        return FeatureMap(self.in_channels, *self.image_size)


NB201_CIFAR10 = NetworkShape()
"""NAS-Bench-201's network on CIFAR-10 (C = 16, N = 5, 32x32x3, 10 classes)."""


def conv_bn_stem(x: FeatureMap, C_out: int) -> tuple[Cost, FeatureMap]:
    """A 3x3 convolution without bias and a BatchNorm (NAS-Bench-201's and DARTS's stems)."""
    conv, out = conv2d(x, C_out, 3, 1, 1)
    return conv + batch_norm(out), out


def residual_reduction(x: FeatureMap, C_out: int) -> tuple[Cost, FeatureMap]:
    """NAS-Bench-201's stride-2 residual block: two 3x3 ReLU-Conv-BN, and a shortcut of
    2x2 average pooling (ceil mode) and a 1x1 convolution."""
    conv_a, mid = relu_conv_bn(x, C_out, 3, 2, 1)
    conv_b, out = relu_conv_bn(mid, C_out, 3, 1, 1)
    pool, pooled = pool2d(x, 2, 2, 0, ceil_mode=True)
    shortcut, _ = conv2d(pooled, C_out, 1)
    return conv_a + conv_b + pool + shortcut, out


def classifier_head(x: FeatureMap, num_classes: int) -> Cost:
    """BN, ReLU, global average pooling and a linear layer."""
    return batch_norm(x) + relu(x) + pooled_classifier(x, num_classes)


def pooled_classifier(x: FeatureMap, num_classes: int) -> Cost:
    """Global average pooling and a linear layer (DARTS's head)."""
    return global_average_pool(x) + linear(x.channels, num_classes)
