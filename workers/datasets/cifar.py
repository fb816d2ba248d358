"""CIFAR-10 and CIFAR-100 from the official "python version" batches, read safely.

The batches are pickles, and unpickling can run arbitrary code, so they are read by
`SafeCifarUnpickler`, which resolves only the handful of globals that a CIFAR batch needs (numpy's
array and dtype reconstructors) and refuses everything else with `UnsafePickleError`. Even those
are wrapped: an array must be a plain `ndarray` and no dtype may hold Python objects. After
loading, the structure is checked (a dict with the expected keys, uint8 pixel rows of 3,072
values, integer labels in range) so that a damaged file fails with a message, not an
`IndexError` deep in training.

Only training batches are read (`data_batch_1..5`, or `train` for CIFAR-100); the test batch is
never opened. Files written by Python 2 (the official ones: byte-string keys) and by Python 3
(string keys, protocols 2 to 5) are accepted.

The root is a directory the worker resolved under its data roots; batch files are opened only
if their real path lies inside it. Error messages name the batch file (by its fixed name) and
the kind of problem, never bytes of the file: a pickle opcode's argument (a global's name, a
load key) can be any line of a file that is not a CIFAR batch at all.
"""

from __future__ import annotations

import codecs
import os
import pickle
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy._core import multiarray as _multiarray
from numpy._core import numeric as _numeric

from workers.data_roots import is_within
from workers.datasets.base import Augmentation, Dataset, DatasetSpec, check_labels
from workers.datasets.exceptions import (
    CorruptDatasetError,
    DatasetError,
    DatasetNotFoundError,
    UnsafePickleError,
)

CIFAR_AUGMENTATION = Augmentation(padding=4, flip=True)
CIFAR_IMAGE_VALUES = 3 * 32 * 32
CIFAR10_DIR = "cifar-10-batches-py"
CIFAR100_DIR = "cifar-100-python"
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR100_TRAIN_FILES = ("train",)
MAX_BATCH_FILE_BYTES = 512 * 1024 * 1024
"""Refuse files larger than this before unpickling (an official batch is about 31 MB)."""


def _reconstruct(subtype: object, shape: object, dtype: object) -> np.ndarray:
    if subtype is not np.ndarray:
        raise UnsafePickleError(
            f"only plain numpy arrays are accepted, got a {type(subtype).__name__} as subtype"
        )
    reconstruct: Callable[..., np.ndarray] = getattr(_multiarray, "_reconstruct")  # noqa: B009
    return reconstruct(np.ndarray, shape, _safe_dtype_value(dtype))


def _frombuffer(buffer: object, dtype: object, shape: object, order: object) -> np.ndarray:
    frombuffer: Callable[..., np.ndarray] = getattr(_numeric, "_frombuffer")  # noqa: B009
    return frombuffer(buffer, _safe_dtype(dtype), shape, order)


def _safe_dtype(spec: object, align: object = False, copy: object = True) -> np.dtype[Any]:
    value: Any = _safe_dtype_value(spec)
    dtype: np.dtype[Any] = np.dtype(value, align=bool(align), copy=bool(copy))
    if dtype.hasobject:
        raise UnsafePickleError("numpy arrays of Python objects are not accepted")
    return dtype


def _safe_dtype_value(spec: object) -> object:
    if isinstance(spec, bytes):
        spec = spec.decode("ascii", errors="strict")
    if isinstance(spec, np.dtype):
        if spec.hasobject:
            raise UnsafePickleError("numpy arrays of Python objects are not accepted")
        return spec
    if not isinstance(spec, str) or spec.lstrip("<>|=").startswith("O"):
        raise UnsafePickleError("unexpected numpy dtype in a CIFAR batch")
    return spec


