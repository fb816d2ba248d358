"""Architectures as drawable graphs: what the dashboard's cell pictures show, laid out.

Each space draws the way its papers draw it:

* NAS-Bench-201 and user cell spaces: nodes are feature maps (input, intermediate, output) and
  every edge carries an op; ``none`` edges are kept but marked ``zero`` (drawn faint), so every
  cell of a space shows the same skeleton;
* NAS-Bench-101: ops sit on the nodes, edges are plain;
* DARTS: two cells (normal and reduction), ops on edges from the two cell inputs and the
  intermediate nodes, and plain edges from the concatenated nodes to the cell output;
* macro spaces: a chain of layers, one op per layer, on the nodes.

The positions come from `service.dashboard.layout`; the page only scales and paints them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from service.dashboard.layout import Point, layered_layout
from surrogate.exceptions import SurrogateError
from surrogate.spaces import SearchSpace, space_from_spec
from surrogate.spaces.cell import ZERO_OPS, CellSpace, cell_edges
from surrogate.spaces.darts import DartsSpace
from surrogate.spaces.macro import MacroSpace
from surrogate.spaces.nb101 import NasBench101Space

NodeKind = Literal["input", "output", "state", "op"]
EdgeKind = Literal["op", "zero", "plain"]

SHORT_OPS = {
    "nor_conv_3x3": "conv 3×3",
    "nor_conv_1x1": "conv 1×1",
    "avg_pool_3x3": "avg 3×3",
    "max_pool_3x3": "max 3×3",
    "skip_connect": "skip",
    "conv3x3-bn-relu": "conv 3×3",
    "conv1x1-bn-relu": "conv 1×1",
    "maxpool3x3": "max 3×3",
    "sep_conv_3x3": "sep 3×3",
    "sep_conv_5x5": "sep 5×5",
    "dil_conv_3x3": "dil 3×3",
    "dil_conv_5x5": "dil 5×5",
}
"""Short labels of the common ops (a label must fit on an edge)."""

DARTS_INPUTS = ("c[k-2]", "c[k-1]")
DARTS_NODES = 4


@dataclass(frozen=True, slots=True)
class GraphNode:
    """A node of a drawn cell: its position, short label, full name and kind."""

    id: int
    label: str
    title: str
    kind: NodeKind
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class GraphEdge:
    """An edge of a drawn cell with its route and, for op edges, the op."""

    source: int
    target: int
    op: str | None
    label: str | None
    kind: EdgeKind
    points: tuple[Point, ...]
    label_at: Point


@dataclass(frozen=True, slots=True)
class CellGraph:
    """One drawable cell.

    Attributes:
        name: ``cell``, ``normal``, ``reduce``, ``network``.
        ops_on: Whether the ops sit on the ``edges`` or the ``nodes``.
        nodes: Placed nodes.
        edges: Routed edges.
        layers: Number of layers (x runs from 0 to ``layers - 1``).
        span: Largest ``|y|``.
    """

    name: str
    ops_on: Literal["edges", "nodes"]
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]
    layers: int
    span: float


def short_op(op: str) -> str:
    """A short display label for an op name."""
    return SHORT_OPS.get(op, op.replace("_", " "))


def cell_graphs(space_description: dict[str, Any], arch: Any) -> tuple[CellGraph, ...]:
    """The drawable graphs of an architecture (its JSON form) in a space (its description).

    Returns:
        One graph per cell (two for DARTS); empty when the space is of a kind not drawn or the
        architecture does not parse (the page then shows the key only).
    """
    try:
        space: SearchSpace[Any] = space_from_spec(space_description)
        parsed = space.from_json(arch)
    except (SurrogateError, ValueError, TypeError, KeyError):
        return ()
    if isinstance(space, CellSpace):
        return (_cell(space, parsed),)
    if isinstance(space, NasBench101Space):
        return (_nb101(parsed.matrix, parsed.ops),)
    if isinstance(space, DartsSpace):
        concat = arch.get("normal_concat") if isinstance(arch, dict) else None
        reduce_concat = arch.get("reduce_concat") if isinstance(arch, dict) else None
        return (
            _darts("normal", parsed.normal, concat),
            _darts("reduce", parsed.reduce, reduce_concat),
        )
    if isinstance(space, MacroSpace):
        return (_macro(space, parsed),)
    return ()


_RawNode = tuple[int, str, str, NodeKind]
_RawEdge = tuple[int, int, str | None, EdgeKind]


def _build(
    name: str,
    ops_on: Literal["edges", "nodes"],
    nodes: list[_RawNode],
    edges: list[_RawEdge],
) -> CellGraph:
    layout = layered_layout([n[0] for n in nodes], [(e[0], e[1]) for e in edges])
    placed = tuple(
        GraphNode(node_id, label, title, kind, p.x, p.y)
        for (node_id, label, title, kind), p in zip(nodes, layout.nodes, strict=True)
    )
    routed = tuple(
        GraphEdge(
            source,
            target,
            op,
            None if op is None else short_op(op),
            kind,
            route.points,
            route.label_at,
        )
        for (source, target, op, kind), route in zip(edges, layout.edges, strict=True)
    )
    return CellGraph(name, ops_on, placed, routed, layout.layers, layout.span)


def _cell(space: CellSpace, ops: tuple[str, ...]) -> CellGraph:
    last = space.num_nodes - 1
    nodes: list[_RawNode] = []
    for node in range(space.num_nodes):
        if node == 0:
            nodes.append((node, "in", "cell input (node 0)", "input"))
        elif node == last:
            nodes.append((node, "out", f"cell output (node {node})", "output"))
        else:
            nodes.append((node, str(node), f"node {node}: sum of its incoming edges", "state"))
    edges: list[_RawEdge] = [
        (source, target, op, "zero" if op in ZERO_OPS else "op")
        for (source, target), op in zip(cell_edges(space.num_nodes), ops, strict=True)
    ]
    return _build("cell", "edges", nodes, edges)


def _nb101(matrix: Any, ops: Any) -> CellGraph:
    size = len(ops)
    nodes: list[_RawNode] = []
    for node, op in enumerate(ops):
        if node == 0:
            nodes.append((node, "in", "cell input", "input"))
        elif node == size - 1:
            nodes.append((node, "out", "cell output (concatenation)", "output"))
        else:
            nodes.append((node, short_op(op), op, "op"))
    edges: list[_RawEdge] = [
        (i, j, None, "plain") for i in range(size) for j in range(size) if matrix[i][j]
    ]
    return _build("cell", "nodes", nodes, edges)


def _darts(name: str, pairs: Any, concat: Any) -> CellGraph:
    output = len(DARTS_INPUTS) + DARTS_NODES
    nodes: list[_RawNode] = [
        (0, DARTS_INPUTS[0], "output of the cell before the previous one", "input"),
        (1, DARTS_INPUTS[1], "output of the previous cell", "input"),
    ]
    for k in range(DARTS_NODES):
        node = len(DARTS_INPUTS) + k
        nodes.append((node, str(k), f"intermediate node {k}: sum of its two inputs", "state"))
    nodes.append((output, "c[k]", "cell output: concatenation of the intermediate nodes", "output"))
    edges: list[_RawEdge] = []
    for position, (op, source) in enumerate(pairs):
        target = len(DARTS_INPUTS) + position // 2
        edges.append((int(source), target, op, "zero" if op in ZERO_OPS else "op"))
    chosen = concat if isinstance(concat, list) and concat else range(2, output)
    for node in chosen:
        if isinstance(node, int) and 2 <= node < output:
            edges.append((node, output, None, "plain"))
    return _build(name, "edges", nodes, edges)


def _macro(space: MacroSpace, ops: tuple[str, ...]) -> CellGraph:
    nodes: list[_RawNode] = [(0, "in", "network input", "input")]
    for index, (layer, op) in enumerate(zip(space.layers, ops, strict=True), start=1):
        nodes.append((index, short_op(op), f"{layer.name}: {op}", "op"))
    nodes.append((len(ops) + 1, "out", "network output", "output"))
    edges: list[_RawEdge] = [(i, i + 1, None, "plain") for i in range(len(ops) + 1)]
    return _build("network", "nodes", nodes, edges)
