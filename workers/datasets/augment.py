"""Augmentation and normalisation of image batches, written in torch operations.

torchvision has no CPU build in this environment, and these two augmentations are a few lines
each. Random numbers are drawn from a CPU `torch.Generator` and then moved to the batch's device,
so a seed gives the same crops and flips on a CPU and on a GPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad by `padding` on every side, then crop each image back at a random offset.

    Args:
        images: `(B, C, H, W)` floating-point batch.
        padding: Pixels of padding per side (0 returns `images` unchanged).
        generator: CPU generator that draws the offsets.

    Returns:
        `(B, C, H, W)`, image `b` shifted by an offset drawn uniformly from
        `[-padding, padding]` in each direction, with zeros shifted in.
    """
    if padding == 0:
        return images
    batch, _, height, width = images.shape
    offsets = torch.randint(0, 2 * padding + 1, (2, batch), generator=generator)
    offsets = offsets.to(images.device)
    padded = F.pad(images, (padding, padding, padding, padding)).permute(0, 2, 3, 1)
    rows = offsets[0, :, None] + torch.arange(height, device=images.device)
    cols = offsets[1, :, None] + torch.arange(width, device=images.device)
    index = torch.arange(batch, device=images.device)[:, None, None]
    cropped = padded[index, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return cropped.permute(0, 3, 1, 2).contiguous()


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip each image of `(B, C, H, W)` left-right with probability 1/2."""
    flip = torch.rand(images.shape[0], generator=generator).to(images.device) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(3), images)


def normalise(
    images: torch.Tensor, mean: Sequence[float], std: Sequence[float], dtype: torch.dtype
) -> torch.Tensor:
    """uint8 `(B, C, H, W)` to `(x / 255 - mean) / std` per channel, as `dtype`."""
    shape = (1, len(mean), 1, 1)
    mean_t = torch.tensor(mean, dtype=dtype, device=images.device).view(shape)
    std_t = torch.tensor(std, dtype=dtype, device=images.device).view(shape)
    return (images.to(dtype) / 255.0 - mean_t) / std_t
