"""The search and token use cases, called directly on a session and through the app, with a fake
clock.

No sleeping: every call gets its time from `ManualClock` (passed as ``now`` to a use case, or set as
``app.state.clock`` for the routes), so the assertions can name exact times, and a budget's wall
time used is whatever the clock was advanced by.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from service.auth import Principal
from service.clock import ManualClock
from service.errors import INVALID_STATE, ApiError
from service.exceptions import InvalidStateTransitionError
from service.schemas import SearchOut, TokenCreated, TokenOut
from service.search_spec import SearchSpec, batch_fidelity
from service.store import (
    ArchitectureInput,
    ArchitectureRepository,
    BatchRepository,
    BatchState,
    EventRepository,
    ProposalInfo,
    Role,
    SearchRepository,
    SearchState,
    session_scope,
)
from service.usecases.searches import (
    cancel_search,
    list_searches,
    pause_search,
    read_search,
    resume_search,
    submit_search,
)
from tests.integration import test_api as base

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
WALL_S = 200.0
SPEC = SearchSpec.model_validate(
    {
        "name": "steered",
        "space": {"type": "cell", "name": "small", "num_nodes": 4, "ops": ["none", "skip", "conv"]},
        "evaluator": {"kind": "table", "path": "unused.csv"},
        "objective": {"metric": "score"},
        "budget": {"evaluations": 10, "wall_seconds": WALL_S},
        "batch_size": 2,
        "strategy": {"name": "random"},
    }
)

make_api = base.make_api  # the fixture, shared with test_api

ALICE = Principal(role=Role.USER, owner="alice", token_id=1, token_hash="hash-alice")
BOB = Principal(role=Role.USER, owner="bob", token_id=2, token_hash="hash-bob")
ADMIN = Principal(role=Role.ADMIN, owner="root", token_id=None, token_hash="hash-root")


def _submit(engine: Engine, now: datetime, principal: Principal = ALICE) -> int:
    with session_scope(engine) as session:
        return submit_search(session, principal, now, SPEC).id


def _start(engine: Engine, search_id: int, now: datetime, keys: list[str]) -> int:
    """Move a created search to ``running`` and queue one batch of `keys`, as the controller
    would; returns the batch id."""
    with session_scope(engine) as session:
        SearchRepository(session).transition(search_id, SearchState.RUNNING, now=now)
        items = [ArchitectureInput(k, {"cell": k}, ProposalInfo("initial")) for k in keys]
        added = ArchitectureRepository(session).add_many(search_id, items, now=now)
        batch = BatchRepository(session).create(
            search_id, [record.id for record, _ in added], now=now, fidelity=batch_fidelity(SPEC)
        )
    return batch.id


def _steer(
    engine: Engine,
    step: Callable[..., SearchOut],
    search_id: int,
    now: datetime,
    principal: Principal = ALICE,
) -> SearchOut:
    with session_scope(engine) as session:
        return step(session, principal, now, search_id)


def _events(engine: Engine, search_id: int) -> list[tuple[str, datetime, dict[str, object]]]:
    with session_scope(engine, read_only=True) as session:
        found = EventRepository(session).list_after(search_id=search_id)
        return [(e.kind, e.created_at, dict(e.payload)) for e in found]


def test_submit_stores_a_created_search_at_now_with_its_event(engine: Engine) -> None:
    with session_scope(engine) as session:
        answer = submit_search(session, ALICE, T0, SPEC)
    assert answer.state == SearchState.CREATED
    assert answer.owner == "alice"
    assert answer.created_at == T0
    assert answer.budget.wall_seconds == WALL_S
    assert answer.budget.wall_seconds_used is None  # not started yet
    assert _events(engine, answer.id) == [
        ("search.created", T0, {"name": "steered", "owner": "alice"})
    ]


def test_pause_resume_and_cancel_move_the_search_and_append_one_event_each(
    engine: Engine,
) -> None:
    clock = ManualClock(T0)
    sid = _submit(engine, clock())
    batch_id = _start(engine, sid, clock(), ["a", "b"])

    paused = _steer(engine, pause_search, sid, clock.advance(10))
    assert paused.state == SearchState.PAUSED
    again = _steer(engine, pause_search, sid, clock.advance(1))  # a repeated pause: no change
    assert again.state == SearchState.PAUSED and again.updated_at == paused.updated_at
    resumed = _steer(engine, resume_search, sid, clock.advance(4))
    assert resumed.state == SearchState.RUNNING
    still = _steer(engine, resume_search, sid, clock.advance(1))  # running: left as it is
    assert still.state == SearchState.RUNNING and still.updated_at == resumed.updated_at

    cancelled = _steer(engine, cancel_search, sid, clock.advance(5))
    assert cancelled.state == SearchState.CANCELLED
    assert cancelled.finished_at == T0 + timedelta(seconds=21)
    assert cancelled.finished_reason == "cancelled by alice"
    assert cancelled.counts.batches[BatchState.CANCELLED] == 1
    with session_scope(engine, read_only=True) as session:
        assert BatchRepository(session).get(batch_id).state == BatchState.CANCELLED

    assert _events(engine, sid)[1:] == [
        ("search.paused", T0 + timedelta(seconds=10), {}),
        ("search.resumed", T0 + timedelta(seconds=15), {}),
        (
            "search.cancelled",
            T0 + timedelta(seconds=21),
            {"reason": "cancelled by alice", "batches_cancelled": 1},
        ),
    ]


def test_cancelling_a_cancelled_search_changes_nothing(engine: Engine) -> None:
    clock = ManualClock(T0)
    sid = _submit(engine, clock())
    _start(engine, sid, clock(), ["a"])
    first = _steer(engine, cancel_search, sid, clock.advance(3))
    events = _events(engine, sid)

    second = _steer(engine, cancel_search, sid, clock.advance(60), principal=ADMIN)
    assert second.state == SearchState.CANCELLED
    assert second.finished_at == first.finished_at == T0 + timedelta(seconds=3)
    assert second.finished_reason == "cancelled by alice"  # not the admin's second cancel
    assert second.updated_at == first.updated_at
    assert _events(engine, sid) == events


def test_resuming_an_ended_search_is_refused_with_409_and_changes_nothing(
    engine: Engine,
) -> None:
    clock = ManualClock(T0)
    sid = _submit(engine, clock())
    _start(engine, sid, clock(), ["a"])
    _steer(engine, cancel_search, sid, clock.advance(1))
    events = _events(engine, sid)

    with pytest.raises(ApiError) as refused:
        _steer(engine, resume_search, sid, clock.advance(1))
    assert refused.value.status_code == 409
    assert refused.value.reason == INVALID_STATE
    assert "cancelled; it cannot resume" in refused.value.detail
    with pytest.raises(InvalidStateTransitionError):  # the store refuses pausing it too
        _steer(engine, pause_search, sid, clock.advance(1))
    assert _steer(engine, read_search, sid, clock()).state == SearchState.CANCELLED
    assert _events(engine, sid) == events


def test_wall_time_used_is_read_from_now_and_stops_while_paused(engine: Engine) -> None:
    clock = ManualClock(T0)
    sid = _submit(engine, clock())
    _start(engine, sid, clock(), ["a"])

    running = _steer(engine, read_search, sid, clock.advance(50))
    assert running.budget.wall_seconds_used == pytest.approx(50.0)
    assert running.budget.fraction_used == pytest.approx(50.0 / WALL_S)

    _steer(engine, pause_search, sid, clock())
    paused = _steer(engine, read_search, sid, clock.advance(1000))  # a long pause counts nothing
    assert paused.budget.wall_seconds_used == pytest.approx(50.0)

    _steer(engine, resume_search, sid, clock())
    resumed = _steer(engine, read_search, sid, clock.advance(30))
    assert resumed.budget.wall_seconds_used == pytest.approx(80.0)
    assert resumed.budget.fraction_used == pytest.approx(80.0 / WALL_S)


def test_a_user_can_neither_see_nor_steer_anothers_search(engine: Engine) -> None:
    clock = ManualClock(T0)
    alices = _submit(engine, clock())
    bobs = _submit(engine, clock.advance(1), principal=BOB)
    _start(engine, alices, clock(), ["a"])
    events = _events(engine, alices)

    for step in (read_search, pause_search, resume_search, cancel_search):
        with pytest.raises(ApiError) as hidden:
            _steer(engine, step, alices, clock.advance(1), principal=BOB)
        assert hidden.value.status_code == 404, step.__name__
        assert hidden.value.detail == f"search {alices} does not exist"
    assert _steer(engine, read_search, alices, clock()).state == SearchState.RUNNING
    assert _events(engine, alices) == events

    with session_scope(engine, read_only=True) as session:
        as_bob = list_searches(session, BOB, clock(), owner="alice")  # the owner is ignored
        as_admin = list_searches(session, ADMIN, clock())
        admin_alice = list_searches(session, ADMIN, clock(), owner="alice")
        running = list_searches(session, ADMIN, clock(), states=[SearchState.RUNNING])
    assert [s.id for s in as_bob.items] == [bobs] and as_bob.total == 1
    assert [s.id for s in as_admin.items] == [bobs, alices]  # newest first
    assert [s.id for s in admin_alice.items] == [alices]
    assert [s.id for s in running.items] == [alices]


# --- through the app: the routes act at the time of the app's clock ------------------------------


def test_the_search_routes_read_the_time_from_the_apps_clock(
    make_api: Callable[..., base.Api],
) -> None:
    api = make_api()
    clock = ManualClock(T0)
    api.server.app.state.clock = clock
    submitted = api.alice.post(
        "/api/v1/searches", json=base.spec(budget={"evaluations": 20, "wall_seconds": WALL_S})
    )
    assert submitted.status_code == 201, submitted.text
    created = SearchOut.model_validate(submitted.json())
    assert created.created_at == T0
    sid = created.id
    with session_scope(api.engine) as session:
        SearchRepository(session).transition(sid, SearchState.RUNNING, now=clock())

    clock.advance(42)
    read = SearchOut.model_validate(api.alice.get(f"/api/v1/searches/{sid}").json())
    assert read.budget.wall_seconds_used == pytest.approx(42.0)
    listed = api.alice.get("/api/v1/searches").json()["items"]
    assert [item["budget"]["wall_seconds_used"] for item in listed] == [pytest.approx(42.0)]

    paused = SearchOut.model_validate(api.alice.post(f"/api/v1/searches/{sid}/pause").json())
    assert paused.state == SearchState.PAUSED and paused.updated_at == T0 + timedelta(seconds=42)
    clock.advance(600)
    resumed = SearchOut.model_validate(api.alice.post(f"/api/v1/searches/{sid}/resume").json())
    assert resumed.budget.wall_seconds_used == pytest.approx(42.0)
    clock.advance(8)
    cancelled = api.alice.post(f"/api/v1/searches/{sid}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    ended = SearchOut.model_validate(cancelled.json())
    assert ended.finished_at == T0 + timedelta(seconds=650)
    assert ended.budget.wall_seconds_used == pytest.approx(50.0)

    assert api.bob.get(f"/api/v1/searches/{sid}").status_code == 404
    assert api.bob.post(f"/api/v1/searches/{sid}/cancel").status_code == 404
    refused = api.alice.post(f"/api/v1/searches/{sid}/resume")
    assert refused.status_code == 409 and refused.json()["reason"] == INVALID_STATE
    stamps = [
        (e["kind"], e["created_at"])
        for e in api.alice.get("/api/v1/events", params={"search_id": sid}).json()["items"]
    ]
    assert [kind for kind, _ in stamps] == [
        "search.created",
        "search.paused",
        "search.resumed",
        "search.cancelled",
    ]
    at = [datetime.fromisoformat(stamp) for _, stamp in stamps]
    assert at == [T0 + timedelta(seconds=s) for s in (0, 42, 642, 650)]


def test_the_token_routes_read_the_time_from_the_apps_clock(
    make_api: Callable[..., base.Api],
) -> None:
    api = make_api()
    clock = ManualClock(T0)
    api.server.app.state.clock = clock
    answer = api.admin.post("/api/v1/tokens", json={"role": "user", "owner": "carol"})
    assert answer.status_code == 201, answer.text
    created = TokenCreated.model_validate(answer.json())
    assert created.record.created_at == T0
    clock.advance(5)
    revoked = TokenOut.model_validate(
        api.admin.delete(f"/api/v1/tokens/{created.record.id}").json()
    )
    assert revoked.revoked_at == T0 + timedelta(seconds=5)
    with api.client(created.token) as carol:
        assert carol.get("/api/v1/searches").status_code == 401  # revoked at once
