"""Datasets: digits, the safe CIFAR reader (with corrupt and malicious files), image folders,
the train/validation split, augmentation and the batch streams."""

from __future__ import annotations

import io
import os
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from workers.datasets import (
    CorruptDatasetError,
    Dataset,
    DatasetNotFoundError,
    DatasetSpec,
    DatasetSpecError,
    TrainBatches,
    UnsafePickleError,
    eval_batches,
    load_dataset,
    random_crop,
    random_flip,
    split_train_val,
)
from workers.datasets.base import Augmentation
from workers.datasets.cifar import read_cifar_batch
from workers.datasets.loader import calibration_images

# --- helpers that write CIFAR-format files --------------------------------------------------------


class _Py2StylePickler(pickle._Pickler):  # type: ignore[name-defined,misc]
    """Writes `str` and `bytes` as Python 2 byte strings, as the official CIFAR files hold them."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def _save_py2_string(self, obj: str | bytes) -> None:
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = _save_py2_string
    dispatch[bytes] = _save_py2_string


def _batch(n: int, seed: int, label_key: str = "labels", classes: int = 10) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "batch_label": "training batch",
        label_key: [int(v) for v in rng.integers(0, classes, size=n)],
        "data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
        "filenames": [f"img{i}.png" for i in range(n)],
    }


def _write(path: Path, obj: object, style: str = "py3", protocol: int = 4) -> None:
    if style == "py2":
        buffer = io.BytesIO()
        _Py2StylePickler(buffer, protocol=2).dump(obj)
        path.write_bytes(buffer.getvalue())
    else:
        path.write_bytes(pickle.dumps(obj, protocol=protocol))


def _cifar10_dir(root: Path, per_batch: int = 8, style: str = "py3") -> list[dict[str, Any]]:
    directory = root / "cifar-10-batches-py"
    directory.mkdir()
    batches = [_batch(per_batch, seed) for seed in range(5)]
    for i, batch in enumerate(batches, start=1):
        _write(directory / f"data_batch_{i}", batch, style=style)
    return batches


class _Exploit:
    """Unpickling this runs `os.system` under a permissive unpickler."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


# --- digits and the split ------------------------------------------------------------------


def test_digits_split_is_stratified_disjoint_and_seeded() -> None:
    data = load_dataset(DatasetSpec(name="digits", val_fraction=0.25, split_seed=3))
    assert data.num_train + data.num_val == 1797
    assert data.in_channels == 1 and data.image_shape == (8, 8) and data.num_classes == 10
    assert abs(data.num_val / 1797 - 0.25) < 0.01
    assert data.train_images.dtype == torch.uint8 and int(data.train_images.max()) == 255
    assert data.augmentation == Augmentation(padding=1, flip=False)
    for cls in range(10):  # every class in both parts, in proportion
        n_val = int((data.val_labels == cls).sum())
        n_all = n_val + int((data.train_labels == cls).sum())
        assert abs(n_val - 0.25 * n_all) <= 1
    again = load_dataset(DatasetSpec(name="digits", val_fraction=0.25, split_seed=3))
    assert torch.equal(again.val_images, data.val_images)
    other = load_dataset(DatasetSpec(name="digits", val_fraction=0.25, split_seed=4))
    assert not torch.equal(other.val_images, data.val_images)


def test_split_indices_partition_the_data() -> None:
    labels = np.repeat(np.arange(4), [10, 3, 2, 1])
    train, val = split_train_val(labels, 0.3, seed=0)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(len(labels)))
    assert set(labels[val]) == {0, 1, 2}  # a class of one example stays in training
    assert all((labels[train] == c).any() for c in range(4))


def test_digits_statistics_and_max_train() -> None:
    data = load_dataset(DatasetSpec(max_train=200))
    assert data.num_train == 200
    assert len(set(data.train_labels.tolist())) == 10
    pixels = data.train_images.double() / 255
    assert data.mean[0] == pytest.approx(float(pixels.mean()), abs=1e-9)
    assert data.std[0] == pytest.approx(float(pixels.std(unbiased=False)), abs=1e-6)


