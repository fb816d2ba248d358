"""scikit-learn's bundled handwritten digits: 1,797 grey 8x8 images, 10 classes, no files needed.

Small enough to train a batch of supernet members in seconds on a CPU, yet real data: the
default dataset of tests, examples and CPU benchmarks.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits as _sklearn_digits

from workers.datasets.base import Augmentation, Dataset, DatasetSpec

DIGITS_AUGMENTATION = Augmentation(padding=1, flip=False)
"""One pixel of shift; no flip, since a mirrored digit is not the same digit."""

DIGITS_MAX_VALUE = 16
"""The bundled images take integer values 0..16."""


def load_digits(spec: DatasetSpec) -> Dataset:
    """Load the digits, rescaled from 0..16 to 0..255 (lossless: 17 distinct uint8 levels)."""
    bunch = _sklearn_digits()
    values = np.asarray(bunch.images, dtype=np.float64)
    images = np.rint(values * (255.0 / DIGITS_MAX_VALUE)).astype(np.uint8)[:, None, :, :]
    labels = np.asarray(bunch.target, dtype=np.int64)
    return Dataset.from_arrays("digits", images, labels, 10, spec, DIGITS_AUGMENTATION)