def _latin1_encode(text: object, encoding: object = "latin1") -> bytes:
    """What protocol-2 pickles written by Python 3 call to rebuild `bytes` (latin-1 only)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError("refusing _codecs.encode of anything but latin-1 text")
    return codecs.encode(text, "latin1")


_ALLOWED_GLOBALS: Mapping[tuple[str, str], Callable[..., Any] | type] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _safe_dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class SafeCifarUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals a CIFAR batch needs (see module docstring)."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            # The module and name come from the file: they are not quoted.
            raise UnsafePickleError(
                "refusing to load a global that a CIFAR batch does not use: a CIFAR batch may "
                "only contain dicts, lists, strings, bytes, integers and numpy arrays"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("persistent ids are not accepted in a CIFAR batch")


def read_cifar_batch(path: Path) -> dict[str, Any]:
    """Unpickle one batch file safely and return it with `str` keys.

    Raises:
        DatasetNotFoundError: The file does not exist.
        UnsafePickleError: The pickle names a global outside the allowed set.
        CorruptDatasetError: The file is truncated, not a pickle, or not a dict.
    """
    shown = path.name
    if not path.is_file():
        raise DatasetNotFoundError(f"CIFAR batch file {shown} does not exist")
    try:
        size = path.stat().st_size
        if size > MAX_BATCH_FILE_BYTES:
            raise CorruptDatasetError(f"{shown}: {size} bytes is too large for a CIFAR batch")
        with path.open("rb") as handle:
            raw = _unpickle(handle, shown)
    except OSError as error:  # its message would quote the absolute path
        reason = os.strerror(error.errno) if error.errno else type(error).__name__
        raise CorruptDatasetError(f"{shown}: cannot be read ({reason})") from None
    if not isinstance(raw, dict):
        raise CorruptDatasetError(f"{shown}: a CIFAR batch is a dict, got {type(raw).__name__}")
    result: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(key, bytes):
            key = key.decode("latin1")
        if not isinstance(key, str):
            raise CorruptDatasetError(f"{shown}: dict keys must be strings")
        # Keys are checked by `batch_arrays` before they appear in a message; unknown keys
        # are the file's own text and are not shown.
        _check_value(value, f"{shown}: a value")
        result[key] = value
    return result


def _unpickle(handle: BinaryIO, shown: str) -> Any:
    try:
        raw = SafeCifarUnpickler(handle, encoding="bytes").load()
    except UnsafePickleError as error:
        raise UnsafePickleError(f"{shown}: {error}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        # Only the type: an unpickler's message quotes bytes of the file ("invalid load key").
        raise CorruptDatasetError(
            f"{shown}: not a readable CIFAR batch ({type(error).__name__})"
        ) from None
    if handle.read(1):
        raise CorruptDatasetError(f"{shown}: trailing bytes after the pickle")
    return raw


def _check_value(value: object, where: str) -> None:
    """Accept only what a CIFAR batch holds: strings, bytes, ints, arrays, lists of those."""
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, str | bytes | int) or isinstance(item, bool):
                raise CorruptDatasetError(
                    f"{where}: unexpected {type(item).__name__} inside a list (a CIFAR batch "
                    "holds lists of integers or strings)"
                )
    elif not isinstance(value, str | bytes | int | np.ndarray) or isinstance(value, bool):
        raise CorruptDatasetError(
            f"{where}: unexpected value of type {type(value).__name__} (a CIFAR batch holds "
            "strings, integers, lists and uint8 arrays)"
        )


def batch_arrays(batch: Mapping[str, Any], label_key: str, path: Path) -> tuple[np.ndarray, ...]:
    """Pixel rows as `(N, 3, 32, 32)` uint8 and labels as `(N,)` int64, checked."""
    shown = path.name
    if "data" not in batch or label_key not in batch:
        raise CorruptDatasetError(f"{shown}: a CIFAR batch needs the keys 'data' and {label_key!r}")
    data = batch["data"]
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != CIFAR_IMAGE_VALUES
    ):
        described = (
            f"{data.dtype} array of shape {data.shape}"
            if isinstance(data, np.ndarray)
            else type(data).__name__
        )
        raise CorruptDatasetError(
            f"{shown}: 'data' must be a uint8 array of shape (N, {CIFAR_IMAGE_VALUES}), "
            f"got {described}"
        )
    labels = batch[label_key]
    if isinstance(labels, np.ndarray) and labels.dtype.kind in "iu":
        labels = labels.tolist()
    if not isinstance(labels, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in labels
    ):
        raise CorruptDatasetError(f"{shown}: {label_key!r} must be a list of integers")
    if len(labels) != data.shape[0]:
        raise CorruptDatasetError(
            f"{shown}: {len(labels)} labels for {data.shape[0]} images in 'data'"
        )
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def _batch_dir(root: Path, subdir: str, files: tuple[str, ...]) -> Path:
    for candidate in (root, root / subdir):
        if all((candidate / name).is_file() for name in files):
            for name in files:
                if not is_within(candidate / name, root):
                    raise DatasetError(f"{name}: escapes the dataset root through a symlink")
            return candidate
    raise DatasetNotFoundError(
        f"no CIFAR training batches ({', '.join(files)}) in the dataset root or its {subdir}/"
    )


def _load(
    spec: DatasetSpec, subdir: str, files: tuple[str, ...], label_key: str, num_classes: int
) -> Dataset:
    if spec.root is None:
        raise DatasetNotFoundError(f"{spec.name} needs a root directory")
    directory = _batch_dir(Path(spec.root).expanduser(), subdir, files)
    images: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for name in files:
        path = directory / name
        batch_images, batch_labels = batch_arrays(read_cifar_batch(path), label_key, path)
        check_labels(batch_labels, num_classes, name)
        images.append(batch_images)
        labels.append(batch_labels)
    return Dataset.from_arrays(
        spec.name,
        np.concatenate(images),
        np.concatenate(labels),
        num_classes,
        spec,
        CIFAR_AUGMENTATION,
    )


def load_cifar10(spec: DatasetSpec) -> Dataset:
    """CIFAR-10's five training batches, split into training and validation parts by `spec`."""
    return _load(spec, CIFAR10_DIR, CIFAR10_TRAIN_FILES, "labels", 10)


def load_cifar100(spec: DatasetSpec) -> Dataset:
    """CIFAR-100's training file with its 100 fine labels, split by `spec`."""
    return _load(spec, CIFAR100_DIR, CIFAR100_TRAIN_FILES, "fine_labels", 100)
