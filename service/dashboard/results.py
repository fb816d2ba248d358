"""A search's results and surrogate versions as the dashboard's charts need them, read once.

Reading every result of a search with 10,000 evaluations through the store takes a second or
more, and the series, surrogate and trade-off charts all need them after every reported batch.
So the results are kept per search and caught up incrementally:

* results are only ever added, and each batch report appends a ``batch.reported`` event in the
  same transaction; the cache remembers the last event it read and, on the next request, reads
  the events after it, then only the architectures of the newly reported batches;
* a count of the search's results at its fidelity says whether the cache is whole; results that
  came without an event (imports, results recorded outside the lease protocol) make the counts
  disagree, and the search is then read again in full;
* one reader per search at a time: the three charts asking at once after a report wait for one
  read instead of making three.

Surrogate versions come the same way, from ``surrogate.fitted`` events (version, results fitted
on, fit report), rather than from the stored snapshots, whose fit metrics grow with every version.
Events are read through `service.events.parse_event`; a row it cannot read (an `UnknownEvent`)
is skipped, and a skipped report shows up as a count mismatch, which reads the search again.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from service.dashboard.series import Result
from service.events import BatchReported, SurrogateFitted, parse_event
from service.search_spec import SearchSpec, batch_fidelity
from service.store import (
    ArchitectureRecord,
    ArchitectureRepository,
    BatchRepository,
    EvaluationRecord,
    EvaluationRepository,
    EventRecord,
    EventRepository,
    SearchRecord,
)

EVENT_PAGE = 1000
"""Events read per query while catching up."""

Prediction = tuple[int, float, float | None]
"""(surrogate version, predicted mean, predicted std) recorded when an architecture was proposed."""


@dataclass(frozen=True, slots=True)
class SearchResults:
    """A search's results in the order they were stored (by evaluation id).

    Attributes:
        evaluation_ids: The stored evaluation of each result.
        results: Architecture, objective, feasibility and source of each result.
        metrics: The metrics of each result (shared with the cache: do not mutate).
        predictions: What the surrogate predicted for each result's architecture when it was
            proposed, or None when it was proposed without a prediction.
        cursor: The last event id read.
    """

    evaluation_ids: tuple[int, ...]
    results: tuple[Result, ...]
    metrics: tuple[dict[str, Any], ...]
    predictions: tuple[Prediction | None, ...]
    cursor: int

    def __len__(self) -> int:
        return len(self.results)


_Row = tuple[int, Result, dict[str, Any], Prediction | None]


def _row(architecture: ArchitectureRecord, evaluation: EvaluationRecord, spec: SearchSpec) -> _Row:
    objective = evaluation.objective
    if objective is not None and not math.isfinite(objective):
        objective = None
    proposal = architecture.proposal
    prediction: Prediction | None = None
    if proposal.predicted_mean is not None and proposal.surrogate_version is not None:
        prediction = (proposal.surrogate_version, proposal.predicted_mean, proposal.predicted_std)
    result = Result(
        architecture_id=architecture.id,
        objective=objective,
        feasible=objective is not None and spec.feasible(evaluation.metrics),
        source=proposal.source,
    )
    return (evaluation.id, result, evaluation.metrics, prediction)


def _assemble(rows: list[_Row], cursor: int) -> SearchResults:
    rows.sort(key=lambda row: row[0])
    return SearchResults(
        evaluation_ids=tuple(r[0] for r in rows),
        results=tuple(r[1] for r in rows),
        metrics=tuple(r[2] for r in rows),
        predictions=tuple(r[3] for r in rows),
        cursor=cursor,
    )


def read_all(session: Session, search_id: int, spec: SearchSpec) -> SearchResults:
    """Every result of a search at its fidelity (the event cursor is taken first)."""
    cursor = EventRepository(session).last_id()
    observations = EvaluationRepository(session).observations(search_id, batch_fidelity(spec))
    rows = [_row(o.architecture, o.evaluation, spec) for o in observations]
    return _assemble(rows, cursor)


def catch_up(
    session: Session, search_id: int, spec: SearchSpec, known: SearchResults
) -> SearchResults:
    """`known` plus the results of the batches reported since its cursor."""
    fidelity = batch_fidelity(spec)
    reported: list[int] = []
    cursor = known.cursor
    for event in _events_after(session, search_id, cursor):
        cursor = event.id
        payload = parse_event(event.kind, event.payload)
        if isinstance(payload, BatchReported):
            reported.append(payload.batch_id)
    if not reported:
        return SearchResults(
            known.evaluation_ids, known.results, known.metrics, known.predictions, cursor
        )
    batches = BatchRepository(session)
    members = [m for batch_id in reported for m in batches.get(batch_id).member_ids]
    seen = set(known.evaluation_ids)
    rows: list[_Row] = list(
        zip(known.evaluation_ids, known.results, known.metrics, known.predictions, strict=True)
    )
    for view in ArchitectureRepository(session).views(members):
        for evaluation in view.evaluations:
            if evaluation.fidelity == fidelity and evaluation.id not in seen:
                seen.add(evaluation.id)
                rows.append(_row(view.architecture, evaluation, spec))
    return _assemble(rows, cursor)


def _events_after(session: Session, search_id: int, after: int) -> Iterator[EventRecord]:
    events = EventRepository(session)
    while True:
        page = events.list_after(after, limit=EVENT_PAGE, search_id=search_id)
        yield from page
        if len(page) < EVENT_PAGE:
            return
        after = page[-1].id


class _PerSearch:
    """A bounded map from search to cached value, with one lock per search (single flight)."""

    def __init__(self, max_searches: int) -> None:
        self._max = max_searches
        self._values: OrderedDict[tuple[int, str], Any] = OrderedDict()
        self._locks: dict[tuple[int, str], threading.Lock] = {}
        self._lock = threading.Lock()

    @contextmanager
    def holding(self, search: SearchRecord) -> Iterator[tuple[int, str]]:
        key = (search.id, search.created_at.isoformat())  # ids of a deleted search may return
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            yield key

    def get(self, key: tuple[int, str]) -> Any:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
            return self._values.get(key)

    def put(self, key: tuple[int, str], value: Any) -> None:
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self._max:
                old, _ = self._values.popitem(last=False)
                self._locks.pop(old, None)


class ResultsCache:
    """`SearchResults` per search, caught up from the event log (see the module docstring)."""

    def __init__(self, max_searches: int = 8) -> None:
        self._store = _PerSearch(max_searches)

    def get(self, session: Session, search: SearchRecord, spec: SearchSpec) -> SearchResults:
        """The results of `search` at its fidelity, read incrementally when possible."""
        with self._store.holding(search) as key:
            count = EvaluationRepository(session).count(search.id, batch_fidelity(spec))
            known: SearchResults | None = self._store.get(key)
            if known is not None and len(known) == count:
                return known
            found = None
            if known is not None and len(known) < count:
                found = catch_up(session, search.id, spec, known)
            if found is None or len(found) != count:
                found = read_all(session, search.id, spec)
            self._store.put(key, found)
            return found


@dataclass(frozen=True, slots=True)
class Fit:
    """What the controller announced when it stored a surrogate version."""

    version: int
    n_observations: int
    created_at: datetime
    seconds: float | None
    final_loss: float | None


class FitCache:
    """Surrogate versions per search, from ``surrogate.fitted`` events read incrementally."""

    def __init__(self, max_searches: int = 8) -> None:
        self._store = _PerSearch(max_searches)

    def get(self, session: Session, search: SearchRecord) -> dict[int, Fit]:
        """Version -> what its fit reported (shared with the cache: do not mutate)."""
        with self._store.holding(search) as key:
            last, fits = self._store.get(key) or (0, {})
            found = dict(fits)
            for event in _events_after(session, search.id, last):
                last = event.id
                fit = fit_of(event)
                if fit is not None:
                    found[fit.version] = fit
            self._store.put(key, (last, found))
            return found


def fit_of(event: EventRecord) -> Fit | None:
    """The fit an event announces, if it is a ``surrogate.fitted`` event."""
    payload = parse_event(event.kind, event.payload)
    if not isinstance(payload, SurrogateFitted):
        return None
    report = payload.fit
    return Fit(
        version=payload.version,
        n_observations=payload.n_observations,
        created_at=event.created_at,
        seconds=_finite(report.get("seconds")),
        final_loss=_finite(report.get("final_loss")),
    )


def _finite(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None
