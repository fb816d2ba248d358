"""Worker daemons against a real HTTP controller (the in-memory `MinimalController`).

Two kinds of tests:

* in-process: a `WorkerDaemon` runs in a thread with a slow test evaluator, to check heartbeats,
  lost leases, cancellation and graceful stops step by step;
* processes: `bonas worker` started as a real process, killed with real signals, evaluating
  real batches (table lookups on a CSV the test writes, and weight-sharing training on digits).
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from protocol import (
    BatchMember,
    EvaluatorKind,
    Lease,
    MemberReport,
    Progress,
    TableEvaluatorSpec,
    WeightSharingEvaluatorSpec,
)
from protocol.fake_controller import ControllerServer, MinimalController
from surrogate.spaces import get_space
from workers.daemon import DaemonOptions, DaemonSummary, WorkerDaemon
from workers.evaluators import Evaluator, EvaluatorContext, ProgressCallback, StopCheck
from workers.exceptions import EvaluationStoppedError

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "worker-token"
NB201 = get_space("nb201")


# --- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
def controller() -> MinimalController:
    return MinimalController(
        token=TOKEN, lease_seconds=3.0, heartbeat_interval_s=0.3, poll_interval_s=0.1
    )


@pytest.fixture
def server(controller: MinimalController) -> Iterator[ControllerServer]:
    running = ControllerServer(controller)
    running.start()
    yield running
    running.stop()


def nb201_members(count: int, seed: int) -> list[BatchMember]:
    rng = np.random.default_rng(seed)
    members: dict[str, BatchMember] = {}
    while len(members) < count:
        arch = NB201.sample(rng)
        members.setdefault(
            NB201.key(arch), BatchMember(key=NB201.key(arch), arch=NB201.to_json(arch))
        )
    return list(members.values())


def write_table(path: Path, members: list[BatchMember]) -> dict[str, dict[str, float]]:
    """A tiny NB201 benchmark CSV with made-up but distinct numbers; returns them by key."""
    values = {}
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arch_str", "valid_acc", "test_acc", "note"])
        for index, member in enumerate(members):
            row = {"valid_acc": 50.0 + index * 1.25, "test_acc": 49.0 + index * 1.5}
            writer.writerow([member.key, row["valid_acc"], row["test_acc"], "made-up"])
            values[member.key] = row
    return values


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log: Path

    def wait(self, timeout_s: float) -> int:
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"worker did not exit in {timeout_s} s:\n{self.tail()}") from None

    def wait_for_log(self, text: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in self.tail(20000):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"worker never logged {text!r}:\n{self.tail()}")
            time.sleep(0.05)

    def tail(self, size: int = 4000) -> str:
        return self.log.read_text()[-size:] if self.log.exists() else "(no log)"


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(url: str, name: str, *extra: str) -> WorkerProcess:
        log = tmp_path / f"{name}.log"
        command = [
            sys.executable,
            "-c",
            "from service.cli.main import main; main()",
            "worker",
            "--server",
            url,
            "--name",
            name,
            "--scratch",
            str(tmp_path / "scratch"),
            "--data-root",
            str(tmp_path),
            *extra,
        ]
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "BONAS_WORKER_TOKEN": TOKEN,
            "OMP_NUM_THREADS": "1",  # several workers share the test machine's cores
        }
        with log.open("wb") as handle:
            process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
        worker = WorkerProcess(process, log)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait()


class SlowEvaluator(Evaluator):
    """A test double that "trains" in timed steps, honouring `should_stop` at each one."""

    kind = EvaluatorKind.WEIGHT_SHARING

    def __init__(self, steps: int = 10, step_s: float = 0.1) -> None:
        super().__init__(EvaluatorContext())
        self.steps = steps
        self.step_s = step_s
        self.steps_done: list[int] = []

    def evaluate(
        self, lease: Lease, progress: ProgressCallback, should_stop: StopCheck
    ) -> list[MemberReport]:
        done = 0
        try:
            for step in range(self.steps):
                if should_stop():
                    raise EvaluationStoppedError(f"stopped at step {step}")
                member = lease.members[step % len(lease.members)].key
                progress(
                    Progress(
                        step=step, total_steps=self.steps, loss=1.0 / (step + 1), member=member
                    )
                )
                time.sleep(self.step_s)
                done += 1
        finally:
            self.steps_done.append(done)
        return [
            MemberReport(
                key=m.key,
                metrics={"accuracy": 0.5 + i / 100},
                objective=0.5 + i / 100,
                fidelity="test",
                evaluator=EvaluatorKind.WEIGHT_SHARING,
            )
            for i, m in enumerate(lease.members)
        ]


@dataclass
class DaemonThread:
    daemon: WorkerDaemon
    thread: threading.Thread
    result: list[DaemonSummary] = field(default_factory=list)

    def join(self, timeout_s: float = 15.0) -> DaemonSummary:
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), "daemon did not stop"
        return self.result[0]


def run_in_thread(
    server: ControllerServer, tmp_path: Path, evaluator: Evaluator, max_batches: int | None = 1
) -> DaemonThread:
    options = DaemonOptions(
        server=server.url,
        token=TOKEN,
        name="inproc",
        scratch_base=tmp_path / "scratch",
        max_batches=max_batches,
        release_deadline_s=5.0,
    )
    daemon = WorkerDaemon(options, evaluators={evaluator.kind: evaluator})
    handle = DaemonThread(daemon, threading.Thread(target=lambda: None))
    handle.thread = threading.Thread(target=lambda: handle.result.append(daemon.run()), daemon=True)
    handle.thread.start()
    return handle


def add_ws_batch(controller: MinimalController, count: int = 3, seed: int = 0) -> str:
    return controller.add_batch(
        nb201_members(count, seed), NB201.describe(), WeightSharingEvaluatorSpec()
    )


def table_spec(**changes: Any) -> TableEvaluatorSpec:
    fields: dict[str, Any] = {"path": "table.csv", "objective_column": "valid_acc", **changes}
    return TableEvaluatorSpec(**fields)


# --- in-process: heartbeats, lost leases, cancellation, stopping ------------------------------


def test_heartbeats_carry_progress_and_keep_a_long_batch_alive(
    controller: MinimalController, server: ControllerServer, tmp_path: Path
) -> None:
    controller.lease_seconds = 1.0
    controller.heartbeat_interval_s = 0.2
    batch_id = add_ws_batch(controller)
    evaluator = SlowEvaluator(steps=25, step_s=0.1)  # 2.5 s: longer than the lease
    summary = run_in_thread(server, tmp_path, evaluator).join()
    assert summary.reported == 1 and summary.lost == 0
    batch = controller.batch(batch_id)
    assert batch.state == "done" and batch.attempt == 1
    assert controller.events_of("expired") == []
    steps = [p.step for p in batch.progress]
    assert len(steps) >= 5 and steps == sorted(steps) and steps[-1] > steps[0]
    assert {p.member for p in batch.progress} <= {m.key for m in batch.members}
    assert len(controller.results_of(batch_id)) == 3


def test_a_lost_lease_stops_training_and_nothing_is_reported(
    controller: MinimalController, server: ControllerServer, tmp_path: Path
) -> None:
    batch_id = add_ws_batch(controller)
    evaluator = SlowEvaluator(steps=30, step_s=0.1)
    handle = run_in_thread(server, tmp_path, evaluator)
    controller.wait_for(lambda: len(controller.batches[batch_id].progress) >= 2, 10, "progress")
    with controller._lock:  # the controller loses the lease (as after a network partition)
        controller.batches[batch_id].expires_at = 0.0
    summary = handle.join(20)
    # The first attempt stopped early and was dropped; the re-queued batch was done again.
    assert evaluator.steps_done[0] < 30 and evaluator.steps_done[1] == 30
    assert summary.lost == 1 and summary.reported == 1
    results = controller.results_of(batch_id)
    assert len(results) == 3 and {r.attempt for r in results} == {2}


def test_a_cancelled_search_stops_and_releases_without_results(
    controller: MinimalController, server: ControllerServer, tmp_path: Path
) -> None:
    batch_id = add_ws_batch(controller)
    evaluator = SlowEvaluator(steps=50, step_s=0.1)
    handle = run_in_thread(server, tmp_path, evaluator, max_batches=None)
    controller.wait_for(lambda: controller.batches[batch_id].state == "leased", 10, "lease")
    controller.cancel_search("search-1")
    controller.wait_for(lambda: controller.batches[batch_id].state == "cancelled", 10, "release")
    handle.daemon.request_stop()
    summary = handle.join()
    assert evaluator.steps_done[0] < 50
    assert summary.released == 1 and summary.reported == 0
    assert controller.results == []
    assert controller.events_of("released") == [("released", batch_id, "cancelled")]


def test_stopping_mid_batch_releases_the_lease_and_reports_nothing(
    controller: MinimalController, server: ControllerServer, tmp_path: Path
) -> None:
    batch_id = add_ws_batch(controller)
    evaluator = SlowEvaluator(steps=100, step_s=0.05)
    handle = run_in_thread(server, tmp_path, evaluator)
    controller.wait_for(lambda: len(controller.batches[batch_id].progress) >= 1, 10, "progress")
    handle.daemon.request_stop()
    summary = handle.join()
    assert summary.released == 1 and summary.reported == 0
    assert evaluator.steps_done[0] < 100
    batch = controller.batch(batch_id)
    assert batch.state == "queued" and batch.failures == 0  # a shutdown is not held against it
    assert controller.results == []


def test_a_failing_evaluation_is_released_with_its_reason_until_the_batch_fails(
    controller: MinimalController, server: ControllerServer, tmp_path: Path
) -> None:
    controller.max_attempts = 2
    members = nb201_members(2, seed=3)
    batch_id = controller.add_batch(members, NB201.describe(), table_spec(path="missing.csv"))
    options = DaemonOptions(
        server=server.url, token=TOKEN, name="failing", scratch_base=tmp_path / "scratch"
    )
    daemon = WorkerDaemon(options)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    controller.wait_for(lambda: controller.batches[batch_id].state == "failed", 10, "failure")
    daemon.request_stop()
    thread.join(10)
    assert not thread.is_alive()
    assert daemon.summary.failed == 2 and daemon.summary.reported == 0
    assert "missing.csv" in (controller.batches[batch_id].failure_reason or "")


# --- processes: the `bonas worker` command ----------------------------------------------------


@pytest.mark.slow
def test_worker_process_evaluates_table_batches_and_results_are_stored(
    controller: MinimalController,
    server: ControllerServer,
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    members = nb201_members(7, seed=1)
    table = write_table(tmp_path / "table.csv", members[:6])  # the 7th is not in the table
    first = controller.add_batch(members[:3], NB201.describe(), table_spec())
    second = controller.add_batch(
        members[3:], NB201.describe(), table_spec(metric_columns=("valid_acc",))
    )
    worker = start_worker(server.url, "table-worker", "--max-batches", "2")
    assert worker.wait(60) == 0, worker.tail()
    assert controller.batch(first).state == controller.batch(second).state == "done"
    stored = {r.member.key: r.member for r in controller.results}
    assert len(controller.results) == len(stored) == 7  # each member exactly once
    for key, row in table.items():
        assert stored[key].status == "ok"
        assert stored[key].objective == row["valid_acc"]
        assert stored[key].fidelity == "valid_acc"
        assert stored[key].evaluator is EvaluatorKind.TABLE
    assert set(stored[members[0].key].metrics) == {"valid_acc", "test_acc"}
    assert set(stored[members[3].key].metrics) == {"valid_acc"}
    missing = stored[members[6].key]
    assert missing.status == "failed" and "not in the benchmark table" in (missing.error or "")
    (registered,) = controller.workers.values()
    assert registered.name == "table-worker" and registered.capabilities.pid == worker.process.pid
    assert not any((tmp_path / "scratch").iterdir()), "scratch directory left behind"


@pytest.mark.slow
def test_a_refused_report_is_not_counted_and_the_batch_is_done_again(
    controller: MinimalController,
    server: ControllerServer,
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    members = nb201_members(3, seed=2)
    write_table(tmp_path / "table.csv", members)
    batch_id = controller.add_batch(members, NB201.describe(), table_spec())
    controller.expire_on_next_report(batch_id)
    worker = start_worker(server.url, "refused", "--max-batches", "1")
    assert worker.wait(60) == 0, worker.tail()
    # Refused once (lease expired), not counted: the worker went on and did attempt 2.
    assert controller.events_of("report_refused") == [("report_refused", batch_id, "lease_expired")]
    results = controller.results_of(batch_id)
    assert len(results) == 3 and {r.attempt for r in results} == {2}
    assert "report refused, not counted" in worker.tail()


@pytest.mark.slow
def test_the_worker_survives_the_controller_being_down(
    controller: MinimalController,
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    members = nb201_members(4, seed=4)
    write_table(tmp_path / "table.csv", members)
    server = ControllerServer(controller)  # not started: the controller is down
    worker = start_worker(server.url, "patient", "--max-batches", "2")
    try:
        worker.wait_for_log("retrying in", 30)
        first = controller.add_batch(members[:2], NB201.describe(), table_spec())
        server.start()
        controller.wait_for(lambda: controller.batches[first].state == "done", 30, "batch 1")
        server.stop()  # down again, between batches
        second = controller.add_batch(members[2:], NB201.describe(), table_spec())
        time.sleep(1.5)
        assert worker.process.poll() is None, worker.tail()
        server.start()
        assert worker.wait(60) == 0, worker.tail()
    finally:
        server.stop()
    assert controller.batches[second].state == "done"
    assert len(controller.results) == 4
    assert len(controller.workers) == 1  # one registration, however many retries


@pytest.mark.slow
def test_sigterm_while_waiting_for_a_dead_controller_exits_zero_at_once(
    start_worker: Callable[..., WorkerProcess],
) -> None:
    worker = start_worker("http://127.0.0.1:9", "doomed")  # nothing listens on port 9
    worker.wait_for_log("retrying in", 30)
    started = time.monotonic()
    worker.process.send_signal(signal.SIGTERM)
    assert worker.wait(10) == 0, worker.tail()
    assert time.monotonic() - started < 5


@pytest.mark.slow
def test_a_bad_token_stops_the_worker_with_exit_code_2(
    server: ControllerServer, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker(server.url, "intruder", "--token", "wrong")
    assert worker.wait(30) == 2, worker.tail()
    assert "refused this worker's token" in worker.tail()


# --- processes: weight-sharing training on digits ---------------------------------------------

QUICK_TRAINING = {"warmup_epochs": 0, "batch_size": 32, "calibration_batches": 1, "log_every": 5}


def ws_spec(steps_per_member: int) -> WeightSharingEvaluatorSpec:
    return WeightSharingEvaluatorSpec(
        train={**QUICK_TRAINING, "steps_per_member": steps_per_member}
    )


def worker_holding(controller: MinimalController, batch_id: str) -> int:
    """Pid of the worker process holding `batch_id`'s lease."""
    with controller._lock:
        holder = controller.batches[batch_id].worker_id
        assert holder is not None
        return controller.workers[holder].capabilities.pid


