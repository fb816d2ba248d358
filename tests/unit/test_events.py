"""The event payload classes: one per kind, exact keys, and tolerant reading of stored rows."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from service.events import (
    PAYLOAD_CLASSES,
    BatchProposed,
    BatchReleased,
    BatchReported,
    EventKind,
    EventPayload,
    SearchCancelled,
    SearchCompleted,
    SearchCreated,
    SearchFailed,
    SurrogateFitted,
    UnknownEvent,
    parse_event,
    payload_class,
)

EXAMPLES: dict[EventKind, dict[str, Any]] = {
    EventKind.SEARCH_CREATED: {"name": "nb201", "owner": "alice"},
    EventKind.SEARCH_STARTED: {},
    EventKind.SEARCH_PAUSED: {},
    EventKind.SEARCH_RESUMED: {},
    EventKind.SEARCH_CANCELLED: {"reason": "cancelled by alice", "batches_cancelled": 2},
    EventKind.SEARCH_COMPLETED: {"reason": "budget", "evaluations": 40, "batches_cancelled": 0},
    EventKind.SEARCH_FAILED: {"reason": "invalid spec", "evaluations": 3, "batches_cancelled": 1},
    EventKind.BATCH_PROPOSED: {
        "batch_id": 7,
        "size": 2,
        "keys": ["a", "b"],
        "surrogate_version": None,
        "seconds": 0.25,
    },
    EventKind.BATCH_LEASED: {"batch_id": 7, "worker_id": 3, "attempt": 1},
    EventKind.BATCH_REPORTED: {"batch_id": 7, "worker_id": 3, "attempt": 1, "stored": 2},
    EventKind.BATCH_RELEASED: {
        "batch_id": 7,
        "worker_id": 3,
        "attempt": 1,
        "reason": "shutdown: bye",
        "state": "queued",
    },
    EventKind.BATCH_REQUEUED: {"batch_id": 7, "reason": "lease expired"},
    EventKind.BATCH_FAILED: {"batch_id": 7, "reason": "out of attempts"},
    EventKind.SURROGATE_FITTED: {
        "version": 2,
        "n_observations": 20,
        "fit": {"seconds": 1.5, "final_loss": 0.1},
    },
}
"""A stored payload of every kind, with exactly the keys its writer writes."""


def test_every_kind_has_exactly_one_payload_class() -> None:
    kinds = [cls.KIND for cls in PAYLOAD_CLASSES]
    assert sorted(kinds) == sorted(EventKind)
    for kind in EventKind:
        cls = payload_class(kind)
        assert cls is not None and cls.KIND is kind
        assert payload_class(kind.value) is cls
    assert set(EXAMPLES) == set(EventKind)


@pytest.mark.parametrize("kind", list(EventKind), ids=str)
def test_every_kind_round_trips_through_the_stored_form(kind: EventKind) -> None:
    cls = payload_class(kind)
    assert cls is not None
    payload = cls.model_validate(EXAMPLES[kind])
    stored = payload.to_json()
    assert stored == EXAMPLES[kind]
    assert set(stored) == set(cls.model_fields)
    parsed = parse_event(kind.value, stored)
    assert parsed == payload and type(parsed) is cls and parsed.kind is kind


def test_a_wrong_or_missing_key_is_refused_when_writing() -> None:
    with pytest.raises(ValidationError, match="extra"):
        BatchReported(batch_id=1, worker_id=2, attempt=1, stored=3, batch=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="stored"):
        BatchReported(batch_id=1, worker_id=2, attempt=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="batches_cancelled"):
        SearchFailed(reason="x")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        SearchCreated(name="n", owner=None)  # type: ignore[arg-type]


def test_payloads_are_frozen() -> None:
    payload = SearchCancelled(reason="r", batches_cancelled=1)
    with pytest.raises(ValidationError):
        payload.reason = "other"


def test_the_kind_comes_from_the_class() -> None:
    released = BatchReleased(batch_id=1, worker_id=2, attempt=1, reason="r", state="failed")
    assert released.kind is EventKind.BATCH_RELEASED
    assert SearchCompleted.KIND is EventKind.SEARCH_COMPLETED


def test_an_old_search_failed_row_with_only_a_reason_reads_with_zero_counts() -> None:
    parsed = parse_event("search.failed", {"reason": "proposals kept failing"})
    assert parsed == SearchFailed(
        reason="proposals kept failing", evaluations=0, batches_cancelled=0
    )


def test_old_rows_missing_optional_keys_read_with_their_defaults() -> None:
    proposed = parse_event(
        "batch.proposed", {"batch_id": 1, "size": 1, "keys": ["k"], "seconds": 1}
    )
    assert isinstance(proposed, BatchProposed) and proposed.surrogate_version is None
    fitted = parse_event("surrogate.fitted", {"version": 3, "n_observations": 9})
    assert fitted == SurrogateFitted(version=3, n_observations=9, fit={})


def test_unknown_keys_of_a_known_kind_are_dropped_when_reading() -> None:
    stored = {**EXAMPLES[EventKind.BATCH_REPORTED], "note": "written by a newer version"}
    parsed = parse_event("batch.reported", stored)
    assert parsed == BatchReported(batch_id=7, worker_id=3, attempt=1, stored=2)


def test_an_unknown_kind_reads_as_a_generic_payload() -> None:
    parsed = parse_event("tick", {"w": 1})
    assert parsed == UnknownEvent(kind="tick", data={"w": 1}, problem="unknown kind")


def test_an_unreadable_row_of_a_known_kind_reads_as_a_generic_payload_saying_why() -> None:
    parsed = parse_event("batch.reported", {"batch_id": "seven"})
    assert isinstance(parsed, UnknownEvent)
    assert parsed.kind == "batch.reported" and parsed.data == {"batch_id": "seven"}
    assert "batch_id" in parsed.problem and "worker_id" in parsed.problem


def test_every_kind_has_a_label_for_people() -> None:
    assert EventKind.BATCH_REPORTED.label == "batch reported"
    assert len({kind.label for kind in EventKind}) == len(EventKind)


def test_the_module_is_neutral() -> None:
    """Every layer imports the payload classes, so they import none of the layers."""
    source = Path(__file__).resolve().parents[2].joinpath("service", "events.py").read_text()
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    assert not {m for m in imported if m.startswith(("service", "workers", "surrogate"))}
    assert EventPayload.model_config.get("extra") == "forbid"