def test_dataset_spec_rejects_bad_values() -> None:
    with pytest.raises(DatasetSpecError, match="unknown dataset"):
        DatasetSpec(name="mnist")
    with pytest.raises(DatasetSpecError, match="root"):
        DatasetSpec(name="cifar10")
    with pytest.raises(DatasetSpecError, match="val_fraction"):
        DatasetSpec(val_fraction=1.0)
    with pytest.raises(DatasetSpecError, match="unknown dataset fields"):
        DatasetSpec.from_dict({"name": "digits", "test_split": True})
    spec = DatasetSpec(name="cifar10", root="/x", val_fraction=0.5)
    assert DatasetSpec.from_dict(spec.to_dict()) == spec


# --- CIFAR ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("style", "protocol"), [("py2", 2), ("py3", 2), ("py3", 4), ("py3", 5)])
def test_cifar10_reads_training_batches_exactly(tmp_path: Path, style: str, protocol: int) -> None:
    directory = tmp_path / "cifar-10-batches-py"
    directory.mkdir()
    batches = [_batch(8, seed) for seed in range(5)]
    for i, batch in enumerate(batches, start=1):
        _write(directory / f"data_batch_{i}", batch, style=style, protocol=protocol)
    data = load_dataset(DatasetSpec(name="cifar10", root=str(tmp_path), val_fraction=0.25))
    assert data.num_train + data.num_val == 40
    assert data.image_shape == (32, 32) and data.in_channels == 3
    assert data.augmentation == Augmentation(padding=4, flip=True)
    # Every stored image is one of the written rows, laid out as (3, 32, 32) channel-major.
    rows = np.concatenate([b["data"] for b in batches]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([b["labels"] for b in batches])
    lookup = {rows[i].tobytes(): labels[i] for i in range(len(rows))}
    for image, label in zip(data.train_images, data.train_labels, strict=True):
        assert lookup[image.numpy().tobytes()] == int(label)


def test_cifar10_never_opens_the_test_batch(tmp_path: Path) -> None:
    _cifar10_dir(tmp_path)
    marker = tmp_path / "pwned"
    _write(tmp_path / "cifar-10-batches-py" / "test_batch", _Exploit(marker))
    load_dataset(DatasetSpec(name="cifar10", root=str(tmp_path / "cifar-10-batches-py")))
    assert not marker.exists()


def test_cifar100_uses_fine_labels(tmp_path: Path) -> None:
    directory = tmp_path / "cifar-100-python"
    directory.mkdir()
    batch = _batch(30, 0, label_key="fine_labels", classes=100)
    batch["coarse_labels"] = [v // 5 for v in batch["fine_labels"]]
    _write(directory / "train", batch, style="py2")
    data = load_dataset(DatasetSpec(name="cifar100", root=str(tmp_path), val_fraction=0.2))
    assert data.num_classes == 100
    got = sorted(data.train_labels.tolist() + data.val_labels.tolist())
    assert got == sorted(batch["fine_labels"])


def test_malicious_pickle_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    _write(path, {"data": _Exploit(marker), "labels": [1]})
    with pytest.raises(UnsafePickleError, match="refusing to load a global") as refused:
        read_cifar_batch(path)
    assert not marker.exists()
    assert "system" not in str(refused.value)  # names in a pickle are the file's text


@pytest.mark.parametrize(
    "payload",
    [
        {"data": np.array([1, "a"], dtype=object), "labels": [0, 1]},  # object arrays
        {"data": np.ma.masked_array(np.zeros((1, 3072), np.uint8)), "labels": [0]},  # subclass
        {"data": eval, "labels": [0]},  # a builtin function
        {"data": np.zeros((1, 3072), np.uint8), "labels": [0], "x": Path("/")},  # a class
    ],
    ids=["object-array", "masked-array", "builtin-eval", "pathlib"],
)
def test_unexpected_globals_are_refused(tmp_path: Path, payload: dict[str, Any]) -> None:
    path = tmp_path / "data_batch_1"
    _write(path, payload)
    with pytest.raises(UnsafePickleError):
        read_cifar_batch(path)


@pytest.mark.parametrize(
    "value",
    [{1, 2}, 1.5, (1, 2), [[1]], {"nested": 1}],
    ids=["set", "float", "tuple", "nest", "dict"],
)
def test_unexpected_plain_types_are_corrupt(tmp_path: Path, value: object) -> None:
    path = tmp_path / "data_batch_1"
    _write(path, {"data": np.zeros((1, 3072), np.uint8), "labels": [0], "extra": value})
    with pytest.raises(CorruptDatasetError, match="data_batch_1: a value: unexpected") as refused:
        read_cifar_batch(path)
    assert "extra" not in str(refused.value)  # keys are the file's text, not repeated


def test_truncated_and_garbage_files_are_corrupt(tmp_path: Path) -> None:
    directory = tmp_path / "cifar-10-batches-py"
    _cifar10_dir(tmp_path)
    whole = (directory / "data_batch_3").read_bytes()
    (directory / "data_batch_3").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(CorruptDatasetError, match="data_batch_3"):
        load_dataset(DatasetSpec(name="cifar10", root=str(tmp_path)))
    (directory / "data_batch_3").write_bytes(b"\x00not a pickle at all")
    with pytest.raises(CorruptDatasetError, match="data_batch_3"):
        load_dataset(DatasetSpec(name="cifar10", root=str(tmp_path)))
    (directory / "data_batch_3").write_bytes(whole + b"extra")
    with pytest.raises(CorruptDatasetError, match="trailing"):
        load_dataset(DatasetSpec(name="cifar10", root=str(tmp_path)))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: [b], "is a dict"),
        (lambda b: {k: v for k, v in b.items() if k != "data"}, "needs the keys"),
        (lambda b: {**b, "data": b["data"].astype(np.float32)}, "uint8"),
        (lambda b: {**b, "data": b["data"][:, :100]}, "shape"),
        (lambda b: {**b, "labels": b["labels"][:-1]}, "labels for"),
        (lambda b: {**b, "labels": [*b["labels"][:-1], 10]}, r"\[0, 10\)"),
        (lambda b: {**b, "labels": ["a"] * len(b["labels"])}, "list of integers"),
    ],
    ids=["not-dict", "no-data", "float-data", "short-rows", "count", "range", "str-labels"],
)
def test_malformed_batches_are_corrupt(tmp_path: Path, mutate: Any, message: str) -> None:
    batches = _cifar10_dir(tmp_path)
    _write(tmp_path / "cifar-10-batches-py" / "data_batch_2", mutate(batches[1]))
    with pytest.raises(CorruptDatasetError, match=message):
        load_dataset(DatasetSpec(name="cifar10", root=str(tmp_path)))


