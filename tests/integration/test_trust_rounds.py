"""Bounded, isolated rounds (issue #10, reproduction 3), against a real store.

One user could stall every search: a strategy option made the refit take hours, the refit ran on
the controller's single thread, so other searches stayed ``created``; cancelling the search did
not stop its round, and SIGTERM did not stop the service. Here:

* a huge option is refused at submission over HTTP (422 naming the option and its maximum);
* search A's slow refit (options within the maxima, but minutes of training) does not keep
  search B from getting its first batch;
* cancelling A kills its round in progress; a round over its time limit is killed, and reported
  in the search's failure reason;
* ``bonas serve`` exits within seconds of SIGTERM while A's round runs, leaves no round process
  behind, and the store holds only what was there before the round.

A's refit trains a deep GCN for 20,000 steps: about two minutes on a small CPU, never less than
many seconds anywhere; every test ends it by killing its process, well before that.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from service.app import create_app
from service.clock import ManualClock
from service.controller import Controller
from service.controller.isolation import RoundTimeoutError
from service.events import EventKind
from service.search_spec import SearchSpec
from service.settings import Settings
from service.store import (
    BatchRepository,
    BatchState,
    EventRepository,
    SearchRecord,
    SearchRepository,
    SearchState,
    SurrogateSnapshotRepository,
    session_scope,
)
from tests.integration.service_server import ServiceServer
from tests.integration.test_controller import (
    batches,
    register_worker,
    spec_dict,
    work_one,
)
from tests.support.processes import bonas_env, free_port, log_tails, spawn, wait_until_healthy
from tests.support.store import create_search as store_search

ADMIN_TOKEN = "trust-rounds-admin-0123456789abcdef"

SLOW_BONAS = {
    "n_init": 4,
    "pool_size": 100,
    "fit": {
        "epochs": 5_000,
        "warm_epochs": 5_000,
        "min_steps": 20_000,
        "gcn": {"num_layers": 8, "width": 256},
    },
}
"""Within every maximum, and yet the refit after the first batch trains for minutes."""


def slow_search(engine: Engine, clock: ManualClock) -> SearchRecord:
    """Search A: its first batch proposed and reported, so that its next round refits (slowly)."""
    spec = SearchSpec.model_validate(
        spec_dict(name="slow", batch_size=4, strategy={"name": "bonas", "options": SLOW_BONAS})
    )
    with session_scope(engine) as session:
        search = store_search(session, spec, clock())
    controller = make_controller(engine, clock)
    (first,) = controller.step(search.id).batch_ids  # random: fewer observations than n_init
    assert work_one(engine, clock, register_worker(engine, clock)) == first
    return search


def quick_search(engine: Engine, clock: ManualClock) -> SearchRecord:
    spec = SearchSpec.model_validate(spec_dict(name="quick", strategy={"name": "random"}))
    with session_scope(engine) as session:
        return store_search(session, spec, clock())


def make_controller(
    engine: Engine, clock: ManualClock, round_timeout_s: float = 600.0, max_errors: int = 5
) -> Controller:
    settings = Settings(
        database_url=str(engine.url), lease_seconds=10, round_timeout_s=round_timeout_s
    )
    return Controller(engine, settings, clock=clock, max_errors=max_errors)


def search_of(engine: Engine, search_id: int) -> SearchRecord:
    with session_scope(engine, read_only=True) as session:
        return SearchRepository(session).get(search_id)


def snapshot_count(engine: Engine, search_id: int) -> int:
    with session_scope(engine, read_only=True) as session:
        latest = SurrogateSnapshotRepository(session).latest(search_id)
    return 0 if latest is None else latest.info.version


async def until(probe: Any, what: str, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


# --- submission -----------------------------------------------------------------------------------


@pytest.fixture
def api(migrated_url: str) -> Iterator[httpx.Client]:
    """A service (no controller) and a client holding a user token."""
    values: dict[str, Any] = {"database_url": migrated_url, "admin_token": ADMIN_TOKEN}
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    server = ServiceServer(create_app(settings, run_controller=False))
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            answer = client.post(
                "/api/v1/tokens",
                json={"role": "user", "owner": "alice"},
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            )
            assert answer.status_code == 201, answer.text
            client.headers["Authorization"] = f"Bearer {answer.json()['token']}"
            yield client
    finally:
        server.stop()


def _submission(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "huge",
        "space": "nb201",
        "evaluator": {"kind": "weight_sharing", "dataset": {"name": "digits"}},
        "budget": {"evaluations": 20},
        "batch_size": 2,
    }
    spec.update(overrides)
    return spec


@pytest.mark.parametrize(
    ("overrides", "named", "maximum"),
    [
        (
            {"strategy": {"options": {"n_init": 2, "fit": {"epochs": 5_000_000}}}},
            "fit.epochs",
            "5,000",
        ),
        ({"strategy": {"options": {"pool_size": 10**8}}}, "pool_size", "100,000"),
        (
            {"evaluator": {"kind": "standalone", "train": {"channels": 100_000}}},
            "channels",
            "256",
        ),
    ],
)
def test_a_huge_option_is_refused_at_submission(
    api: httpx.Client, overrides: dict[str, Any], named: str, maximum: str
) -> None:
    answer = api.post("/api/v1/searches", json=_submission(**overrides))
    assert answer.status_code == 422, answer.text
    assert named in answer.text and f"maximum of {maximum}" in answer.text
    assert api.get("/api/v1/searches").json()["total"] == 0


# --- the controller -------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_slow_round_does_not_delay_another_searchs_first_batch(engine: Engine) -> None:
    clock = ManualClock()
    slow = slow_search(engine, clock)
    controller = make_controller(engine, clock)

    async def scenario() -> None:
        await controller.start()  # resumes A: its round starts the slow refit
        try:
            await asyncio.sleep(1.0)
            quick = quick_search(engine, clock)
            controller.notify(quick.id)
            await until(lambda: batches(engine, quick.id), "B's first batch", timeout_s=20)
            assert len(batches(engine, slow.id)) == 1, "A's refit was too quick to hold B"
        finally:
            await controller.stop()

    asyncio.run(scenario())


@pytest.mark.slow
@pytest.mark.parametrize("stopped", [SearchState.CANCELLED, SearchState.PAUSED])
def test_cancelling_or_pausing_a_search_kills_its_round_in_progress(
    engine: Engine, stopped: SearchState
) -> None:
    clock = ManualClock()
    slow = slow_search(engine, clock)
    controller = make_controller(engine, clock)

    async def scenario() -> None:
        await controller.start()
        try:
            await until(
                lambda: slow.id in controller.rounds_in_progress(), "A's round", timeout_s=30
            )
            with session_scope(engine) as session:  # what the cancel and pause routes do
                SearchRepository(session).transition(slow.id, stopped, now=clock())
                if stopped == SearchState.CANCELLED:
                    BatchRepository(session).cancel_search(slow.id, now=clock(), reason="cancel")
            controller.notify(slow.id)
            await until(
                lambda: slow.id not in controller.rounds_in_progress(),
                "A's round to be killed",
                timeout_s=10,
            )
        finally:
            await controller.stop()

    asyncio.run(scenario())
    assert search_of(engine, slow.id).state == stopped
    assert len(batches(engine, slow.id)) == 1 and snapshot_count(engine, slow.id) == 0


@pytest.mark.slow
def test_a_round_over_its_time_limit_is_killed_and_fails_the_search(engine: Engine) -> None:
    clock = ManualClock()
    slow = slow_search(engine, clock)
    controller = make_controller(engine, clock, round_timeout_s=2.0, max_errors=1)

    async def scenario() -> None:
        await controller.start()
        try:
            await until(
                lambda: search_of(engine, slow.id).state == SearchState.FAILED,
                "the search to fail",
                timeout_s=60,
            )
        finally:
            await controller.stop()

    asyncio.run(scenario())
    failed = search_of(engine, slow.id)
    assert failed.finished_reason is not None
    assert "exceeded its time limit of 2 s" in failed.finished_reason
    assert snapshot_count(engine, slow.id) == 0
    with session_scope(engine, read_only=True) as session:
        kinds = [e.kind for e in EventRepository(session).list_after(search_id=slow.id)]
    assert EventKind.SEARCH_FAILED in kinds


def test_a_synchronous_step_over_its_time_limit_raises(engine: Engine) -> None:
    clock = ManualClock()
    slow = slow_search(engine, clock)
    controller = make_controller(engine, clock, round_timeout_s=1.5)
    with pytest.raises(RoundTimeoutError, match=r"exceeded its time limit of 1\.5 s"):
        controller.step(slow.id)
    assert search_of(engine, slow.id).state == SearchState.RUNNING
    assert len(batches(engine, slow.id)) == 1 and snapshot_count(engine, slow.id) == 0


# --- the service process --------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            found.append(int(entry.name))
    return found


def _grandchildren(pid: int) -> list[int]:
    """Processes forked by the service's children: the fork server's round processes."""
    return [g for child in _children(pid) for g in _children(child)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_sigterm_stops_the_service_within_seconds_while_a_round_runs(
    engine: Engine, migrated_url: str, tmp_path: Path
) -> None:
    clock = ManualClock()
    slow = slow_search(engine, clock)
    port = free_port()
    env = bonas_env(
        BONAS_DATABASE_URL=migrated_url,
        BONAS_HOST="127.0.0.1",
        BONAS_PORT=str(port),
        BONAS_ADMIN_TOKEN=ADMIN_TOKEN,
    )
    service = spawn(["serve"], env, tmp_path, tmp_path / "service.log")
    try:
        wait_until_healthy(service, f"http://127.0.0.1:{port}", lambda: log_tails(tmp_path), 120)
        # The round runs in a process forked by the fork server (a grandchild of the service).
        # A controller that refits in its own process has none: after 20 s its refit (minutes
        # long) is under way all the same.
        deadline = time.monotonic() + 20
        while not (rounds := _grandchildren(service.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # well into the refit
        assert service.poll() is None and all(_alive(pid) for pid in rounds)

        started = time.monotonic()
        service.send_signal(signal.SIGTERM)
        try:
            service.wait(15)
        except Exception:
            pytest.fail(f"bonas serve outlived SIGTERM by 15 s\n{log_tails(tmp_path)}")
        took = time.monotonic() - started
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in rounds) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in rounds), "a round process outlived the service"
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()
    # uvicorn shuts down gracefully, then re-raises the signal it caught (exit by SIGTERM).
    assert service.returncode in (0, -signal.SIGTERM), log_tails(tmp_path)
    log = (tmp_path / "service.log").read_text()
    assert "controller stopped" in log and "Application shutdown complete" in log
    assert took < 15
    # The store is as it was before the round: A running, its one batch done, nothing else.
    search = search_of(engine, slow.id)
    assert search.state == SearchState.RUNNING
    assert [b.state for b in batches(engine, slow.id)] == [BatchState.DONE]
    assert snapshot_count(engine, slow.id) == 0
