"""A small layered (Sugiyama-style) layout for the cell DAGs the dashboard draws.

Cells are tiny (at most a dozen nodes), so the classic steps are done plainly, without a graph
library and without a JavaScript one in the page:

1. *layers*: every node sits one layer right of its furthest predecessor (longest path from the
   sources), so edges always point rightwards;
2. *dummy points*: an edge that spans several layers is cut into one-layer segments through
   dummy points, so it bends around the nodes in between instead of running through them;
3. *ordering*: within each layer, nodes and dummy points are sorted by the barycentre of their
   neighbours in the previous layer, sweeping right and left a few times, and the ordering with
   the fewest segment crossings is kept;
4. *coordinates*: ``x`` is the layer; ``y`` is the rank within the layer, centred on zero.

Coordinates are in layer units; the page scales them to pixels.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

Point = tuple[float, float]

DEFAULT_SWEEPS = 6


@dataclass(frozen=True, slots=True)
class PlacedNode:
    """A node with its position."""

    id: int
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class RoutedEdge:
    """An edge with the polyline it is drawn along.

    Attributes:
        source: The node it leaves.
        target: The node it enters.
        points: From the source's position to the target's, through its dummy points.
        label_at: Where its label goes: half-way along the polyline.
    """

    source: int
    target: int
    points: tuple[Point, ...]
    label_at: Point


@dataclass(frozen=True, slots=True)
class Layout:
    """Positions of a DAG's nodes and routes of its edges (in layer units).

    Attributes:
        nodes: One per node, in the order the nodes were given.
        edges: One per edge, in the order the edges were given.
        layers: Number of layers (the width is ``layers - 1``).
        span: The largest ``|y|`` of any node or dummy point.
    """

    nodes: tuple[PlacedNode, ...]
    edges: tuple[RoutedEdge, ...]
    layers: int
    span: float


def layer_of(node_ids: Sequence[int], edges: Sequence[tuple[int, int]]) -> dict[int, int]:
    """The layer of every node: the length of the longest path reaching it from a source.

    Raises:
        ValueError: An edge names an unknown node, or the edges contain a cycle.
    """
    known = set(node_ids)
    preds: dict[int, list[int]] = {n: [] for n in node_ids}
    for source, target in edges:
        if source not in known or target not in known:
            raise ValueError(f"edge {source}->{target} names a node not in the graph")
        preds[target].append(source)
    layer: dict[int, int] = {}
    visiting: set[int] = set()

    def visit(node: int) -> int:
        if node in layer:
            return layer[node]
        if node in visiting:
            raise ValueError(f"the graph has a cycle through node {node}")
        visiting.add(node)
        layer[node] = max((visit(p) + 1 for p in preds[node]), default=0)
        visiting.discard(node)
        return layer[node]

    for node in node_ids:
        visit(node)
    return layer


def layered_layout(
    node_ids: Sequence[int], edges: Sequence[tuple[int, int]], *, sweeps: int = DEFAULT_SWEEPS
) -> Layout:
    """Lay a DAG out left to right in layers.

    Args:
        node_ids: The nodes (distinct ints); their order is the initial order within a layer.
        edges: ``(source, target)`` pairs; parallel edges are allowed (each gets its own route).
        sweeps: Barycentre sweeps (each one rightwards and leftwards).

    Returns:
        The layout.

    Raises:
        ValueError: Repeated node ids, an unknown node in an edge, or a cycle.
    """
    if len(set(node_ids)) != len(node_ids):
        raise ValueError("node ids must be distinct")
    layer = layer_of(node_ids, edges)
    count = max(layer.values(), default=-1) + 1
    # Vertices of the segment graph: ("n", id) for nodes, ("d", edge index, step) for dummies.
    columns: list[list[tuple[object, ...]]] = [[] for _ in range(count)]
    for node in node_ids:
        columns[layer[node]].append(("n", node))
    chains: list[list[tuple[object, ...]]] = []
    for index, (source, target) in enumerate(edges):
        chain: list[tuple[object, ...]] = [("n", source)]
        for step in range(1, layer[target] - layer[source]):
            dummy = ("d", index, step)
            columns[layer[source] + step].append(dummy)
            chain.append(dummy)
        chain.append(("n", target))
        chains.append(chain)
    segments = [(a, b) for chain in chains for a, b in itertools.pairwise(chain)]
    columns = _order(columns, segments, sweeps)
    position: dict[tuple[object, ...], Point] = {}
    for x, column in enumerate(columns):
        for rank, vertex in enumerate(column):
            position[vertex] = (float(x), rank - (len(column) - 1) / 2)
    nodes = tuple(PlacedNode(n, *position[("n", n)]) for n in node_ids)
    routed = []
    for (source, target), chain in zip(edges, chains, strict=True):
        points = tuple(position[v] for v in chain)
        routed.append(RoutedEdge(source, target, points, halfway(points)))
    span = max((abs(y) for _, y in position.values()), default=0.0)
    return Layout(nodes, tuple(routed), count, span)


def halfway(points: Sequence[Point]) -> Point:
    """The point half-way along a polyline (by length)."""
    if len(points) == 1:
        return points[0]
    lengths = [_distance(a, b) for a, b in itertools.pairwise(points)]
    remaining = sum(lengths) / 2
    for (a, b), length in zip(itertools.pairwise(points), lengths, strict=True):
        if remaining <= length and length > 0:
            t = remaining / length
            return (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))
        remaining -= length
    return points[-1]


def crossings(
    columns: Sequence[Sequence[tuple[object, ...]]],
    segments: Sequence[tuple[tuple[object, ...], tuple[object, ...]]],
) -> int:
    """How many pairs of segments between adjacent layers cross."""
    rank = {v: i for column in columns for i, v in enumerate(column)}
    column_of = {v: x for x, column in enumerate(columns) for v in column}
    by_gap: dict[int, list[tuple[int, int]]] = {}
    for a, b in segments:
        by_gap.setdefault(column_of[a], []).append((rank[a], rank[b]))
    total = 0
    for pairs in by_gap.values():
        for i, (a1, b1) in enumerate(pairs):
            for a2, b2 in pairs[i + 1 :]:
                if (a1 - a2) * (b1 - b2) < 0:
                    total += 1
    return total


def _order(
    columns: list[list[tuple[object, ...]]],
    segments: list[tuple[tuple[object, ...], tuple[object, ...]]],
    sweeps: int,
) -> list[list[tuple[object, ...]]]:
    preds: dict[tuple[object, ...], list[tuple[object, ...]]] = {}
    succs: dict[tuple[object, ...], list[tuple[object, ...]]] = {}
    for a, b in segments:
        succs.setdefault(a, []).append(b)
        preds.setdefault(b, []).append(a)
    best = [list(c) for c in columns]
    best_crossings = crossings(best, segments)
    current = [list(c) for c in columns]
    for _ in range(sweeps):
        for x in range(1, len(current)):
            current[x] = _sorted_by_barycentre(current[x], current[x - 1], preds)
        for x in range(len(current) - 2, -1, -1):
            current[x] = _sorted_by_barycentre(current[x], current[x + 1], succs)
        found = crossings(current, segments)
        if found < best_crossings:
            best, best_crossings = [list(c) for c in current], found
        if best_crossings == 0:
            break
    return best


def _sorted_by_barycentre(
    column: list[tuple[object, ...]],
    neighbour_column: list[tuple[object, ...]],
    neighbours: dict[tuple[object, ...], list[tuple[object, ...]]],
) -> list[tuple[object, ...]]:
    rank = {v: i for i, v in enumerate(neighbour_column)}

    def key(item: tuple[int, tuple[object, ...]]) -> tuple[float, int]:
        index, vertex = item
        linked = [rank[n] for n in neighbours.get(vertex, []) if n in rank]
        return (sum(linked) / len(linked) if linked else float(index), index)

    return [vertex for _, vertex in sorted(enumerate(column), key=key)]


def _distance(a: Point, b: Point) -> float:
    return float(((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5)
