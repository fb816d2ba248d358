"""Sustained lease-and-report rate of a real `bonas serve` on PostgreSQL, with 32 workers at once.

Creates a throwaway PostgreSQL database, migrates it, queues one running search with thousands of
tiny batches (k architectures of NAS-Bench-201 each), starts `bonas serve` (API and controller)
as a subprocess, and lets N worker threads (each its own `workers.client.ControllerClient`, as a
daemon would) lease a batch, report made-up results, and lease again, for a fixed time. Prints the
rate of completed lease+report cycles over the steady window (the first seconds are warm-up),
latency percentiles of each call, and checks afterwards that no batch was leased twice and no
architecture has two results.

    nice -n 10 python benchmarks/lease_rate.py --workers 32 --seconds 30

Client threads and the server share the machine's cores, so the figure is a floor: on a
separate client host it is higher.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from service_harness import (  # noqa: E402
    DEFAULT_POSTGRES_URL,
    seed_queued_search,
    serving,
    throwaway_database,
)

from protocol import (  # noqa: E402
    EvaluatorKind,
    MemberReport,
    RegisterRequest,
    ReportRequest,
    WorkerCapabilities,
)
from service.store import (  # noqa: E402
    BatchRepository,
    BatchState,
    EvaluationRepository,
    Role,
    TokenRepository,
    make_engine,
    session_scope,
    utcnow,
)
from workers.client import ControllerClient, RetryPolicy  # noqa: E402

FIDELITY = "val_acc"


@dataclass
class WorkerStats:
    """What one worker thread did."""

    cycles: list[float] = field(default_factory=list)  # completion times (monotonic)
    lease_s: list[float] = field(default_factory=list)
    report_s: list[float] = field(default_factory=list)
    empty: int = 0
    errors: list[str] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="A server where a throwaway database may be created.",
    )
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--batches", type=int, default=4000, help="Batches queued up front.")
    parser.add_argument("--seconds", type=float, default=30.0, help="How long workers run.")
    parser.add_argument("--warmup", type=float, default=3.0, help="Seconds not counted.")
    parser.add_argument("--port", type=int, default=18765)
    args = parser.parse_args()

    with throwaway_database(args.postgres_url, "bonas_lease_bench") as url:
        token, search_id = _seed(url, args.batches, args.batch_size)
        with serving(url, args.port, lease_seconds=120.0) as base:
            stats = _run_workers(base, token, args.workers, args.batch_size, args.seconds)
        _report(stats, args)
        _check(url, search_id, stats)


def _seed(url: str, batches: int, k: int) -> tuple[str, int]:
    """A worker token, and a running search with `batches` queued batches of `k` architectures."""
    engine = make_engine(url)
    started = time.perf_counter()
    try:
        with session_scope(engine) as session:
            _, secret = TokenRepository(session).create(
                role=Role.WORKER, owner="bench", now=utcnow()
            )
            search_id = seed_queued_search(
                session,
                name="lease-rate",
                owner="bench",
                batches=batches,
                k=k,
                fidelity=FIDELITY,
                objective={"metric": FIDELITY},
            )
    finally:
        engine.dispose()
    print(f"seeded {batches} batches of {k} in {time.perf_counter() - started:.1f} s")
    return secret, search_id


def _run_workers(base: str, token: str, n: int, k: int, seconds: float) -> list[WorkerStats]:
    stop = threading.Event()
    stats = [WorkerStats() for _ in range(n)]
    ready = threading.Barrier(n + 1)
    threads = [
        threading.Thread(target=_work, args=(base, token, i, stats[i], stop, ready), daemon=True)
        for i in range(n)
    ]
    for thread in threads:
        thread.start()
    ready.wait()
    print(f"{n} workers registered; running {seconds:.0f} s")
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(60)
    return stats


def _work(
    base: str,
    token: str,
    index: int,
    stats: WorkerStats,
    stop: threading.Event,
    ready: threading.Barrier,
) -> None:
    retry = RetryPolicy(initial_delay_s=0.05, max_delay_s=1.0, deadline_s=30.0)
    with ControllerClient(base, token, retry=retry, timeout_s=60) as client:
        capabilities = WorkerCapabilities(
            device="cpu", hostname="bench", pid=os.getpid(), version="bench"
        )
        worker_id = client.register(
            RegisterRequest(
                name=f"bench-{index}", instance_id=uuid.uuid4().hex, capabilities=capabilities
            )
        ).worker_id
        ready.wait()
        while not stop.is_set():
            try:
                _cycle(client, worker_id, stats)
            except Exception as error:  # counted and shown; the benchmark goes on
                stats.errors.append(f"{type(error).__name__}: {error}")


def _cycle(client: ControllerClient, worker_id: str, stats: WorkerStats) -> None:
    started = time.monotonic()
    lease = client.lease(worker_id).lease
    leased = time.monotonic()
    stats.lease_s.append(leased - started)
    if lease is None:
        stats.empty += 1
        time.sleep(0.05)
        return
    members = tuple(
        MemberReport(
            key=m.key,
            metrics={FIDELITY: 50.0 + i},
            objective=50.0 + i,
            fidelity=FIDELITY,
            evaluator=EvaluatorKind.TABLE,
        )
        for i, m in enumerate(lease.members)
    )
    client.report(
        worker_id,
        lease.batch_id,
        ReportRequest(
            attempt=lease.attempt,
            lease_token=lease.lease_token,
            report_id=uuid.uuid4().hex,
            members=members,
        ),
    )
    done = time.monotonic()
    stats.report_s.append(done - leased)
    stats.cycles.append(done)
    stats.batches.append(lease.batch_id)


def _report(stats: list[WorkerStats], args: argparse.Namespace) -> None:
    times = sorted(t for s in stats for t in s.cycles)
    if not times:
        raise SystemExit("no batch was reported")
    start = times[0] + args.warmup
    steady = [t for t in times if t >= start]
    span = times[-1] - start
    lease = sorted(x for s in stats for x in s.lease_s)
    report = sorted(x for s in stats for x in s.report_s)
    errors = [e for s in stats for e in s.errors]
    print(f"workers {args.workers}, batch size {args.batch_size}, {len(times)} batches reported")
    if span > 0:
        print(
            f"sustained rate: {len(steady) / span:.1f} lease+report cycles/s "
            f"({len(steady) * args.batch_size / span:.1f} results/s) over {span:.1f} s"
        )
    print(f"lease  latency ms: p50 {_q(lease, 0.5):.1f}  p95 {_q(lease, 0.95):.1f}")
    print(f"report latency ms: p50 {_q(report, 0.5):.1f}  p95 {_q(report, 0.95):.1f}")
    print(f"empty leases: {sum(s.empty for s in stats)}, errors: {len(errors)}")
    for error in sorted(set(errors))[:5]:
        print(f"  {error[:200]}")


def _check(url: str, search_id: int, stats: list[WorkerStats]) -> None:
    reported = [b for s in stats for b in s.batches]
    engine = make_engine(url)
    try:
        with session_scope(engine, read_only=True) as session:
            done = BatchRepository(session).list(search_id, states=[BatchState.DONE])
            observations = EvaluationRepository(session).observations(search_id)
    finally:
        engine.dispose()
    twice = sum(1 for b in done if b.attempts != 1)
    keys = [o.architecture.key for o in observations]
    print(
        f"check: {len(set(reported))} distinct batches reported by workers, "
        f"{len(done)} done in the store, {twice} leased more than once, "
        f"{len(keys) - len(set(keys))} architectures with two results"
    )
    if len(reported) != len(set(reported)) or twice or len(keys) != len(set(keys)):
        raise SystemExit("FAILED: a batch was handed out twice or a result stored twice")


def _q(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0] * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1] * 1000


if __name__ == "__main__":
    main()
