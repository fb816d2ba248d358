"""The `Evaluator` interface: how a leased batch becomes one report per member.

An evaluator is built once per daemon and kind, and asked to evaluate one leased batch at a time.
The daemon owns everything around it (heartbeats, the lease, reporting), so an evaluator only
turns architectures into metrics, publishes its progress, and stops when told to.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from protocol import EvaluatorKind, Lease, MemberReport, Progress
from protocol.names import DataPathError
from surrogate.exceptions import InvalidArchitectureError, SurrogateError
from surrogate.spaces import SearchSpace, space_from_spec
from workers.data_roots import DataRoots, Expect
from workers.exceptions import EvaluationError

ProgressCallback = Callable[[Progress], None]
"""Receives the evaluator's progress; cheap to call (it only stores the latest value)."""

StopCheck = Callable[[], bool]
"""Returns True once the evaluation must stop (shutdown, lost lease, cancelled search)."""


@dataclass(frozen=True)
class EvaluatorContext:
    """What the daemon gives every evaluator.

    Attributes:
        device: Torch device to train on (``"cpu"``, ``"cuda:0"``).
        scratch_dir: Directory private to this daemon process, for temporary files.
        data_roots: The only directories whose files a spec may name (none: no file is read).
    """

    device: str = "cpu"
    scratch_dir: Path = field(default_factory=Path.cwd)
    data_roots: DataRoots = field(default_factory=DataRoots)

    def resolve(self, path: str, expect: Expect = "any") -> Path:
        """A path of an evaluator spec, as a real path under this worker's data roots.

        Raises:
            EvaluationError: The name is refused or found under no root (`DataPathError`'s
                message: the name and the kind of problem only).
        """
        try:
            return self.data_roots.resolve(path, expect)
        except DataPathError as error:
            raise EvaluationError(f"data path {error}") from None


class Evaluator(ABC):
    """Evaluates leased batches of one `EvaluatorKind`.

    Attributes:
        kind: The evaluator kind this class serves (matches ``lease.evaluator.kind``).
    """

    kind: ClassVar[EvaluatorKind]

    def __init__(self, context: EvaluatorContext) -> None:
        self.context = context

    @abstractmethod
    def evaluate(
        self, lease: Lease, progress: ProgressCallback, should_stop: StopCheck
    ) -> list[MemberReport]:
        """Evaluate every member of a leased batch.

        Called by the daemon's main thread, once per lease, while another thread sends
        heartbeats carrying the latest value given to `progress`. Implementations call
        `should_stop` at every step (every optimiser step, every lookup) and stop within one
        step once it returns True.

        Args:
            lease: The batch, its space and its evaluator spec.
            progress: Callback receiving progress; call it at least once per step or epoch.
            should_stop: Polled at every step.

        Returns:
            One report per member, in the order of ``lease.members``. A member that cannot be
            evaluated on its own (e.g. absent from a table) gets a ``failed`` report.

        Raises:
            EvaluationStoppedError: `should_stop` returned True; nothing is reported.
            EvaluationError: The batch as a whole cannot be evaluated (bad spec, missing files);
                the daemon releases it with the message.
        """


def check_reports(lease: Lease, reports: Sequence[MemberReport]) -> None:
    """Check that `reports` cover the lease's members exactly once each.

    Raises:
        EvaluationError: A member is missing, unknown or repeated.
    """
    expected = [m.key for m in lease.members]
    got = [r.key for r in reports]
    if sorted(got) != sorted(expected):
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        raise EvaluationError(
            f"evaluator returned {len(got)} reports for {len(expected)} members "
            f"(missing {missing}, unexpected {extra}, repeated: {len(got) != len(set(got))})"
        )


class SpaceCache:
    """Rebuilds search spaces from their descriptions, once per distinct description.

    Thread-safe; bounded, since a daemon serving many searches should not grow without end.
    """

    def __init__(self, max_size: int = 16) -> None:
        self._spaces: OrderedDict[str, SearchSpace[Any]] = OrderedDict()
        self._max_size = max_size
        self._lock = threading.Lock()

    def get(self, spec: dict[str, Any]) -> SearchSpace[Any]:
        """The space described by `spec`.

        Raises:
            EvaluationError: The description is not a space this worker can build.
        """
        cache_key = json.dumps(spec, sort_keys=True)
        with self._lock:
            if cache_key in self._spaces:
                self._spaces.move_to_end(cache_key)
                return self._spaces[cache_key]
        try:
            space = space_from_spec(spec)
        except SurrogateError as error:
            raise EvaluationError(f"cannot build the search space of the batch: {error}") from error
        with self._lock:
            self._spaces[cache_key] = space
            while len(self._spaces) > self._max_size:
                self._spaces.popitem(last=False)
        return space


def parse_members(space: SearchSpace[Any], lease: Lease) -> list[Any]:
    """The lease's architectures, parsed and checked against their keys.

    A member whose key differs from the key this worker computes means the controller and the
    worker disagree about the space (different versions): the batch is refused as a whole,
    so that another worker can take it.

    Raises:
        EvaluationError: An architecture does not parse, or its key does not match.
    """
    archs = []
    for member in lease.members:
        try:
            arch = space.from_json(member.arch)
        except (InvalidArchitectureError, TypeError, ValueError) as error:
            raise EvaluationError(
                f"member {member.key}: not an architecture of space {space.name!r}: {error}"
            ) from error
        key = space.key(arch)
        if key != member.key:
            raise EvaluationError(
                f"member key {member.key!r} does not match the worker's key {key!r} for the same "
                f"architecture in space {space.name!r}; are controller and worker versions equal?"
            )
        archs.append(arch)
    return archs
