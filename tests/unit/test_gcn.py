"""The GCN encoder and its dense graph featurisation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from surrogate.gcn import (
    DenseGraphConv,
    GCNConfig,
    GCNEncoder,
    GCNRegressor,
    GraphFeaturizer,
    normalize_adjacency,
)
from surrogate.spaces import get_space
from surrogate.spaces.base import live_nodes
from surrogate.spaces.nb101 import NasBench101Space


@pytest.fixture(scope="module")
def nb201():  # type: ignore[no-untyped-def]
    return get_space("nb201")


def test_featurizer_builds_the_bonas_graph(nb201) -> None:  # type: ignore[no-untyped-def]
    featurizer = GraphFeaturizer(nb201, prune_dead=False)
    arch = ("nor_conv_3x3", "none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "none")
    graphs = featurizer.featurize([arch])
    N, F = nb201.max_nodes + 1, len(nb201.node_vocabulary) + 1
    assert graphs.adj.shape == (1, N, N) and graphs.x.shape == (1, N, F)
    adj, x = graphs.adj[0], graphs.x[0]
    graph = nb201.to_graph(arch)
    # One-hot labels, and the extra feature marks the global node only.
    assert torch.equal(x[: graph.num_nodes].argmax(-1), torch.tensor(graph.node_labels))
    assert x[-1, -1] == 1 and x[:-1, -1].sum() == 0
    # A node aggregates from its predecessors (adj[target, source]) and from itself.
    for source, target in graph.edges:
        assert adj[target, source] == 1 and adj[source, target] == 0
    assert torch.all(torch.diagonal(adj) == 1)
    # Every node feeds the global node; the global node feeds nobody else.
    assert torch.all(adj[-1] == 1)
    assert adj[:-1, -1].sum() == 0
    assert bool(graphs.mask.all())


def test_featurizer_encodes_only_the_live_nodes(nb201) -> None:  # type: ignore[no-untyped-def]
    # Codes follow the official string: 0->1, 0->2, 1->2, 0->3, 1->3, 2->3. Edges 0->2 and
    # 2->3 are `none`, so node 2 is reached only by the skip 1->2 and feeds nothing: both dead.
    arch = ("nor_conv_3x3", "none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "none")
    graph = nb201.to_graph(arch)
    live = live_nodes(graph, nb201.zero_labels)
    assert live == (True, True, False, False, True, True, False, True)
    graphs = GraphFeaturizer(nb201).featurize([arch])
    adj, x, mask = graphs.adj[0], graphs.x[0], graphs.mask[0]
    dead = torch.tensor([not flag for flag in live] + [False])
    assert x[dead].abs().sum() == 0 and adj[dead].abs().sum() == 0
    assert adj[:, dead].abs().sum() == 0
    assert torch.equal(mask, ~dead)
    live_idx = torch.tensor(live).nonzero().reshape(-1)
    assert torch.equal(x[live_idx].argmax(-1), torch.tensor(graph.node_labels)[live_idx])


def test_cells_that_differ_only_in_dead_ops_look_the_same(nb201) -> None:  # type: ignore[no-untyped-def]
    featurizer = GraphFeaturizer(nb201)
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(300):
        arch = nb201.sample(rng)
        live = live_nodes(nb201.to_graph(arch), nb201.zero_labels)
        dead_edges = [e for e in range(len(arch)) if not live[e + 1] and arch[e] != "none"]
        if not dead_edges:
            continue
        other = list(arch)
        for e in dead_edges:
            other[e] = "nor_conv_3x3" if arch[e] != "nor_conv_3x3" else "avg_pool_3x3"
        both = featurizer.featurize([arch, tuple(other)])
        assert torch.equal(both.adj[0], both.adj[1]) and torch.equal(both.x[0], both.x[1])
        checked += 1
    assert checked > 20
    # Every cell whose output cannot be reached is the same graph: input, output, nothing else.
    cut = featurizer.featurize(
        [("none",) * 6, ("nor_conv_3x3", "none", "skip_connect", "none", "none", "none")]
    )
    assert torch.equal(cut.adj[0], cut.adj[1]) and torch.equal(cut.x[0], cut.x[1])
    assert int(cut.mask[0].sum()) == 3


def test_zero_labels_name_the_none_ops() -> None:
    for name in ("nb201", "darts"):
        space = get_space(name)
        labels = {space.node_vocabulary[i] for i in space.zero_labels}
        assert labels and all(label.split(":")[-1] == "none" for label in labels)
    assert NasBench101Space().zero_labels == frozenset()


def test_featurizer_pads_smaller_graphs_and_caches_rows() -> None:
    space = NasBench101Space()
    featurizer = GraphFeaturizer(space, cache_size=3)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(8)]
    graphs = featurizer.featurize(archs)
    for i, arch in enumerate(archs):
        n = space.to_graph(arch).num_nodes
        assert graphs.mask[i].sum() == n + 1  # real nodes plus the global node
        assert graphs.adj[i, n:-1].abs().sum() == 0 and graphs.adj[i, :, n:-1].abs().sum() == 0
    assert len(featurizer._cache) <= 3
    again = featurizer.featurize(archs)
    assert torch.equal(again.adj, graphs.adj) and torch.equal(again.x, graphs.x)


def test_symmetric_aggregation_matches_torch_geometric() -> None:
    with warnings.catch_warnings():  # torch_geometric.nn's import calls the deprecated jit.script
        warnings.simplefilter("ignore", DeprecationWarning)
        from torch_geometric.nn import DenseGCNConv

    torch.manual_seed(0)
    ours = DenseGraphConv(5, 7, "sym")
    theirs = DenseGCNConv(5, 7)
    with torch.no_grad():
        theirs.lin.weight.copy_(ours.lin.weight)
        theirs.bias.copy_(torch.randn(7))
        ours.bias.copy_(theirs.bias)
    x = torch.randn(3, 6, 5)
    adj = (torch.rand(3, 6, 6) > 0.5).float()
    adj = adj + torch.eye(6)  # self-loops are part of our graphs
    adj = adj.clamp(max=1)
    assert torch.allclose(ours(x, adj), theirs(x, adj, add_loop=False), atol=1e-6)


def test_aggregation_rules() -> None:
    adj = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    assert torch.equal(normalize_adjacency(adj, "sum"), adj)
    assert torch.allclose(normalize_adjacency(adj, "mean"), torch.tensor([[1.0, 0.0], [0.5, 0.5]]))


@pytest.mark.parametrize("normalization", ["batch", "layer", "none"])
def test_encoder_shapes_and_batch_independence(nb201, normalization) -> None:  # type: ignore[no-untyped-def]
    featurizer = GraphFeaturizer(nb201)
    config = GCNConfig(num_layers=3, width=16, normalization=normalization, gated=True)
    torch.manual_seed(0)
    encoder = GCNEncoder(featurizer.num_features, featurizer.num_nodes, config).eval()
    rng = np.random.default_rng(1)
    graphs = featurizer.featurize([nb201.sample(rng) for _ in range(5)])
    with torch.no_grad():
        batch = encoder(graphs)
        alone = encoder(graphs.index(slice(0, 1)))
    assert batch.shape == (5, 16)
    assert torch.allclose(batch[:1], alone, atol=1e-6)  # eval mode: no leakage across graphs


def test_positional_features_widen_the_first_layer(nb201) -> None:  # type: ignore[no-untyped-def]
    featurizer = GraphFeaturizer(nb201)
    encoder = GCNEncoder(
        featurizer.num_features, featurizer.num_nodes, GCNConfig(width=8, positional=True)
    )
    first = encoder.convs[0]
    assert isinstance(first, DenseGraphConv)
    assert first.in_channels == featurizer.num_features + featurizer.num_nodes
    graphs = featurizer.featurize([nb201.sample(np.random.default_rng(0))])
    assert encoder.eval()(graphs).shape == (1, 8)


def test_dropout_masks_give_one_function_per_mask(nb201) -> None:  # type: ignore[no-untyped-def]
    featurizer = GraphFeaturizer(nb201)
    config = GCNConfig(num_layers=2, width=16, dropout=0.5)
    torch.manual_seed(0)
    net = GCNRegressor(featurizer.num_features, featurizer.num_nodes, config).eval()
    rng = np.random.default_rng(2)
    graphs = featurizer.featurize([nb201.sample(rng) for _ in range(4)])
    g = torch.Generator().manual_seed(0)
    masks_a = [torch.bernoulli(torch.full((16,), 0.5), generator=g) / 0.5 for _ in range(2)]
    masks_b = [torch.bernoulli(torch.full((16,), 0.5), generator=g) / 0.5 for _ in range(2)]
    with torch.no_grad():
        a1, a2, b = net(graphs, masks_a), net(graphs, masks_a), net(graphs, masks_b)
        plain_eval = net(graphs)
        net.train()
        t1, t2 = net(graphs), net(graphs)
    assert torch.equal(a1, a2) and not torch.allclose(a1, b)
    assert not torch.allclose(t1, t2)  # training-mode dropout is random
    assert not torch.allclose(plain_eval, a1)


def test_soft_basis_is_exact_for_one_change_with_dead_nodes_masked(nb201) -> None:  # type: ignore[no-untyped-def]
    featurizer = GraphFeaturizer(nb201)
    rng = np.random.default_rng(5)
    changed_liveness = 0
    for _ in range(40):
        base = nb201.to_codes(nb201.sample(rng))
        basis = featurizer.soft_basis(base)
        position, value = int(rng.integers(6)), int(rng.integers(5))
        target = list(base)
        target[position] = value
        probs = torch.zeros(6, 5)
        probs[torch.arange(6), torch.tensor(target)] = 1.0
        soft = basis.graphs(probs)
        hard = featurizer.featurize_codes(torch.tensor([target]))
        assert torch.allclose(soft.adj, hard.adj[0]) and torch.allclose(soft.x, hard.x[0])
        assert torch.equal(soft.mask, hard.mask[0])
        before = featurizer.featurize_codes(torch.tensor([list(base)]))
        changed_liveness += int(not torch.equal(before.mask[0], hard.mask[0]))
    assert changed_liveness > 0  # some changes cut nodes off or bring them back


def test_soft_basis_reproduces_hard_graphs(nb201) -> None:  # type: ignore[no-untyped-def]
    featurizer = GraphFeaturizer(nb201, prune_dead=False)  # exact for any number of changes
    rng = np.random.default_rng(3)
    base = nb201.to_codes(nb201.sample(rng))
    basis = featurizer.soft_basis(base)
    target = list(base)
    target[0] = (target[0] + 1) % 5
    target[4] = (target[4] + 2) % 5
    probs = torch.zeros(6, 5)
    probs[torch.arange(6), torch.tensor(target)] = 1.0
    soft = basis.graphs(probs)
    hard = featurizer.featurize_codes(torch.tensor([target]))
    assert torch.allclose(soft.adj, hard.adj[0]) and torch.allclose(soft.x, hard.x[0])
    # A genuinely soft distribution gives fractional labels, and gradients reach the probs.
    logits = torch.zeros(2, 6, 5, requires_grad=True)
    soft = basis.graphs(torch.softmax(logits, -1))
    assert soft.x.shape == (2, featurizer.num_nodes, featurizer.num_features)
    assert torch.allclose(soft.x[0, 1:7, 2:7].sum(-1), torch.ones(6))
    encoder = GCNEncoder(featurizer.num_features, featurizer.num_nodes, GCNConfig(width=8)).eval()
    encoder(soft).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
