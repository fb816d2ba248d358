"""The BONAS graph encoder: architecture graphs as dense tensors, and the GCN that reads them.

BONAS encodes a cell as a DAG with the operations on the nodes, appends a *global* node that
every node feeds, adds self-loops, and lets each node aggregate from its predecessors; a stack of
graph convolutions then reads the whole cell out at the global node. The graphs are tiny (a dozen
nodes at most) and padded to one size per space, so everything here is dense batched algebra on
an adjacency of shape `(n, N, N)` and node features of shape `(n, N, F)` with
`N = space.max_nodes + 1` (the global node sits in the last slot): the batch of 10,000 pool
candidates is then one `matmul` per layer instead of a scatter over a sparse edge list.

`GraphFeaturizer` turns code rows (what BoTorch hands the surrogate) into those tensors through
`space.decode` and `space.to_graph`, caching each row. It encodes only the *live* part of a
graph (`surrogate.spaces.base.live_nodes`): nodes with a zero op, and nodes that no longer lie
on an input-to-output path without them, become padding. On NAS-Bench-201 this raised the
held-out Kendall tau of the default surrogate from 0.67 to 0.71 with 100 training cells and from
0.83 to 0.86 with 1,000 (docs/benchmarks.md). The GCN takes *any* float node features
and adjacency, which is how the BaLeNAS sampler feeds it soft op distributions
(`GraphFeaturizer.soft_basis`).
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from surrogate.limits import check_maxima
from surrogate.spaces.base import ArchGraph, SearchSpace, live_nodes

Normalization = Literal["batch", "layer", "none"]
Aggregation = Literal["sum", "mean", "sym"]


GCN_MAXIMA: dict[str, float] = {
    "num_layers": 16,
    "width": 1024,
}
"""Largest accepted depth and width of `GCNConfig` (docs/limits.md)."""


@dataclass(frozen=True)
class GCNConfig:
    """Shape of the GCN encoder.

    Attributes:
        num_layers: Graph-convolution layers (BONAS: 4).
        width: Hidden width, and the size of the embedding read out at the global node
            (BONAS: 64).
        normalization: `"batch"` (BONAS's BatchNorm, statistics over the real nodes only),
            `"layer"` (per node, no running statistics) or `"none"`.
        aggregation: How a node combines its predecessors: `"sum"` (BONAS's raw adjacency),
            `"mean"` (row-normalised) or `"sym"` (Kipf and Welling's symmetric normalisation,
            what `torch_geometric.nn.DenseGCNConv` computes).
        dropout: Dropout probability after every layer (0 disables it); the MC-dropout sampler
            needs it.
        positional: Append a one-hot of each node's slot to its features. Spaces list nodes in
            a fixed order (input first, ops in code order), so the slot says *which* edge or
            vertex a node is, which plain message passing cannot tell apart in symmetric cells.
        bidirectional: Also pass messages backwards along the edges (successor to predecessor,
            with their own weights; the global node sends nothing back), so that a node learns
            whether its output reaches the rest of the cell: an op whose result is never used
            does not matter, which forward aggregation alone cannot see.
        gated: Multiply every message, channel by channel, by a learned gate of its source
            node's label (`sigmoid(U_l x_j + c_l)` in layer `l`), as GATES models operations as
            masks on the information flowing through a cell: the network can learn that some
            labels (such as `none`) pass nothing on and that others favour some features.
    """

    num_layers: int = 4
    width: int = 64
    normalization: Normalization = "batch"
    aggregation: Aggregation = "mean"
    dropout: float = 0.0
    positional: bool = False
    bidirectional: bool = False
    gated: bool = False

    def __post_init__(self) -> None:
        check_maxima("fit.gcn", self, GCN_MAXIMA)
        if self.num_layers < 1 or self.width < 1:
            raise ValueError(f"num_layers and width must be positive, got {self}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class DenseGraphs:
    """A batch of padded graphs.

    Attributes:
        adj: `(..., N, N)`: `adj[..., i, j] > 0` when node `i` aggregates from node `j`
            (an edge `j -> i`, a self-loop, or `j` feeding the global node `i = N - 1`).
        x: `(..., N, F)` node features (one-hot labels, or soft distributions).
        mask: `(..., N)` bool, True for real nodes and the global node, False for padding.
    """

    adj: Tensor
    x: Tensor
    mask: Tensor

    def __len__(self) -> int:
        return int(self.adj.shape[0])

    def index(self, idx: Tensor | slice) -> DenseGraphs:
        """The graphs at `idx` along the first dimension."""
        return DenseGraphs(self.adj[idx], self.x[idx], self.mask[idx])


class GraphFeaturizer:
    """Builds the dense BONAS tensors of a space's architectures, caching them per code row.

    Node features are the one-hot of `space.node_vocabulary`, plus one extra feature that marks
    the global node. Padding nodes have zero features and no edges; so do dead nodes (zero ops
    and what they cut off) unless `prune_dead` is off. Dead nodes keep their slots, so the
    positional features still say which edge or vertex every live node is.

    Args:
        space: The search space whose `to_graph` describes each architecture.
        cache_size: Code rows kept in the LRU cache (a row costs a few hundred bytes).
        prune_dead: Encode only the live nodes (`live_nodes` with `space.zero_labels`). Off,
            the graph is BONAS's, where a `none` node is a node like any other.
    """

    def __init__(
        self, space: SearchSpace[Any], cache_size: int = 200_000, *, prune_dead: bool = True
    ) -> None:
        self.space = space
        self.prune_dead = prune_dead
        self._zero_labels = space.zero_labels
        self.num_nodes = space.max_nodes + 1
        self.num_features = len(space.node_vocabulary) + 1
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def graph_arrays(self, graph: ArchGraph) -> tuple[np.ndarray, np.ndarray]:
        """`(adj, x)` as float32 arrays of shapes `(N, N)` and `(N, F)` for one graph."""
        n, N, F = graph.num_nodes, self.num_nodes, self.num_features
        if n > N - 1:
            raise ValueError(f"graph has {n} nodes; the space promised at most {N - 1}")
        adj = np.zeros((N, N), dtype=np.float32)
        x = np.zeros((N, F), dtype=np.float32)
        live = live_nodes(graph, self._zero_labels) if self.prune_dead else (True,) * n
        nodes = np.flatnonzero(np.asarray(live, dtype=bool))
        x[nodes, np.asarray(graph.node_labels, dtype=np.int64)[nodes]] = 1.0
        x[N - 1, F - 1] = 1.0
        for source, target in graph.edges:
            if live[source] and live[target]:
                adj[target, source] = 1.0
        adj[nodes, nodes] = 1.0
        adj[N - 1, nodes] = 1.0
        adj[N - 1, N - 1] = 1.0
        return adj, x

    def _arrays_for(self, codes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        cached = self._cache.get(codes)
        if cached is not None:
            self._cache.move_to_end(codes)
            return cached
        arch = self.space.from_codes(codes)
        arrays = self.graph_arrays(self.space.to_graph(arch))
        self._cache[codes] = arrays
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return arrays

    def featurize_codes(self, X: Tensor) -> DenseGraphs:
        """Dense graphs of code rows.

        Args:
            X: `(..., d)` codes (any float or int dtype; values are rounded).

        Returns:
            Graphs with leading shape `X.shape[:-1]`, float32.
        """
        lead = X.shape[:-1]
        rows = torch.round(X.detach().reshape(-1, X.shape[-1])).to(torch.int64).tolist()
        pairs = [self._arrays_for(tuple(row)) for row in rows]
        N, F = self.num_nodes, self.num_features
        if pairs:
            adj = torch.from_numpy(np.stack([p[0] for p in pairs]))
            x = torch.from_numpy(np.stack([p[1] for p in pairs]))
        else:
            adj, x = torch.zeros(0, N, N), torch.zeros(0, N, F)
        adj = adj.reshape(*lead, N, N)
        x = x.reshape(*lead, N, F)
        return DenseGraphs(adj, x, x.sum(-1) > 0)

    def featurize(self, archs: Sequence[Any]) -> DenseGraphs:
        """Dense graphs of architectures (through their codes, so they share the cache)."""
        return self.featurize_codes(self.space.encode_many(list(archs)))

    def soft_basis(self, codes: Sequence[int]) -> SoftGraphBasis:
        """Linearisation of the graph tensors around `codes`, for soft op distributions.

        For every position `p` and value `v`, the change in `(adj, x)` when only position `p` of
        `codes` becomes `v`. A distribution `probs[p, v]` over each position's values then gives
        the soft graph `base + sum_{p,v} probs[p, v] * delta[p, v]`: exact where each position
        sets the label of its own node and nothing else, and a first-order approximation where
        a change also moves other nodes (a zero op that cuts nodes off, NAS-Bench-101's
        pruning). Values that make the codes invalid get a zero delta.
        """
        from surrogate.exceptions import InvalidArchitectureError

        base = tuple(int(c) for c in codes)
        base_adj, base_x = self._arrays_for(base)
        cards = self.space.cardinalities
        P, V = len(cards), max(cards)
        d_adj = np.zeros((P, V, *base_adj.shape), dtype=np.float32)
        d_x = np.zeros((P, V, *base_x.shape), dtype=np.float32)
        valid = np.zeros((P, V), dtype=bool)
        for p, card in enumerate(cards):
            for v in range(card):
                if v == base[p]:
                    valid[p, v] = True
                    continue
                variant = list(base)
                variant[p] = v
                try:
                    adj, x = self._arrays_for(tuple(variant))
                except InvalidArchitectureError:
                    continue
                valid[p, v] = True
                d_adj[p, v] = adj - base_adj
                d_x[p, v] = x - base_x
        return SoftGraphBasis(
            base_adj=torch.from_numpy(base_adj),
            base_x=torch.from_numpy(base_x),
            delta_adj=torch.from_numpy(d_adj),
            delta_x=torch.from_numpy(d_x),
            valid=torch.from_numpy(valid),
        )


@dataclass(frozen=True)
class SoftGraphBasis:
    """A graph linearised around one architecture (see `GraphFeaturizer.soft_basis`).

    Attributes:
        base_adj: `(N, N)`; base_x: `(N, F)`.
        delta_adj: `(P, V, N, N)`; delta_x: `(P, V, N, F)` changes per position and value.
        valid: `(P, V)` bool: the value exists at that position and yields a valid architecture.
    """

    base_adj: Tensor
    base_x: Tensor
    delta_adj: Tensor
    delta_x: Tensor
    valid: Tensor

    def graphs(self, probs: Tensor) -> DenseGraphs:
        """Soft graphs for op distributions.

        Args:
            probs: `(..., P, V)` per-position probabilities (zero on invalid values).

        Returns:
            Graphs with leading shape `probs.shape[:-2]`, differentiable in `probs`.
        """
        adj = self.base_adj + torch.einsum("...pv,pvij->...ij", probs, self.delta_adj)
        x = self.base_x + torch.einsum("...pv,pvif->...if", probs, self.delta_x)
        # A node is real where it carries any label weight: a zero op can cut a node off in
        # the base graph that a soft distribution brings back, and the reverse.
        mask = x.detach().abs().sum(-1) > 1e-6
        return DenseGraphs(adj, x, mask)


class MaskedNorm(nn.Module):
    """Normalisation of node features that ignores padding nodes.

    `"batch"` is BatchNorm over every real node of the batch (BONAS); `"layer"` normalises each
    node over its channels. Padding nodes come out as zeros.

    Shapes:
        - x: `(..., N, C)`, mask: `(..., N)` (broadcastable to `x.shape[:-1]`) -> `(..., N, C)`.
    """

    def __init__(self, kind: Normalization, channels: int) -> None:
        super().__init__()
        self.kind = kind
        self.norm: nn.BatchNorm1d | nn.LayerNorm | None
        if kind == "batch":
            self.norm = nn.BatchNorm1d(channels)
        elif kind == "layer":
            self.norm = nn.LayerNorm(channels)
        else:
            self.norm = None

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        mask = mask.expand(x.shape[:-1])
        if self.norm is None:
            return x * mask.unsqueeze(-1)
        if bool(mask.all()):  # no padding (cell spaces): skip the gather and scatter
            flat: Tensor = self.norm(x.reshape(-1, x.shape[-1]))
            return flat.reshape(x.shape)
        out = torch.zeros_like(x)
        out[mask] = self.norm(x[mask])
        return out


class DenseGraphConv(nn.Module):
    r"""One graph convolution on dense padded graphs: :math:`H' = \hat{A} H W + b`.

    :math:`\hat{A}` is the adjacency as given (`"sum"`, BONAS), row-normalised
    :math:`D^{-1} A` (`"mean"`), or :math:`D^{-1/2} A D^{-1/2}` with `D` the row sums
    (`"sym"`, equal to `torch_geometric.nn.DenseGCNConv` with `add_loop=False`). The adjacency
    may be soft (fractional entries), and inputs may carry extra leading dimensions.

    Shapes:
        - x: `(..., N, F_in)`, adj: `(..., N, N)` -> `(..., N, F_out)`.
    """

    def __init__(self, in_channels: int, out_channels: int, aggregation: Aggregation) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.aggregation = aggregation
        self.lin = nn.Linear(in_channels, out_channels, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.lin.weight)
        nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, adj: Tensor, gate: Tensor | None = None) -> Tensor:
        """Aggregate `gate * (x W)` (the gate, `(..., N, F_out)`, scales each source's message)."""
        return self.propagate(x, normalize_adjacency(adj, self.aggregation), gate)

    def propagate(self, x: Tensor, normalized_adj: Tensor, gate: Tensor | None = None) -> Tensor:
        """`forward` with the adjacency already normalised (shared by the layers of a stack)."""
        messages = self.lin(x) if gate is None else self.lin(x) * gate
        return torch.matmul(normalized_adj, messages) + self.bias

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
            f"aggregation={self.aggregation!r})"
        )


def reverse_adjacency(adj: Tensor) -> Tensor:
    """Row-normalised backward adjacency: node `j` hears its successors, not the global node.

    Shapes:
        - adj `(..., N, N)` -> `(..., N, N)`.
    """
    backward = adj.transpose(-1, -2).clone()
    backward[..., :, -1] = 0.0
    eye = torch.eye(adj.shape[-1], dtype=adj.dtype)
    backward = backward * (1 - eye)
    return backward / backward.sum(-1, keepdim=True).clamp(min=1.0)


def normalize_adjacency(adj: Tensor, aggregation: Aggregation) -> Tensor:
    """Apply the aggregation rule of `DenseGraphConv` to `(..., N, N)` adjacencies."""
    if aggregation == "sum":
        return adj
    deg = adj.sum(-1).clamp(min=1.0)
    if aggregation == "mean":
        return adj / deg.unsqueeze(-1)
    inv_sqrt = deg.pow(-0.5)
    return inv_sqrt.unsqueeze(-1) * adj * inv_sqrt.unsqueeze(-2)


class GCNEncoder(nn.Module):
    """The BONAS GCN: `num_layers` x (graph convolution, normalisation, ReLU, dropout).

    The embedding of a graph is the global node's (last slot's) final hidden vector.

    Args:
        num_features: `F`, the width of the node features.
        num_nodes: `N`, the padded number of nodes (global node included).
        config: Depth, width, normalisation, aggregation, dropout and the optional inputs.

    Shapes:
        - graphs.adj `(..., N, N)`, graphs.x `(..., N, F)`, graphs.mask `(..., N)`
          -> `(..., width)`.
    """

    def __init__(self, num_features: int, num_nodes: int, config: GCNConfig) -> None:
        super().__init__()
        self.config = config
        self.num_features = num_features
        self.num_nodes = num_nodes
        in_channels = num_features + (num_nodes if config.positional else 0)
        widths = [in_channels] + [config.width] * config.num_layers
        self.convs = nn.ModuleList(
            DenseGraphConv(a, b, config.aggregation) for a, b in itertools.pairwise(widths)
        )
        self.norms = nn.ModuleList(
            MaskedNorm(config.normalization, config.width) for _ in range(config.num_layers)
        )
        self.reverse = (
            nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in itertools.pairwise(widths))
            if config.bidirectional
            else None
        )
        # One linear map gives every layer's gates at once (`num_layers` blocks of `width`).
        self.gates: nn.Linear | None = (
            nn.Linear(num_features, config.width * config.num_layers) if config.gated else None
        )
        self.reset_parameters()

    @property
    def embedding_dim(self) -> int:
        return self.config.width

    def reset_parameters(self) -> None:
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                # torch types `Module.__getattr__` as `Tensor | Module`, so a submodule's method
                # found by `hasattr` reads as not callable.
                module.reset_parameters()  # type: ignore[operator]
        if self.gates is not None:  # start half open, with no preference between labels
            nn.init.zeros_(self.gates.weight)
            nn.init.zeros_(self.gates.bias)

    def input_features(self, graphs: DenseGraphs) -> Tensor:
        if not self.config.positional:
            return graphs.x
        slots = torch.eye(self.num_nodes, dtype=graphs.x.dtype) * graphs.mask.unsqueeze(-1)
        return torch.cat([graphs.x, slots.expand(*graphs.x.shape[:-1], self.num_nodes)], dim=-1)

    def forward(self, graphs: DenseGraphs, dropout_masks: Sequence[Tensor] | None = None) -> Tensor:
        """Embed graphs.

        Args:
            graphs: The batch.
            dropout_masks: Optional fixed dropout masks, one per layer, each broadcastable to
                `(..., 1, width)` and already scaled by `1 / (1 - p)`. A mask shared by every
                graph of the batch makes the network one fixed function, i.e. one MC-dropout
                posterior sample. Without masks, dropout acts only in training mode.
        """
        h = self.input_features(graphs)
        forward = normalize_adjacency(graphs.adj, self.config.aggregation)
        backward = None if self.reverse is None else reverse_adjacency(graphs.adj)
        gates = None if self.gates is None else torch.sigmoid(self.gates(graphs.x))
        for layer, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            width = self.config.width
            gate = None if gates is None else gates[..., layer * width : (layer + 1) * width]
            assert isinstance(conv, DenseGraphConv)
            out = conv.propagate(h, forward, gate)
            if self.reverse is not None and backward is not None:
                messages = self.reverse[layer](h)
                out = out + torch.matmul(backward, messages if gate is None else messages * gate)
            h = torch.relu(norm(out, graphs.mask))
            if dropout_masks is not None:
                h = h * dropout_masks[layer]
            elif self.config.dropout > 0:
                h = nn.functional.dropout(h, self.config.dropout, self.training)
        return h[..., -1, :]


class GCNRegressor(nn.Module):
    """GCN encoder plus a linear head: the network trained on the observations.

    Shapes:
        - graphs -> `(...)` scalar predictions (on the surrogate's internal target scale).
    """

    def __init__(self, num_features: int, num_nodes: int, config: GCNConfig) -> None:
        super().__init__()
        self.encoder = GCNEncoder(num_features, num_nodes, config)
        self.head = nn.Linear(config.width, 1)

    @property
    def config(self) -> GCNConfig:
        return self.encoder.config

    def forward(self, graphs: DenseGraphs, dropout_masks: Sequence[Tensor] | None = None) -> Tensor:
        out: Tensor = self.head(self.encoder(graphs, dropout_masks))
        return out.squeeze(-1)


def embed_in_chunks(encoder: GCNEncoder, graphs: DenseGraphs, chunk: int = 4096) -> Tensor:
    """Embeddings of a large first-dimension batch, in chunks, without gradients.

    Returns:
        `(n, width)` float32.
    """
    with torch.no_grad():
        parts = [encoder(graphs.index(slice(i, i + chunk))) for i in range(0, len(graphs), chunk)]
    if not parts:
        return torch.zeros(0, encoder.embedding_dim)
    return torch.cat(parts)
