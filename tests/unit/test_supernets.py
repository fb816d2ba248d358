"""Supernets: every member's forward through the shared network equals the forward of that
architecture built alone with the same weights; the union forward trains every op; a member's
step trains only its path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, cast

import numpy as np
import pytest
import torch
from torch import nn

from surrogate.spaces import get_space
from surrogate.spaces.base import SearchSpace
from surrogate.spaces.cell import CellSpace
from surrogate.spaces.darts import DARTS_OPS, DartsGenotype
from surrogate.spaces.macro import MacroLayer, MacroSpace
from workers.supernets import (
    NotAMemberError,
    Supernet,
    SupernetConfig,
    UnknownOpError,
    UnsupportedSpaceError,
    build_supernet,
)
from workers.supernets.ops import OPS, build_op, is_zero_op

CONFIG = SupernetConfig(num_classes=5, in_channels=3, channels=4, cells_per_stage=1)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """These networks are tiny: one thread is fastest, and immune to a busy machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _user_cell() -> CellSpace:
    return CellSpace("mycell", 3, ["zero", "skip", "conv3x3", "max_pool_3x3", "sep_conv_3x3"])


def _macro() -> MacroSpace:
    layers = [
        MacroLayer("a", ("conv3x3", "skip", "dil_conv_3x3")),
        MacroLayer("b", ("conv1x1", "avg_pool_3x3", "nor_conv_3x3")),
        MacroLayer("c", ("sep_conv_5x5", "identity")),
        MacroLayer("d", ("conv5x5", "max_pool_3x3", "none")),
    ]
    return MacroSpace("chain", layers)


SPACES: dict[str, Callable[[], SearchSpace[Any]]] = {
    "nb201": lambda: get_space("nb201"),
    "user-cell": _user_cell,
    "macro": _macro,
    "nb101": lambda: get_space("nb101"),
    "darts": lambda: get_space("darts"),
}


def _batch(space: SearchSpace[Any], k: int = 5, seed: int = 0) -> list[Any]:
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(k)]


