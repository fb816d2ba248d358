"""An ImageFolder-style directory: one sub-directory per class, images inside.

Layout: `root/<class>/<image>` (or `root/train/<class>/<image>`, in which case only `train/` is
read: as everywhere in bonas, a search never touches a test split). Classes are the
sub-directory names in sorted order.

Formats: PNG, JPEG, BMP, GIF, PPM/PGM through Pillow (a dependency of matplotlib, so present
wherever bonas is installed; without it those files raise a clear error), and `.npy` arrays of
shape `(H, W)` or `(H, W, C)` with uint8 values, read with `allow_pickle=False`. Greyscale
images stay single-channel unless the folder mixes them with colour images, in which case all
become RGB. Images of different sizes need `DatasetSpec.image_size`, which resizes them all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

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
    """
    if spec.root is None:
        raise DatasetNotFoundError("imagefolder needs a root directory")
    root = Path(spec.root).expanduser()
    if (root / "train").is_dir():
        root = root / "train"
    if not root.is_dir():
        raise DatasetNotFoundError(f"image folder {root} does not exist")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DatasetNotFoundError(f"{root}: expected at least two class folders, got {classes}")
    arrays: list[np.ndarray] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        files = sorted(
            p for p in (root / name).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            raise DatasetNotFoundError(
                f"{root / name}: no images (accepted: {', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        for path in files:
            arrays.append(_read_image(path))
            labels.append(label)
    images = _stack(arrays, spec.image_size, root)
    height = images.shape[2]
    augmentation = Augmentation(padding=max(1, height // 8), flip=True)
    return Dataset.from_arrays(
        f"imagefolder:{root.name}",
        images,
        np.asarray(labels, dtype=np.int64),
        len(classes),
        spec,
        augmentation,
    )


def _read_image(path: Path) -> np.ndarray:
    """One image as `(H, W, C)` uint8 with C = 1 or 3."""
    array: np.ndarray
    if path.suffix.lower() in NUMPY_SUFFIXES:
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            raise CorruptDatasetError(f"{path}: not a readable .npy array ({error})") from None
    else:
        array = _read_with_pillow(path)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3) or array.dtype != np.uint8:
        raise CorruptDatasetError(
            f"{path}: expected uint8 of shape (H, W), (H, W, 1) or (H, W, 3), got "
            f"{array.dtype} of shape {array.shape}"
        )
    return array


def _read_with_pillow(path: Path) -> np.ndarray:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise DatasetError(
            f"{path}: reading {path.suffix} images needs Pillow (pip install pillow), "
            "or store the images as .npy arrays"
        ) from None
    try:
        with Image.open(path) as image:
            mode = "L" if image.mode in ("1", "L", "I", "I;16", "F") else "RGB"
            return np.asarray(image.convert(mode), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise CorruptDatasetError(f"{path}: cannot decode image ({error})") from None


def _stack(arrays: list[np.ndarray], image_size: int | None, root: Path) -> np.ndarray:
    """`(N, C, H, W)` uint8, after unifying channels and, if asked, resizing."""
    channels = max(a.shape[2] for a in arrays)
    arrays = [np.repeat(a, channels, axis=2) if a.shape[2] != channels else a for a in arrays]
    if image_size is not None:
        return np.stack([_resize(a, image_size) for a in arrays])
    sizes = {a.shape[:2] for a in arrays}
    if len(sizes) > 1:
        shown = sorted(sizes)[:2]
        raise CorruptDatasetError(
            f"{root}: images differ in size ({shown[0]} and {shown[1]}, among others); "
            "set image_size to resize them"
        )
    return np.stack([a.transpose(2, 0, 1) for a in arrays])


def _resize(array: np.ndarray, size: int) -> np.ndarray:
    """`(H, W, C)` uint8 to `(C, size, size)` uint8 with antialiased bilinear interpolation."""
    tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))).float()[None]
    resized = F.interpolate(tensor, size=(size, size), mode="bilinear", antialias=True)
    return resized[0].round().clamp(0, 255).to(torch.uint8).numpy()
