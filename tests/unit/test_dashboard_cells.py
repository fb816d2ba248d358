"""Cells as drawable DAGs: the layered layout and what each space's cells look like."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from service.dashboard.cells import cell_graphs, short_op
from service.dashboard.layout import crossings, halfway, layer_of, layered_layout
from surrogate.spaces import get_space, space_from_spec

# --- layout ------------------------------------------------------------------------------------


def test_layers_are_longest_paths_from_the_sources() -> None:
    layers = layer_of([0, 1, 2, 3, 4], [(0, 1), (1, 2), (0, 2), (2, 3), (0, 3), (4, 3)])
    assert layers == {0: 0, 1: 1, 2: 2, 3: 3, 4: 0}


def test_layout_refuses_cycles_unknown_nodes_and_repeated_ids() -> None:
    with pytest.raises(ValueError, match="cycle"):
        layered_layout([0, 1, 2], [(0, 1), (1, 2), (2, 0)])
    with pytest.raises(ValueError, match="not in the graph"):
        layered_layout([0, 1], [(0, 5)])
    with pytest.raises(ValueError, match="distinct"):
        layered_layout([0, 0], [])


def test_long_edges_bend_through_one_point_per_layer_crossed() -> None:
    edges = [(0, 1), (1, 2), (2, 3), (0, 3), (0, 2)]
    layout = layered_layout([0, 1, 2, 3], edges)
    position = {n.id: (n.x, n.y) for n in layout.nodes}
    for edge in layout.edges:
        span = position[edge.target][0] - position[edge.source][0]
        assert len(edge.points) == span + 1
        assert edge.points[0] == position[edge.source]
        assert edge.points[-1] == position[edge.target]
        assert [x for x, _ in edge.points] == list(
            np.arange(position[edge.source][0], position[edge.target][0] + 1)
        )
        inner = set(edge.points[1:-1])
        assert not inner & set(position.values()), "an edge never runs through a node"
    assert layout.layers == 4


def test_ordering_removes_avoidable_crossings() -> None:
    # Two parallel chains given in an order that crosses: a0->b1, a1->b0.
    layout = layered_layout([0, 1, 2, 3], [(0, 3), (1, 2)])
    position = {n.id: n.y for n in layout.nodes}
    assert (position[0] - position[1]) * (position[3] - position[2]) > 0
    columns = [[("n", 0), ("n", 1)], [("n", 3), ("n", 2)]]
    segments = [(("n", 0), ("n", 3)), (("n", 1), ("n", 2))]
    assert crossings(columns, segments) == 0
    assert crossings([[("n", 0), ("n", 1)], [("n", 2), ("n", 3)]], segments) == 1


def test_halfway_is_half_the_length_along_the_polyline() -> None:
    assert halfway([(0.0, 0.0), (2.0, 0.0)]) == (1.0, 0.0)
    assert halfway([(0.0, 0.0), (1.0, 0.0), (1.0, 3.0)]) == (1.0, 1.0)
    assert halfway([(5.0, 5.0)]) == (5.0, 5.0)


# --- cells of each space -------------------------------------------------------------------------


def test_nb201_cell_has_ops_on_its_six_edges_and_marks_none_as_zero() -> None:
    space = get_space("nb201")
    arch = "|none~0|+|nor_conv_3x3~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|"
    (graph,) = cell_graphs(space.describe(), {"cell": arch})
    assert graph.ops_on == "edges"
    assert [n.label for n in graph.nodes] == ["in", "1", "2", "out"]
    assert [(e.source, e.target, e.op, e.kind) for e in graph.edges] == [
        (0, 1, "none", "zero"),
        (0, 2, "nor_conv_3x3", "op"),
        (1, 2, "skip_connect", "op"),
        (0, 3, "avg_pool_3x3", "op"),
        (1, 3, "none", "zero"),
        (2, 3, "nor_conv_1x1", "op"),
    ]
    assert [e.label for e in graph.edges][1:4] == ["conv 3×3", "skip", "avg 3×3"]
    assert [n.x for n in graph.nodes] == [0.0, 1.0, 2.0, 3.0]


def test_every_nb201_cell_is_drawn_with_the_same_skeleton() -> None:
    space = get_space("nb201")
    rng = np.random.default_rng(0)
    shapes = set()
    for _ in range(20):
        (graph,) = cell_graphs(space.describe(), space.to_json(space.sample(rng)))
        shapes.add(tuple((n.x, n.y) for n in graph.nodes))
    assert len(shapes) == 1


def test_nb101_cell_has_ops_on_nodes_and_one_edge_per_matrix_entry() -> None:
    space = get_space("nb101")
    rng = np.random.default_rng(2)
    for _ in range(10):
        arch = space.to_json(space.sample(rng))
        (graph,) = cell_graphs(space.describe(), arch)
        assert graph.ops_on == "nodes"
        assert len(graph.nodes) == len(arch["ops"])
        assert len(graph.edges) == sum(map(sum, arch["matrix"]))
        assert graph.nodes[0].kind == "input" and graph.nodes[-1].kind == "output"
        assert all(e.kind == "plain" and e.op is None for e in graph.edges)
        assert [n.title for n in graph.nodes[1:-1]] == arch["ops"][1:-1]


def test_darts_draws_the_normal_and_the_reduction_cell() -> None:
    space = get_space("darts")
    arch = space.to_json(space.sample(np.random.default_rng(4)))
    normal, reduce = cell_graphs(space.describe(), arch)
    assert (normal.name, reduce.name) == ("normal", "reduce")
    for graph, pairs in ((normal, arch["normal"]), (reduce, arch["reduce"])):
        assert len(graph.nodes) == 7
        op_edges = [e for e in graph.edges if e.kind != "plain"]
        assert sorted((e.op, e.source) for e in op_edges) == sorted(
            (op, source) for op, source in pairs
        )
        assert len([e for e in graph.edges if e.kind == "plain"]) == 4  # concat into c[k]
        assert {e.target for e in op_edges} == {2, 3, 4, 5}


def test_macro_space_is_a_chain_with_ops_on_nodes() -> None:
    space = space_from_spec({"type": "macro", "num_layers": 3, "ops": ["conv3x3", "skip"]})
    (graph,) = cell_graphs(space.describe(), {"layers": ["skip", "conv3x3", "conv3x3"]})
    assert graph.ops_on == "nodes"
    assert [n.label for n in graph.nodes] == ["in", "skip", "conv3x3", "conv3x3", "out"]
    assert [(e.source, e.target) for e in graph.edges] == list(itertools.pairwise(range(5)))
    assert all(n.y == 0 for n in graph.nodes)


def test_user_cell_space_draws_like_nb201() -> None:
    declared = {"type": "cell", "name": "c5", "num_nodes": 5, "ops": ["none", "skip", "conv3x3"]}
    space = space_from_spec(declared)
    (graph,) = cell_graphs(space.describe(), space.to_json(space.sample(np.random.default_rng(0))))
    assert len(graph.nodes) == 5
    assert len(graph.edges) == 10


def test_an_unparsable_architecture_draws_nothing() -> None:
    assert cell_graphs({"type": "nb201"}, {"cell": "not a cell"}) == ()
    assert cell_graphs({"type": "nope"}, {}) == ()


def test_short_op_names() -> None:
    assert short_op("nor_conv_3x3") == "conv 3×3"
    assert short_op("conv3x3-bn-relu") == "conv 3×3"
    assert short_op("my_custom_op") == "my custom op"
