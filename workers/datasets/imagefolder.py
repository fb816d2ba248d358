"""An ImageFolder-style directory: one sub-directory per class, images inside.

Layout: `root/<class>/<image>` (or `root/train/<class>/<image>`, in which case only `train/` is
read: as everywhere in bonas, a search never touches a test split). Classes are the
sub-directory names in sorted order.

Formats: PNG, JPEG, BMP, GIF, PPM/PGM through Pillow (a dependency of matplotlib, so present
wherever bonas is installed; without it those files raise a clear error), and `.npy` arrays of
shape `(H, W)` or `(H, W, C)` with uint8 values, read with `allow_pickle=False`. Greyscale
images stay single-channel unless the folder mixes them with colour images, in which case all
become RGB. Images of different sizes need `DatasetSpec.image_size`, which resizes them all.

`root` is a directory the worker resolved under its data roots; every folder and file read is
checked to lie inside it (a symlink out of it is refused), and error messages name the one
entry at fault relative to `root` (never the folder's listing, never an image's bytes).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from protocol.names import shown_name
from workers.data_roots import is_within
from workers.datasets.base import Augmentation, Dataset, DatasetSpec
from workers.datasets.exceptions import CorruptDatasetError, DatasetError, DatasetNotFoundError

PILLOW_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm"})
NUMPY_SUFFIXES = frozenset({".npy"})
IMAGE_SUFFIXES = PILLOW_SUFFIXES | NUMPY_SUFFIXES


def load_imagefolder(spec: DatasetSpec) -> Dataset:
    """Read every image under the class folders of `spec.root` and split them by `spec`.

    Raises:
        DatasetNotFoundError: The root is missing or holds no class folder with images.
        CorruptDatasetError: An image cannot be decoded, or sizes differ without `image_size`.
        DatasetError: An entry escapes the root through a symlink.
    """
    if spec.root is None:
        raise DatasetNotFoundError("imagefolder needs a root directory")
    top = Path(spec.root).expanduser()
    if not top.is_dir():
        raise DatasetNotFoundError("the image folder is not a directory")
    try:
        return _load(top, spec)
    except DatasetError:
        raise
    except OSError as error:  # its message would quote an absolute path
        reason = os.strerror(error.errno) if error.errno else type(error).__name__
        raise DatasetError(f"the image folder cannot be read ({reason})") from None


def _load(top: Path, spec: DatasetSpec) -> Dataset:
    root = top / "train" if (top / "train").is_dir() else top
    _check_inside(top, root)
    class_dirs = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )
    if len(class_dirs) < 2:
        raise DatasetNotFoundError(f"expected at least two class folders, found {len(class_dirs)}")
    arrays: list[np.ndarray] = []
    labels: list[int] = []
    for label, directory in enumerate(class_dirs):
        _check_inside(top, directory)
        files = sorted(
            p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            raise DatasetNotFoundError(
                f"{_shown(top, directory)}: no images (accepted: "
                f"{', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        for path in files:
            _check_inside(top, path)
            arrays.append(_read_image(path, _shown(top, path)))
            labels.append(label)
    images = _stack(arrays, spec.image_size)
    height = images.shape[2]
    augmentation = Augmentation(padding=max(1, height // 8), flip=True)
    return Dataset.from_arrays(
        f"imagefolder:{top.name}",
        images,
        np.asarray(labels, dtype=np.int64),
        len(class_dirs),
        spec,
        augmentation,
    )


def _check_inside(top: Path, path: Path) -> None:
    if not is_within(path, top):
        raise DatasetError(f"{_shown(top, path)}: escapes the image folder through a symlink")


def _shown(top: Path, path: Path) -> str:
    """`path` relative to the image folder, quoted for a message."""
    return shown_name(str(path.relative_to(top)))


def _read_image(path: Path, shown: str) -> np.ndarray:
    """One image as `(H, W, C)` uint8 with C = 1 or 3."""
    array: np.ndarray
    if path.suffix.lower() in NUMPY_SUFFIXES:
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            raise CorruptDatasetError(
                f"{shown}: not a readable .npy array ({type(error).__name__})"
            ) from None
    else:
        array = _read_with_pillow(path, shown)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3) or array.dtype != np.uint8:
        raise CorruptDatasetError(
            f"{shown}: expected uint8 of shape (H, W), (H, W, 1) or (H, W, 3), got "
            f"{array.dtype} of shape {array.shape}"
        )
    return array


def _read_with_pillow(path: Path, shown: str) -> np.ndarray:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise DatasetError(
            f"{shown}: reading {path.suffix} images needs Pillow (pip install pillow), "
            "or store the images as .npy arrays"
        ) from None
    try:
        with Image.open(path) as image:
            mode = "L" if image.mode in ("1", "L", "I", "I;16", "F") else "RGB"
            return np.asarray(image.convert(mode), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        # Pillow's messages quote the absolute path; the type says enough.
        raise CorruptDatasetError(
            f"{shown}: cannot decode image ({type(error).__name__})"
        ) from None


def _stack(arrays: list[np.ndarray], image_size: int | None) -> np.ndarray:
    """`(N, C, H, W)` uint8, after unifying channels and, if asked, resizing."""
    channels = max(a.shape[2] for a in arrays)
    arrays = [np.repeat(a, channels, axis=2) if a.shape[2] != channels else a for a in arrays]
    if image_size is not None:
        return np.stack([_resize(a, image_size) for a in arrays])
    sizes = {a.shape[:2] for a in arrays}
    if len(sizes) > 1:
        shown = sorted(sizes)[:2]
        raise CorruptDatasetError(
            f"images differ in size ({shown[0]} and {shown[1]}, among others); "
            "set image_size to resize them"
        )
    return np.stack([a.transpose(2, 0, 1) for a in arrays])


def _resize(array: np.ndarray, size: int) -> np.ndarray:
    """`(H, W, C)` uint8 to `(C, size, size)` uint8 with antialiased bilinear interpolation."""
    tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))).float()[None]
    resized = F.interpolate(tensor, size=(size, size), mode="bilinear", antialias=True)
    return resized[0].round().clamp(0, 255).to(torch.uint8).numpy()