def trained_some_steps(controller: MinimalController, batch_id: str) -> Callable[[], bool]:
    return lambda: any(p.step > 0 for p in controller.batches[batch_id].progress)


@pytest.mark.slow
def test_worker_process_trains_a_batch_on_digits_and_results_are_stored(
    controller: MinimalController,
    server: ControllerServer,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    members = nb201_members(3, seed=5)
    batch_id = controller.add_batch(members, NB201.describe(), ws_spec(30), seed=11)
    worker = start_worker(server.url, "digits-worker", "--max-batches", "1")
    assert worker.wait(90) == 0, worker.tail()
    results = controller.results_of(batch_id)
    assert sorted(r.member.key for r in results) == sorted(m.key for m in members)
    for result in results:
        member = result.member
        assert member.status == "ok" and member.evaluator is EvaluatorKind.WEIGHT_SHARING
        assert member.fidelity == "supernet"
        assert member.objective == member.metrics["val_accuracy"]
        assert member.objective is not None and 0.0 <= member.objective <= 100.0
        assert {"val_loss", "train_loss", "params"} <= set(member.metrics)
        assert member.timings["batch_train_s"] > 0
    # Trained, not guessed: some member is far above chance (10 %) on the digits (a member whose
    # cell cuts the input off from the output cannot be, so not every one need be).
    assert max(r.member.objective or 0.0 for r in results) > 30.0
    # Heartbeats carry the trainer's phases. Which ones they catch depends on timing (on an idle
    # machine the 90 training steps fit between two heartbeats, so "train" may be missed);
    # `test_heartbeats_carry_progress_and_keep_a_long_batch_alive` checks the delivery itself.
    phases = {p.phase for p in controller.batches[batch_id].progress}
    assert phases <= {"warmup", "train", "calibrate", "evaluate"}, worker.tail()


@pytest.mark.slow
def test_sigkill_mid_batch_then_the_other_worker_finishes_it_without_duplicates(
    controller: MinimalController,
    server: ControllerServer,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    controller.lease_seconds = 1.5
    controller.heartbeat_interval_s = 0.2
    members = nb201_members(3, seed=6)
    batch_id = controller.add_batch(members, NB201.describe(), ws_spec(40), seed=3)
    workers = [start_worker(server.url, f"w{i}", "--max-batches", "1") for i in range(2)]
    controller.wait_for(trained_some_steps(controller, batch_id), 60, "training progress")
    victim_pid = worker_holding(controller, batch_id)
    (victim,) = [w for w in workers if w.process.pid == victim_pid]
    (survivor,) = [w for w in workers if w is not victim]
    victim.process.send_signal(signal.SIGKILL)
    assert victim.wait(10) == -signal.SIGKILL
    assert survivor.wait(90) == 0, survivor.tail()
    batch = controller.batch(batch_id)
    assert batch.state == "done" and batch.attempt == 2
    assert controller.events_of("expired") == [("expired", batch_id, "attempt 1")]
    results = controller.results_of(batch_id)
    assert sorted(r.member.key for r in results) == sorted(m.key for m in members)
    survivor_ids = [
        w for w, r in controller.workers.items() if r.capabilities.pid == survivor.process.pid
    ]
    assert {(r.attempt, r.worker_id) for r in results} == {(2, survivor_ids[0])}


@pytest.mark.slow
def test_sigterm_mid_batch_releases_the_lease_reports_nothing_and_exits_zero(
    controller: MinimalController,
    server: ControllerServer,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    batch_id = controller.add_batch(nb201_members(3, seed=7), NB201.describe(), ws_spec(400))
    worker = start_worker(server.url, "terminated")
    controller.wait_for(trained_some_steps(controller, batch_id), 60, "training progress")
    worker.process.send_signal(signal.SIGTERM)
    assert worker.wait(20) == 0, worker.tail()
    batch = controller.batch(batch_id)
    assert controller.events_of("released") == [("released", batch_id, "shutdown")]
    assert batch.state == "queued" and batch.failures == 0
    assert controller.results == [] and controller.events_of("report_refused") == []
    assert "evaluation stopped" in worker.tail()
