"""Heartbeats: the shared lease state and the thread that keeps a lease alive."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from protocol import BatchMember, Lease, Progress, TableEvaluatorSpec
from workers.client import ControllerClient
from workers.heartbeat import Heartbeater, LeaseState


def make_lease(lease_seconds: float = 10.0, interval: float = 0.05) -> Lease:
    return Lease(
        batch_id="b1",
        attempt=3,
        lease_token="tok",
        lease_expires_at=datetime.now(UTC),
        lease_seconds=lease_seconds,
        heartbeat_interval_s=interval,
        search_id="s",
        space={"type": "nb201"},
        members=(BatchMember(key="k", arch="a"),),
        evaluator=TableEvaluatorSpec(path="t.csv", objective_column="acc"),
    )


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_lease_runs_out_on_the_local_clock_unless_extended() -> None:
    clock = Clock()
    state = LeaseState(make_lease(lease_seconds=10), granted_at=99.0, clock=clock)
    clock.now = 108.5
    assert not state.ended and state.seconds_left() == pytest.approx(0.5)
    state.extend(sent_at=108.0, seconds_left=10.0)  # counted from when the request was sent
    clock.now = 117.9
    assert not state.ended
    clock.now = 118.0
    assert state.ended and "ran out" in (state.lost_reason or "")


def test_an_extension_never_shortens_the_lease() -> None:
    clock = Clock()
    state = LeaseState(make_lease(lease_seconds=10), granted_at=100.0, clock=clock)
    state.extend(sent_at=95.0, seconds_left=1.0)  # a late answer to an old request
    assert state.seconds_left() == pytest.approx(10.0)


def test_the_first_reason_for_losing_a_lease_is_kept() -> None:
    state = LeaseState(make_lease(), granted_at=time.monotonic())
    state.mark_lost("first")
    state.mark_lost("second")
    assert state.lost_reason == "first" and state.ended and not state.cancelled


def test_progress_is_shared_between_threads() -> None:
    state = LeaseState(make_lease(), granted_at=time.monotonic())
    assert state.progress is None
    state.set_progress(Progress(step=4, loss=0.5))
    assert state.progress == Progress(step=4, loss=0.5)


def run_heartbeats(
    answers: list[httpx.Response | Exception], lease: Lease
) -> tuple[LeaseState, list[Any]]:
    """Run a heartbeat thread against scripted answers until it ends or the answers run out."""
    bodies: list[Any] = []
    done = threading.Event()

    def handle(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        answer = answers[min(len(bodies), len(answers)) - 1]
        if len(bodies) >= len(answers):
            done.set()
        if isinstance(answer, Exception):
            raise answer
        return answer

    client = ControllerClient("http://c.test", "t", transport=httpx.MockTransport(handle))
    state = LeaseState(lease, granted_at=time.monotonic())
    state.set_progress(Progress(step=7))
    beater = Heartbeater(client, "w1", state)
    beater.start()
    done.wait(5)
    time.sleep(0.1)
    beater.stop()
    return state, bodies


def test_ok_answers_extend_and_carry_progress() -> None:
    ok = httpx.Response(200, json={"status": "ok", "lease_seconds": 60.0})
    state, bodies = run_heartbeats([ok, ok, ok], make_lease(lease_seconds=1.0))
    assert len(bodies) >= 3 and not state.ended
    assert state.seconds_left() > 50
    assert bodies[0] == {
        "attempt": 3,
        "lease_token": "tok",
        "progress": {
            "phase": "train",
            "epoch": None,
            "step": 7,
            "total_steps": None,
            "loss": None,
            "member": None,
        },
    }


def test_lease_lost_ends_the_heartbeats() -> None:
    lost = httpx.Response(200, json={"status": "lease_lost", "reason": "stale_attempt"})
    state, bodies = run_heartbeats([lost], make_lease())
    assert "stale_attempt" in (state.lost_reason or "") and len(bodies) == 1


def test_cancel_is_recorded() -> None:
    state, _ = run_heartbeats([httpx.Response(200, json={"status": "cancel"})], make_lease())
    assert state.cancelled and state.lost_reason is None


def test_network_failures_are_survived_and_refusals_lose_the_lease() -> None:
    refused = httpx.Response(404, json={"reason": "unknown_worker", "detail": "who?"})
    state, bodies = run_heartbeats(
        [httpx.ConnectError("down"), httpx.Response(503, text="busy"), refused],
        make_lease(interval=0.05),
    )
    assert len(bodies) >= 3
    assert "unknown_worker" in (state.lost_reason or "")


def test_an_unreachable_controller_does_not_lose_the_lease() -> None:
    """An outage longer than the lease: keep training, keep trying, carry on when it answers."""
    down = [httpx.ConnectError("down") for _ in range(12)]
    ok = httpx.Response(200, json={"status": "ok", "lease_seconds": 60.0})
    state, bodies = run_heartbeats([*down, ok], make_lease(lease_seconds=0.2, interval=0.05))
    assert len(bodies) >= 13, "the heartbeats kept trying through the outage"
    assert not state.ended and state.lost_reason is None
    assert state.seconds_left() > 50 and not state.unreachable


def test_after_an_outage_the_controllers_word_decides() -> None:
    down = [httpx.Response(503, json={"reason": "store_unavailable", "detail": "read-only"})] * 6
    lost = httpx.Response(200, json={"status": "lease_lost", "reason": "stale_attempt"})
    state, _ = run_heartbeats([*down, lost], make_lease(lease_seconds=0.1, interval=0.05))
    assert "stale_attempt" in (state.lost_reason or "")


def test_the_local_deadline_still_counts_while_the_controller_answers() -> None:
    clock = Clock()
    state = LeaseState(make_lease(lease_seconds=10), granted_at=100.0, clock=clock)
    state.mark_unreachable()
    clock.now = 200.0
    assert not state.ended  # no answer: the lease may well still be ours
    state.mark_reachable()
    assert state.ended and "ran out" in (state.lost_reason or "")