def _randomise_batchnorm(net: nn.Module, seed: int) -> None:
    """Give every BatchNorm non-trivial running statistics, so eval mode tests them too."""
    generator = torch.Generator().manual_seed(seed)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            shape = module.running_mean.shape
            module.running_mean.copy_(torch.randn(shape, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(shape, generator=generator) + 0.5)


@pytest.mark.parametrize("name", list(SPACES))
def test_member_forward_equals_network_built_alone(name: str) -> None:
    torch.manual_seed(0)
    space = SPACES[name]()
    archs = _batch(space)
    supernet = build_supernet(space, archs, CONFIG)
    _randomise_batchnorm(supernet, 1)
    x = torch.randn(6, 3, 8, 8)
    outputs = []
    for arch in archs:
        torch.manual_seed(123)  # a different initialisation, overwritten by the copy
        alone = supernet.alone(arch)
        assert set(alone.state_dict()) <= set(supernet.state_dict())
        for training in (False, True):
            supernet.train(training)
            alone.train(training)
            expected = supernet(x, arch)
            assert torch.allclose(alone(x, arch), expected, atol=1e-6, rtol=1e-5)
            assert torch.allclose(alone(x), expected, atol=1e-6, rtol=1e-5)  # union of one
        outputs.append(expected)
        assert supernet.count_parameters(arch) == sum(p.numel() for p in alone.parameters())
    # Members compute different functions (some may coincide, e.g. two chains ending in zero).
    assert len({tuple(o.flatten()[:5].tolist()) for o in outputs}) >= 3


def test_nb201_alone_matches_a_hand_wired_cell() -> None:
    """Check the cell's wiring independently of the supernet code that builds it."""
    torch.manual_seed(0)
    space = get_space("nb201")
    arch = ("nor_conv_3x3", "avg_pool_3x3", "nor_conv_1x1", "skip_connect", "none", "nor_conv_3x3")
    net = build_supernet(space, [arch, *_batch(space, 3)], CONFIG).alone(arch)
    net.eval()
    cell = net.layers[0]
    x = torch.randn(2, 4, 8, 8)

    def op(e: int, value: torch.Tensor) -> torch.Tensor:
        module: Any = cell.edges[e]
        if is_zero_op(arch[e]):
            return torch.zeros_like(value)
        assert list(module.keys()) == [arch[e]]  # exactly the member's op, nothing else
        out: torch.Tensor = module[arch[e]](value)
        return out

    n1 = op(0, x)
    n2 = op(1, x) + op(2, n1)
    n3 = op(3, x) + op(4, n1) + op(5, n2)
    assert torch.allclose(cell(x, arch), n3, atol=1e-6)


@pytest.mark.parametrize("name", list(SPACES))
def test_union_forward_trains_every_op_and_a_member_only_its_path(name: str) -> None:
    torch.manual_seed(0)
    space = SPACES[name]()
    archs = _batch(space)
    supernet = build_supernet(space, archs, CONFIG)
    supernet.train()
    x, y = torch.randn(6, 3, 8, 8), torch.randint(0, 5, (6,))
    nn.functional.cross_entropy(supernet(x), y).backward()
    missing = [n for n, p in supernet.named_parameters() if p.grad is None]
    assert not missing, f"union forward left {missing[:3]} untrained"

    supernet.zero_grad(set_to_none=True)
    arch = archs[0]
    alone = supernet.alone(arch)
    nn.functional.cross_entropy(supernet(x, arch), y).backward()
    nn.functional.cross_entropy(alone(x, arch), y).backward()
    alone_grads = {n: p.grad for n, p in alone.named_parameters() if p.grad is not None}
    assert alone_grads
    for pname, param in supernet.named_parameters():
        if pname in alone_grads:
            assert param.grad is not None, pname
            assert torch.allclose(param.grad, alone_grads[pname], atol=1e-6), pname
        else:
            assert param.grad is None, f"{pname} is off the member's path but was trained"


@pytest.mark.parametrize("name", list(SPACES))
def test_union_holds_only_ops_some_member_uses(name: str) -> None:
    space = SPACES[name]()
    archs = _batch(space, k=3)
    supernet = build_supernet(space, archs, CONFIG)
    union = set(supernet.state_dict())
    members = set().union(*(set(supernet.alone(a).state_dict()) for a in archs))
    assert union == members


def test_arch_outside_the_union_is_refused() -> None:
    space = get_space("nb201")
    member = ("nor_conv_3x3",) * 6
    supernet = build_supernet(space, [member], CONFIG)
    with pytest.raises(NotAMemberError, match="avg_pool_3x3"):
        supernet(torch.randn(1, 3, 8, 8), ("avg_pool_3x3", *member[1:]))
    darts = get_space("darts")
    (genotype,) = _batch(darts, 1)
    darts_net = build_supernet(darts, [genotype], CONFIG)
    op, source = genotype.normal[0]
    other_op = next(o for o in DARTS_OPS if o != op)
    outsider = DartsGenotype(((other_op, source), *genotype.normal[1:]), genotype.reduce)
    with pytest.raises(NotAMemberError, match="normal node 0"):
        darts_net(torch.randn(1, 3, 8, 8), outsider)


def test_unknown_op_and_unsupported_space() -> None:
    space = CellSpace("odd", 3, ["conv3x3", "teleport"])
    with pytest.raises(UnknownOpError, match="teleport"):
        build_supernet(space, [("conv3x3",) * 3], CONFIG)
    with pytest.raises(UnsupportedSpaceError):
        build_supernet(cast(Any, object()), [1], CONFIG)


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("stride", [1, 2])
def test_every_op_maps_shapes(name: str, stride: int) -> None:
    op = build_op(name, 4, 6 if stride == 2 else 4, stride)
    out = op(torch.randn(2, 4, 8, 8))
    assert out.shape == (2, 6 if stride == 2 else 4, 8 // stride, 8 // stride)


def test_alone_network_has_fewer_parameters_than_the_union() -> None:
    space = get_space("nb201")
    archs = _batch(space, k=8)
    supernet: Supernet[Any] = build_supernet(space, archs, CONFIG)
    total = sum(p.numel() for p in supernet.parameters())
    assert all(supernet.count_parameters(a) < total for a in archs)