def test_missing_cifar_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="data_batch_1"):
        load_dataset(DatasetSpec(name="cifar10", root=str(tmp_path)))


# --- image folders ------------------------------------------------------------------------------


def _image_folder(root: Path, size: int = 6) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(4):
            pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{i}.png")
    np.save(root / "dog" / "extra.npy", rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    (root / "dog" / "notes.txt").write_text("ignored")


def test_image_folder_reads_png_and_npy(tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    _image_folder(tmp_path / "train")
    (tmp_path / "test").mkdir()  # never read
    data = load_dataset(DatasetSpec(name="imagefolder", root=str(tmp_path), val_fraction=0.3))
    assert data.num_classes == 2 and data.num_train + data.num_val == 9
    assert data.in_channels == 3 and data.image_shape == (6, 6)
    counts = torch.bincount(torch.cat([data.train_labels, data.val_labels]))
    assert counts.tolist() == [4, 5]


def test_image_folder_sizes_and_corrupt_images(tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    from PIL import Image

    _image_folder(tmp_path)
    Image.fromarray(np.zeros((9, 7), np.uint8)).save(tmp_path / "cat" / "big.png")
    with pytest.raises(CorruptDatasetError, match="image_size"):
        load_dataset(DatasetSpec(name="imagefolder", root=str(tmp_path)))
    data = load_dataset(DatasetSpec(name="imagefolder", root=str(tmp_path), image_size=5))
    assert data.image_shape == (5, 5) and data.in_channels == 3
    (tmp_path / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with pytest.raises(CorruptDatasetError, match=r"broken\.png"):
        load_dataset(DatasetSpec(name="imagefolder", root=str(tmp_path), image_size=5))


def test_image_folder_missing(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError):
        load_dataset(DatasetSpec(name="imagefolder", root=str(tmp_path / "nowhere")))
    (tmp_path / "only").mkdir()
    with pytest.raises(DatasetNotFoundError, match="two class folders"):
        load_dataset(DatasetSpec(name="imagefolder", root=str(tmp_path)))


# --- augmentation and batches ----------------------------------------------------------------


def test_random_crop_shifts_with_zero_fill() -> None:
    images = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).view(2, 3, 5, 5) + 1
    generator = torch.Generator().manual_seed(0)
    padding = 2
    out = random_crop(images, padding, generator)
    offsets = torch.randint(0, 2 * padding + 1, (2, 2), generator=torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(images, (padding,) * 4)
    for b in range(2):
        dy, dx = int(offsets[0, b]), int(offsets[1, b])
        assert torch.equal(out[b], padded[b, :, dy : dy + 5, dx : dx + 5])
    assert torch.equal(random_crop(images, 0, generator), images)


def test_random_flip_flips_some_images_whole() -> None:
    images = torch.randn(64, 2, 4, 4)
    out = random_flip(images, torch.Generator().manual_seed(1))
    flipped = [torch.equal(o, i.flip(2)) for o, i in zip(out, images, strict=True)]
    kept = [torch.equal(o, i) for o, i in zip(out, images, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 10 < sum(flipped) < 54


def _indexed_dataset(n: int = 20) -> Dataset:
    """A dataset whose image `i` is filled with the value `i` (so batches reveal indices)."""
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 2, 2).clone()
    labels = torch.arange(n) % 2
    return Dataset(
        "indexed", images, labels, images[:2].clone(), labels[:2].clone(), 2, (0.0,), (1.0,)
    )


def test_train_batches_cover_an_epoch_and_are_seeded() -> None:
    data = _indexed_dataset(20)
    stream = TrainBatches(data, batch_size=6, device="cpu", seed=0)
    assert stream.steps_per_epoch == 3
    seen = [round(float(v) * 255) for _ in range(3) for v in next(stream)[0][:, 0, 0, 0]]
    assert len(set(seen)) == 18  # no repeats within a pass
    again = TrainBatches(data, batch_size=6, device="cpu", seed=0)
    assert torch.equal(next(again)[0], TrainBatches(data, 6, "cpu", seed=0).__next__()[0])
    assert not torch.equal(next(TrainBatches(data, 6, "cpu", seed=1))[0], next(again)[0])


def test_rank_shards_make_up_the_global_batch() -> None:
    data = load_dataset(DatasetSpec(max_train=100))
    whole = TrainBatches(data, batch_size=10, device="cpu", seed=5)
    shards = [TrainBatches(data, 10, "cpu", seed=5, rank=r, world_size=2) for r in range(2)]
    for _ in range(4):
        X, y = next(whole)
        parts = [next(s) for s in shards]
        assert torch.equal(torch.cat([p[0] for p in parts]), X)
        assert torch.equal(torch.cat([p[1] for p in parts]), y)


def test_eval_and_calibration_batches_are_unaugmented() -> None:
    data = load_dataset(DatasetSpec(max_train=100))
    batches = list(eval_batches(data, data.val_images, data.val_labels, 128, "cpu"))
    assert sum(len(y) for _, y in batches) == data.num_val
    expected = (data.val_images[:128].float() / 255 - data.mean[0]) / data.std[0]
    assert torch.allclose(batches[0][0], expected)
    calibration = calibration_images(data, 32, 10, "cpu", seed=0)
    assert sum(len(X) for X in calibration) == 100  # capped by the training part's size
