"""Analytic cost: the library's params and FLOPs equal those counted on the torch network the
worker builds, for every op and every space; hand-computed and published figures check the
counting rule itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

from surrogate.costs import (
    DARTS_NETWORK,
    NB201_CIFAR10,
    OP_COSTS,
    Cost,
    CostModelError,
    FeatureMap,
    NetworkShape,
    architecture_cost,
    cost_of,
    default_network,
)
from surrogate.costs.ops import op_cost
from surrogate.spaces import get_space
from surrogate.spaces.base import SearchSpace
from surrogate.spaces.cell import CellSpace
from surrogate.spaces.darts import DartsGenotype
from surrogate.spaces.macro import MacroLayer, MacroSpace
from workers.costs import count_cost, member_cost, network_shape
from workers.supernets import SupernetConfig, build_supernet
from workers.supernets.ops import OPS, build_op


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _user_cell() -> CellSpace:
    """A 4-node cell offering every op of the library, so each one is priced in a network."""
    return CellSpace("every-op", 4, sorted(OPS))


def _macro() -> MacroSpace:
    """Six layers (so two reductions) offering every op of the library."""
    return MacroSpace("chain", [MacroLayer(f"l{i}", tuple(sorted(OPS))) for i in range(6)])


SPACES = {
    "nb201": lambda: get_space("nb201"),
    "nb101": lambda: get_space("nb101"),
    "darts": lambda: get_space("darts"),
    "user-cell": _user_cell,
    "macro": _macro,
}

CONFIGS = [
    (SupernetConfig(num_classes=10, in_channels=3, channels=8, cells_per_stage=2), (16, 16)),
    # Odd sizes exercise ceil-mode pooling and stride-2 rounding; one channel, 7 classes.
    (SupernetConfig(num_classes=7, in_channels=1, channels=6, cells_per_stage=1), (15, 13)),
]


def _measured(
    space: SearchSpace[Any], arch: Any, config: SupernetConfig, size: tuple[int, int]
) -> Cost:
    network = build_supernet(space, [arch], config)
    return count_cost(network, torch.randn(1, config.in_channels, *size), arch)


@pytest.mark.parametrize("space_name", sorted(SPACES))
@pytest.mark.parametrize("config_index", range(len(CONFIGS)))
def test_analytic_cost_equals_the_worker_network(space_name: str, config_index: int) -> None:
    space = SPACES[space_name]()
    config, size = CONFIGS[config_index]
    rng = np.random.default_rng(config_index)
    for _ in range(6):
        arch = space.sample(rng)
        assert member_cost(space, arch, config, size) == _measured(space, arch, config, size)


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize(("C_in", "C_out", "stride"), [(4, 4, 1), (4, 4, 2), (3, 6, 1), (3, 6, 2)])
def test_every_op_costs_what_its_module_counts(
    name: str, C_in: int, C_out: int, stride: int
) -> None:
    module = build_op(name, C_in, C_out, stride)
    x = torch.randn(1, C_in, 9, 9)
    cost, shape = op_cost(name, FeatureMap(C_in, 9, 9), C_out, stride)
    assert cost == count_cost(module, x)
    with torch.no_grad():
        assert tuple(module.eval()(x).shape[1:]) == (shape.channels, shape.height, shape.width)


def test_the_model_prices_exactly_the_ops_the_worker_builds() -> None:
    assert set(OP_COSTS) == set(OPS)


def test_reported_params_of_a_batch_member_equal_the_model() -> None:
    """The trainer reports `Supernet.count_parameters` for each member of a shared batch."""
    space = get_space("nb201")
    config = SupernetConfig(channels=8, cells_per_stage=2)
    archs = [space.sample(np.random.default_rng(seed)) for seed in range(4)]
    supernet = build_supernet(space, archs, config)
    for arch in archs:
        assert supernet.count_parameters(arch) == member_cost(space, arch, config, (32, 32)).params


def test_nb201_network_on_cifar10_equals_the_worker_network_at_that_size() -> None:
    space = get_space("nb201")
    config = SupernetConfig(num_classes=10, in_channels=3, channels=16, cells_per_stage=5)
    assert network_shape(config, (32, 32)) == NB201_CIFAR10
    arch = space.from_json(
        "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
    )
    assert architecture_cost(space, arch, NB201_CIFAR10) == _measured(space, arch, config, (32, 32))


def test_hand_computed_tiny_cell_network() -> None:
    """One-edge cell `nor_conv_3x3`, C = 2, one cell per stage, 1x4x4 images, 3 classes.

    Per block, (params, FLOPs): stem conv 1->2 3x3 (18, 9*1*2*16) + BN (4, 2*32) = (22, 352);
    cell at 2x4x4: ReLU 32, conv (36, 36*16), BN (4, 64) = (40, 672); reduction 2->4 to 2x2:
    conv_a ReLU 32 + (72, 72*4) + BN (8, 32), conv_b ReLU 16 + (144, 144*4) + BN (8, 32),
    2x2 pool 4*8 and 1x1 conv (8, 8*4) = (240, 1040); cell at 4x2x2: 16 + (144, 144*4) +
    (8, 32) = (152, 624); reduction 4->8 to 1x1: 16 + (288, 288) + (16, 16), 8 + (576, 576) +
    (16, 16), pool 4*4, conv (32, 32) = (928, 968); cell at 8x1x1: 8 + (576, 576) + (16, 16) =
    (592, 600); head: BN (16, 16), ReLU 8, global pool 8*2*2, linear (8*3 + 3, 8*3) = (43, 80).
    """
    space = CellSpace("tiny", 2, ["nor_conv_3x3", "none"])
    network = NetworkShape(
        num_classes=3, in_channels=1, channels=2, cells_per_stage=1, image_size=(4, 4)
    )
    expected = Cost(
        params=22 + 40 + 240 + 152 + 928 + 592 + 43,
        flops=352 + 672 + 1040 + 624 + 968 + 600 + 80,
    )
    assert expected == Cost(2017, 4336)
    assert architecture_cost(space, ("nor_conv_3x3",), network) == expected
    # The zero op costs nothing: only the cell's conv (40 + 152 + 592 params) goes.
    assert architecture_cost(space, ("none",), network) == Cost(
        2017 - 40 - 152 - 592, 4336 - 672 - 624 - 600
    )


def test_published_parameter_counts() -> None:
    """NAS-Bench-201's all-3x3 cell has 1.531546 M parameters on CIFAR-10; DARTS V2 at C = 36
    with 20 cells has 3.349342 M (DARTS's log, auxiliary head excluded)."""
    nb201 = get_space("nb201")
    assert cost_of(nb201, ("nor_conv_3x3",) * 6)["params"] == 1_531_546
    darts_v2 = DartsGenotype(
        normal=(
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2),
        ),
        reduce=(
            ("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1),
        ),
    )  # fmt: skip
    darts = get_space("darts")
    assert default_network(darts) == DARTS_NETWORK
    assert cost_of(darts, darts_v2)["params"] == 3_349_342


def test_dead_edges_are_priced_because_the_network_computes_them() -> None:
    """The convs on 0->1 and 1->2 feed nodes 1 and 2, which never reach the output (1->3 and
    2->3 are zero ops); the network still computes them, so they still cost."""
    space = get_space("nb201")
    dead = ("nor_conv_3x3", "none", "nor_conv_3x3", "skip_connect", "none", "none")
    cheaper = ("none", "none", "nor_conv_3x3", "skip_connect", "none", "none")
    assert cost_of(space, dead)["params"] > cost_of(space, cheaper)["params"]
    config = SupernetConfig(channels=4, cells_per_stage=1)
    assert member_cost(space, dead, config, (8, 8)) == _measured(space, dead, config, (8, 8))


def test_cost_of_gives_counts_for_every_builtin_space() -> None:
    rng = np.random.default_rng(3)
    for name in ("nb201", "nb101", "darts"):
        space = get_space(name)
        arch = space.sample(rng)
        result = cost_of(space, arch)
        assert set(result) == {"params", "flops"}
        assert result["params"] == architecture_cost(space, arch, default_network(space)).params
        assert result["params"] > 1_000 and result["flops"] > result["params"]


def test_errors_name_what_is_accepted() -> None:
    with pytest.raises(CostModelError, match="cannot price 'warp_op'"):
        architecture_cost(CellSpace("odd", 2, ["warp_op"]), ("warp_op",), NB201_CIFAR10)

    with pytest.raises(CostModelError, match="channels must be positive"):
        NetworkShape(channels=0)
    with pytest.raises(CostModelError, match="no cost model"):
        default_network(object())  # type: ignore[arg-type]


def test_the_trainer_reports_each_members_flops_beside_its_params() -> None:
    from workers.datasets import DatasetSpec, load_dataset
    from workers.training import TrainOptions, train_batch
    from workers.training.trainer import supernet_config

    digits = load_dataset(DatasetSpec(max_train=64))
    options = TrainOptions(
        steps_per_member=1, warmup_epochs=0, batch_size=32, eval_batch_size=128, channels=4
    )
    space = get_space("nb201")
    archs = [space.sample(np.random.default_rng(seed)) for seed in range(2)]
    config = supernet_config(digits, options)
    for result, arch in zip(train_batch(space, archs, digits, options), archs, strict=True):
        measured = _measured(space, arch, config, digits.image_shape)
        assert result.metrics["flops"] == measured.flops
        assert result.metrics["params"] == measured.params


def test_nb101_benchmark_splits_the_output_width_among_the_vertices_that_feed_it() -> None:
    from surrogate.costs.nb101_benchmark import vertex_channels

    # input -> 1, 2, 3 -> output, and 1 -> 2: vertices 2 and 3 feed the output (64 each);
    # vertex 1 feeds only vertex 2 and takes its width.
    matrix = [
        [0, 1, 0, 1, 0],
        [0, 0, 1, 0, 0],
        [0, 0, 0, 0, 1],
        [0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0],
    ]
    assert vertex_channels(32, 128, matrix) == [32, 64, 64, 64, 128]
    three = [[0, 1, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0] * 5]
    assert vertex_channels(32, 128, three) == [32, 43, 43, 42, 128]
