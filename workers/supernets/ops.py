"""The operations library: every op a cell, chain or DAG of bonas may choose, built by name.

Each op maps `(B, C_in, H, W)` to `(B, C_out, H / stride, W / stride)`. Names follow the
sources of the spaces: NAS-Bench-201 (`nor_conv_3x3`: ReLU-Conv-BN), NAS-Bench-101
(`conv3x3-bn-relu`), DARTS (`sep_conv_3x3`, `dil_conv_5x5`, ...), plus short names that users
may declare in their own spaces (`conv3x3`, `skip`, `zero`...). `build_op` raises
`UnknownOpError`, listing the accepted names, for anything else.

Two names have a meaning the supernets rely on: the zero op (`none`, `zero`), whose edge
contributes nothing and is skipped, and the identity (`skip_connect`, `skip`, `identity`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from workers.supernets.exceptions import UnknownOpError

ZERO_OP_NAMES = frozenset({"none", "zero"})


def is_zero_op(name: str) -> bool:
    """Whether `name` is the zero op (an absent edge)."""
    return name in ZERO_OP_NAMES


class Zero(nn.Module):
    """The zero op: an all-zero output of the right shape (the edge is absent)."""

    def __init__(self, C_out: int, stride: int) -> None:
        super().__init__()
        self.C_out = C_out
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sampled = x[:, :1, :: self.stride, :: self.stride]
        return sampled.new_zeros(
            (x.shape[0], self.C_out, sampled.shape[2], sampled.shape[3])
        ).contiguous(memory_format=_memory_format(x))


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


class ReLUConvBN(nn.Sequential):
    """ReLU, convolution, BatchNorm: the conv of NAS-Bench-201 and DARTS's preprocessing."""

    def __init__(
        self,
        C_in: int,
        C_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        dilation: int = 1,
        affine: bool = True,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride, padding, dilation, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class ConvBNReLU(nn.Sequential):
    """Convolution, BatchNorm, ReLU: NAS-Bench-101's `conv3x3-bn-relu` and the stems."""

    def __init__(
        self, C_in: int, C_out: int, kernel_size: int, stride: int = 1, affine: bool = True
    ) -> None:
        super().__init__(
            nn.Conv2d(C_in, C_out, kernel_size, stride, kernel_size // 2, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
            nn.ReLU(inplace=False),
        )


class SepConv(nn.Sequential):
    """DARTS's separable convolution: (ReLU, depthwise, pointwise, BN) twice."""

    def __init__(
        self, C_in: int, C_out: int, kernel_size: int, stride: int, affine: bool = True
    ) -> None:
        padding = kernel_size // 2
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride, padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_in, 1, bias=False),
            nn.BatchNorm2d(C_in, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, 1, padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """DARTS's dilated separable convolution: ReLU, dilated depthwise, pointwise, BN."""

    def __init__(
        self, C_in: int, C_out: int, kernel_size: int, stride: int, affine: bool = True
    ) -> None:
        dilation = 2
        padding = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride, padding, dilation, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing pixels: two offset 1x1 strided convs, concatenated."""

    def __init__(self, C_in: int, C_out: int, affine: bool = True) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_a = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_b = nn.Conv2d(C_in, C_out - C_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = x[:, :, 1:, 1:]
        if shifted.shape[2] == 0 or shifted.shape[3] == 0:
            shifted = x
        else:
            shifted = nn.functional.pad(shifted, (0, 1, 0, 1))
        out: torch.Tensor = self.bn(torch.cat([self.conv_a(x), self.conv_b(shifted)], dim=1))
        return out


class Pool(nn.Module):
    """3x3 average or max pooling; a 1x1 ReLU-Conv-BN first when the width changes."""

    def __init__(self, kind: str, C_in: int, C_out: int, stride: int, affine: bool = True) -> None:
        super().__init__()
        self.preprocess: nn.Module = (
            ReLUConvBN(C_in, C_out, 1, 1, 0, affine=affine) if C_in != C_out else nn.Identity()
        )
        self.pool: nn.Module = (
            nn.AvgPool2d(3, stride, padding=1, count_include_pad=False)
            if kind == "avg"
            else nn.MaxPool2d(3, stride, padding=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.pool(self.preprocess(x))
        return out


def _identity(C_in: int, C_out: int, stride: int, affine: bool) -> nn.Module:
    if stride == 1 and C_in == C_out:
        return nn.Identity()
    if stride == 2:
        return FactorizedReduce(C_in, C_out, affine)
    return ReLUConvBN(C_in, C_out, 1, stride, 0, affine=affine)


OpFactory = Callable[[int, int, int, bool], nn.Module]


def _relu_conv_bn(kernel: int) -> OpFactory:
    return lambda c_in, c_out, stride, affine: ReLUConvBN(
        c_in, c_out, kernel, stride, kernel // 2, affine=affine
    )


def _conv_bn_relu(kernel: int) -> OpFactory:
    return lambda c_in, c_out, stride, affine: ConvBNReLU(c_in, c_out, kernel, stride, affine)


def _sep(kernel: int) -> OpFactory:
    return lambda c_in, c_out, stride, affine: SepConv(c_in, c_out, kernel, stride, affine)


def _dil(kernel: int) -> OpFactory:
    return lambda c_in, c_out, stride, affine: DilConv(c_in, c_out, kernel, stride, affine)


def _pool(kind: str) -> OpFactory:
    return lambda c_in, c_out, stride, affine: Pool(kind, c_in, c_out, stride, affine)


def _zero(C_in: int, C_out: int, stride: int, affine: bool) -> nn.Module:
    return Zero(C_out, stride)


OPS: dict[str, OpFactory] = {
    "none": _zero,
    "zero": _zero,
    "skip_connect": _identity,
    "skip": _identity,
    "identity": _identity,
    "nor_conv_1x1": _relu_conv_bn(1),
    "nor_conv_3x3": _relu_conv_bn(3),
    "nor_conv_5x5": _relu_conv_bn(5),
    "conv1x1": _conv_bn_relu(1),
    "conv3x3": _conv_bn_relu(3),
    "conv5x5": _conv_bn_relu(5),
    "conv1x1-bn-relu": _conv_bn_relu(1),
    "conv3x3-bn-relu": _conv_bn_relu(3),
    "avg_pool_3x3": _pool("avg"),
    "avgpool3x3": _pool("avg"),
    "max_pool_3x3": _pool("max"),
    "maxpool3x3": _pool("max"),
    "sep_conv_3x3": _sep(3),
    "sep_conv_5x5": _sep(5),
    "sep_conv_7x7": _sep(7),
    "dil_conv_3x3": _dil(3),
    "dil_conv_5x5": _dil(5),
}
"""Every op name the library builds, with its factory `(C_in, C_out, stride, affine)`."""


def check_op_names(names: Iterable[str]) -> None:
    """Raise `UnknownOpError` unless every name in the iterable `names` is in `OPS`."""
    unknown = sorted({name for name in names if name not in OPS})
    if unknown:
        raise UnknownOpError(
            f"the ops library cannot build {', '.join(map(repr, unknown))}; accepted op names: "
            f"{', '.join(sorted(OPS))}"
        )


def build_op(name: str, C_in: int, C_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
    """The op called `name`, mapping `C_in` to `C_out` channels at the given stride.

    Raises:
        UnknownOpError: `name` is not in `OPS`.
    """
    check_op_names([name])
    return OPS[name](C_in, C_out, stride, affine)
