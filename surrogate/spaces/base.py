"""The `SearchSpace` interface that every architecture space implements.

Every space in bonas speaks the same small vocabulary, so that the surrogate, the proposer, the
samplers, the store and the workers never need to know which space they serve:

* an *architecture* is an immutable, hashable value whose type belongs to the space (a tuple of
  op names for NAS-Bench-201, a pruned matrix and op list for NAS-Bench-101, a genotype for DARTS);
* its *codes* are a fixed-width vector of small integers, one per categorical choice, with the
  cardinality of each position given by `SearchSpace.cardinalities`. BoTorch models take
  `n x d` tensors, and the codes are those rows; per-position categorical samplers use them too;
* its *graph* is the BONAS encoding: a DAG with operations on the nodes, which the GCN reads;
* its *key* is a canonical text identity, stable across processes and machines (never Python's
  salted `hash()`), used to de-duplicate architectures in the store and to join with benchmark
  tables;
* its *JSON* form is what the REST API, the store and user files carry.

Random generators are `numpy.random.Generator` everywhere so that results are reproducible from a
seed and independent of global state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import torch

from surrogate.exceptions import InvalidArchitectureError, SpaceNotEnumerableError

A = TypeVar("A")

JSONValue = Any
"""A value that `json.dumps` accepts (dicts, lists, strings, numbers, booleans, None)."""


@dataclass(frozen=True)
class ArchGraph:
    """An architecture as a DAG with operations on the nodes (the BONAS encoding).

    The GCN appends a global node and self-loops itself; spaces only describe the cell.

    Attributes:
        node_labels: For each node, an index into `SearchSpace.node_vocabulary` (input, output and
            operation labels).
        edges: `(source, target)` pairs: the output of `source` feeds `target`.
    """

    node_labels: tuple[int, ...]
    edges: tuple[tuple[int, int], ...]

    @property
    def num_nodes(self) -> int:
        return len(self.node_labels)


def live_nodes(graph: ArchGraph, zero_labels: frozenset[int]) -> tuple[bool, ...]:
    """Which nodes of `graph` can affect its outputs.

    A node labelled with a zero op passes nothing on, so it and its edges are dropped; then a
    node stays live only if it lies on a path from an input (a node with no predecessors in
    `graph`) to an output (a node with no successors). Inputs and outputs always stay. Dead
    nodes change nothing the architecture computes, only how its graph looks: two cells that
    differ only in dead ops are the same network, and a surrogate that sees their live nodes
    alone is told so instead of having to learn it from a few observations.

    Returns:
        One flag per node, True when live.
    """
    n = graph.num_nodes
    has_pred, has_succ = [False] * n, [False] * n
    for source, target in graph.edges:
        has_succ[source] = True
        has_pred[target] = True
    ends = [not has_pred[i] or not has_succ[i] for i in range(n)]
    alive = [label not in zero_labels for label in graph.node_labels]
    successors: list[list[int]] = [[] for _ in range(n)]
    predecessors: list[list[int]] = [[] for _ in range(n)]
    for source, target in graph.edges:
        if alive[source] and alive[target]:
            successors[source].append(target)
            predecessors[target].append(source)
    from_input = reachable((i for i in range(n) if not has_pred[i]), successors.__getitem__)
    to_output = reachable((i for i in range(n) if not has_succ[i]), predecessors.__getitem__)
    return tuple(ends[i] or (alive[i] and i in from_input and i in to_output) for i in range(n))


def reachable(starts: Iterable[int], step: Callable[[int], Iterable[int]]) -> set[int]:
    """Nodes reachable from `starts` (included), where `step(v)` gives the nodes after `v`."""
    seen = set(starts)
    frontier = list(seen)
    while frontier:
        for nxt in step(frontier.pop()):
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return seen


class SearchSpace(ABC, Generic[A]):
    """A space of neural architectures.

    Subclasses implement the abstract methods; the concrete ones (`mutate`, `neighbours`,
    `distance`, `encode_many`, ...) are written once here in terms of the codes, and a space
    overrides them only where it knows a faster or more faithful way.

    Attributes:
        name: Short identifier (`"nb201"`, `"nb101"`, `"darts"`, or the user's name).
    """

    name: str

    # --- structure --------------------------------------------------------------------------

    @property
    @abstractmethod
    def cardinalities(self) -> tuple[int, ...]:
        """Number of values each position of the codes can take (the width `d` is its length)."""

    @property
    @abstractmethod
    def node_vocabulary(self) -> tuple[str, ...]:
        """Labels that graph nodes can carry; `ArchGraph.node_labels` index into this."""

    @property
    @abstractmethod
    def max_nodes(self) -> int:
        """Upper bound on `ArchGraph.num_nodes` over the space (for padding)."""

    @property
    def zero_labels(self) -> frozenset[int]:
        """Indices into `node_vocabulary` of zero ops (a node that passes nothing on).

        The surrogate's featurizer drops such nodes, and every node they cut off, from the
        graph it encodes (`live_nodes`). None by default; spaces with a `none` op say so.
        """
        return frozenset()

    @abstractmethod
    def describe(self) -> dict[str, JSONValue]:
        """JSON description from which `surrogate.spaces.space_from_spec` rebuilds this space.

        Stored with every search so that a restarted service or a worker on another machine can
        rebuild exactly the same space.
        """

    # --- the codes ----------------------------------------------------------------------------

    @abstractmethod
    def to_codes(self, arch: A) -> tuple[int, ...]:
        """Fixed-width integer codes of `arch`; position `i` lies in `[0, cardinalities[i])`."""

    @abstractmethod
    def from_codes(self, codes: Sequence[int]) -> A:
        """Inverse of `to_codes`.

        Raises:
            InvalidArchitectureError: The codes are out of range or do not form a valid
                architecture (for example too many edges in NAS-Bench-101).
        """

    # --- identity and validity --------------------------------------------------------------

    @abstractmethod
    def validate(self, arch: A) -> None:
        """Check that `arch` belongs to the space.

        Raises:
            InvalidArchitectureError: With a message that says what is wrong.
        """

    @abstractmethod
    def key(self, arch: A) -> str:
        """Canonical identity: equal for architectures that the space treats as the same."""

    @abstractmethod
    def to_graph(self, arch: A) -> ArchGraph:
        """The BONAS graph of `arch` (operations on nodes)."""

    @abstractmethod
    def to_json(self, arch: A) -> JSONValue:
        """JSON form of `arch`, as the API and the store carry it."""

    @abstractmethod
    def from_json(self, value: JSONValue) -> A:
        """Parse the JSON form, validating it.

        Raises:
            InvalidArchitectureError: The value is malformed or not in the space.
        """

    # --- sampling -----------------------------------------------------------------------------

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> A:
        """One architecture drawn uniformly from the space (or as close as the space allows)."""

    def size(self) -> int | None:
        """Number of distinct architectures (by `key`), or `None` when not practical to count."""
        return None

    def enumerate(self) -> Iterator[A]:
        """Every architecture of a finite space, each key once, in the space's canonical order.

        Raises:
            SpaceNotEnumerableError: The space is infinite or too large to enumerate.
        """
        raise SpaceNotEnumerableError(f"search space {self.name!r} cannot be enumerated")

    # --- neighbourhoods (written once, in terms of the codes) ---------------------------------

    def is_valid(self, arch: A) -> bool:
        try:
            self.validate(arch)
        except InvalidArchitectureError:
            return False
        return True

    def neighbours(self, arch: A) -> list[A]:
        """Valid architectures that differ from `arch` in exactly one code position.

        De-duplicated by key, and never containing `arch` itself (or an isomorphic copy).
        """
        codes = self.to_codes(arch)
        own_key = self.key(arch)
        seen = {own_key}
        result: list[A] = []
        for position, cardinality in enumerate(self.cardinalities):
            for value in range(cardinality):
                if value == codes[position]:
                    continue
                candidate_codes = list(codes)
                candidate_codes[position] = value
                try:
                    candidate = self.from_codes(candidate_codes)
                    self.validate(candidate)
                except InvalidArchitectureError:
                    continue
                candidate_key = self.key(candidate)
                if candidate_key not in seen:
                    seen.add(candidate_key)
                    result.append(candidate)
        return result

    def mutate(self, arch: A, rng: np.random.Generator, max_tries: int = 100) -> A:
        """A random valid architecture one code position away from `arch` (a different key)."""
        codes = self.to_codes(arch)
        own_key = self.key(arch)
        cardinalities = self.cardinalities
        for _ in range(max_tries):
            position = int(rng.integers(len(cardinalities)))
            if cardinalities[position] < 2:
                continue
            value = int(rng.integers(cardinalities[position] - 1))
            if value >= codes[position]:
                value += 1
            candidate_codes = list(codes)
            candidate_codes[position] = value
            try:
                candidate = self.from_codes(candidate_codes)
                self.validate(candidate)
            except InvalidArchitectureError:
                continue
            if self.key(candidate) != own_key:
                return candidate
        neighbours = self.neighbours(arch)
        if not neighbours:
            raise InvalidArchitectureError(f"architecture {self.key(arch)} has no neighbours")
        return neighbours[int(rng.integers(len(neighbours)))]

    def distance(self, a: A, b: A) -> int:
        """Edit distance: the number of code positions in which `a` and `b` differ.

        Used to keep the members of a weight-sharing batch close to one another.
        """
        return sum(x != y for x, y in zip(self.to_codes(a), self.to_codes(b), strict=True))

    # --- tensors for BoTorch ------------------------------------------------------------------

    @property
    def encoding_width(self) -> int:
        return len(self.cardinalities)

    def encode(self, arch: A) -> torch.Tensor:
        """Codes of `arch` as a float64 tensor of shape `(d,)`."""
        return torch.tensor(self.to_codes(arch), dtype=torch.float64)

    def encode_many(self, archs: Sequence[A]) -> torch.Tensor:
        """Codes of several architectures as a float64 tensor of shape `(n, d)`."""
        if not archs:
            return torch.empty(0, self.encoding_width, dtype=torch.float64)
        return torch.tensor([self.to_codes(a) for a in archs], dtype=torch.float64)

    def decode(self, X: torch.Tensor) -> A:
        """Inverse of `encode` for one row of shape `(d,)` (values are rounded to integers)."""
        if X.dim() != 1 or X.shape[0] != self.encoding_width:
            raise InvalidArchitectureError(
                f"expected a tensor of shape ({self.encoding_width},), got {tuple(X.shape)}"
            )
        return self.from_codes([round(float(v)) for v in X.tolist()])

    def check_codes(self, codes: Sequence[int]) -> tuple[int, ...]:
        """Range-check codes against `cardinalities`; helper for `from_codes` implementations."""
        if len(codes) != len(self.cardinalities):
            raise InvalidArchitectureError(
                f"{self.name}: expected {len(self.cardinalities)} codes, got {len(codes)}"
            )
        result = tuple(int(c) for c in codes)
        pairs = zip(result, self.cardinalities, strict=True)
        for position, (code, cardinality) in enumerate(pairs):
            if not 0 <= code < cardinality:
                raise InvalidArchitectureError(
                    f"{self.name}: code {code} at position {position} is outside [0, {cardinality})"
                )
        return result

    def __repr__(self) -> str:
        size = self.size()
        shown = size if size is not None else "?"
        return f"{type(self).__name__}(name={self.name!r}, size={shown})"
