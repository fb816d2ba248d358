"""Lease abuse under load: >= 48 fake workers misbehave against a real `bonas serve` on PostgreSQL.

Creates a throwaway PostgreSQL database, migrates it, queues one running search of user
``alice`` with thousands of tiny NAS-Bench-201 batches, grants the pool ``farm`` to alice, starts
`bonas serve` (API and controller, short leases so that the reaper works during the run) on the
loopback interface, and runs, for a fixed time:

* pool workers (each its own HTTP client, as a daemon would) that lease a batch and then, drawn
  by a seeded generator, either report it, abandon it (no heartbeat, no report: the reaper must
  re-queue it), report it and retry the same report, report it twice at once from two
  connections (both must answer 200, one stored, one ``duplicate``), or first send a report with
  a NaN objective (refused with 422) and then the real one;
* outsider workers, whose token belongs to another user, that try to lease (nothing), and to
  report and release batches by guessed ids with a stolen-looking token (404 every time).

Every answer's status is counted. Afterwards the store is checked: no 5xx answer, no batch
leased to an outsider, no architecture with two results, one stored report per done batch,
every batch in a known state, and the number of 200 non-duplicate reports equal to the number of
done batches. Exits non-zero when any check fails.

    nice -n 10 python benchmarks/lease_abuse.py --workers 48 --outsiders 4 --seconds 120

Bounded: it runs for ``--seconds``, each request has a timeout, and it talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from service_harness import (  # noqa: E402
    DEFAULT_POSTGRES_URL,
    HOST,
    seed_queued_search,
    serving,
    throwaway_database,
)

from protocol import RegisterRequest, WorkerCapabilities  # noqa: E402
from service.store import (  # noqa: E402
    BatchRepository,
    EvaluationRepository,
    PoolRepository,
    Role,
    TokenRepository,
    make_engine,
    normalize_url,
    session_scope,
    utcnow,
)

FIDELITY = "val_acc"
BEHAVIOURS = (("report", 0.60), ("abandon", 0.10), ("retry", 0.10), ("twice", 0.10), ("nan", 0.10))
"""What a pool worker does with a lease, and how often."""


@dataclass
class Stats:
    """What one thread saw."""

    statuses: Counter[int] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    stored: list[str] = field(default_factory=list)  # batch ids of 200 non-duplicate reports
    duplicates: int = 0
    outsider_leases: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="A server on this machine where a throwaway database may be created.",
    )
    parser.add_argument("--workers", type=int, default=48, help="Pool workers (>= 48).")
    parser.add_argument("--outsiders", type=int, default=4, help="Workers of another user.")
    parser.add_argument("--batches", type=int, default=6000)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--lease-seconds", type=float, default=4.0)
    parser.add_argument("--port", type=int, default=18766)
    parser.add_argument("--seed", type=int, default=10)
    args = parser.parse_args()
    if args.workers < 48:
        parser.error("--workers must be at least 48")

    if normalize_url(args.postgres_url).host not in (None, "", "localhost", HOST, "::1"):
        parser.error("the PostgreSQL server must be on this machine (loopback)")
    log = Path(tempfile.gettempdir()) / f"lease_abuse_serve_{args.port}.log"
    with throwaway_database(args.postgres_url, "bonas_lease_abuse") as url:
        farm, outsider, search_id = _seed(url, args.batches, args.batch_size)
        with serving(url, args.port, lease_seconds=args.lease_seconds, log=log) as server:
            stats = _run(f"{server}/api/v1", farm, outsider, args)
            time.sleep(args.lease_seconds * 2)  # let the reaper take the last abandoned leases
        failures = _check(url, search_id, stats, args)
    if failures:
        raise SystemExit("FAILED: " + "; ".join(failures))
    print("all checks passed")


def _seed(url: str, batches: int, k: int) -> tuple[str, str, int]:
    """Tokens of the pool and of an outsider, and alice's running search with queued batches."""
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            tokens = TokenRepository(session)
            _, farm = tokens.create(role=Role.WORKER, owner="farm", now=utcnow())
            _, outsider = tokens.create(role=Role.WORKER, owner="mallory", now=utcnow())
            PoolRepository(session).grant("farm", "alice", now=utcnow())
            search_id = seed_queued_search(
                session,
                name="lease-abuse",
                owner="alice",
                batches=batches,
                k=k,
                fidelity=FIDELITY,
                objective={"metric": FIDELITY, "range": [0, 100]},
            )
    finally:
        engine.dispose()
    print(f"seeded {batches} batches of {k} for alice")
    return farm, outsider, search_id


def _run(base: str, farm: str, outsider: str, args: argparse.Namespace) -> list[Stats]:
    n = args.workers + args.outsiders
    stop = threading.Event()
    stats = [Stats() for _ in range(n)]
    ready = threading.Barrier(n + 1)
    threads = []
    for i in range(n):
        pool = i < args.workers
        target = _pool_worker if pool else _outsider
        token = farm if pool else outsider
        rng = random.Random(args.seed * 1000 + i)
        threads.append(
            threading.Thread(
                target=_guard,
                args=(target, base, token, i, rng, stats[i], stop, ready),
                daemon=True,
            )
        )
    for thread in threads:
        thread.start()
    ready.wait(120)
    print(
        f"{args.workers} pool workers and {args.outsiders} outsiders; running {args.seconds:.0f} s"
    )
    time.sleep(args.seconds)
    stop.set()
    for thread in threads:
        thread.join(60)
    return stats


def _guard(target: object, *args: object) -> None:
    stats = args[4]
    assert isinstance(stats, Stats)
    try:
        target(*args)  # type: ignore[operator]
    except Exception as error:  # shown in the summary; the run goes on
        stats.errors.append(f"{type(error).__name__}: {error}")


def _client(base: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=base,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=60,
    )


def _register(client: httpx.Client, name: str, stats: Stats) -> str:
    """Register as a fresh daemon (a new instance: a worker that died is replaced by a new one)."""
    capabilities = WorkerCapabilities(device="cpu", hostname="bench", pid=os.getpid(), version="x")
    body = RegisterRequest(name=name, instance_id=uuid.uuid4().hex, capabilities=capabilities)
    answer = _post(client, "/workers/register", body.model_dump_json(), stats)
    answer.raise_for_status()
    return str(answer.json()["worker_id"])


def _post(client: httpx.Client, path: str, body: object, stats: Stats) -> httpx.Response:
    content = body if isinstance(body, str) else json.dumps(body)
    for _ in range(20):  # 503 is the store's (retry after its pause); counted, never a failure
        answer = client.post(path, content=content)
        stats.statuses[answer.status_code] += 1
        if answer.status_code != 503:
            return answer
        time.sleep(float(answer.headers.get("Retry-After", "1")))
    return answer


def _pool_worker(
    base: str,
    token: str,
    index: int,
    rng: random.Random,
    stats: Stats,
    stop: threading.Event,
    ready: threading.Barrier,
) -> None:
    with _client(base, token) as client, _client(base, token) as second:
        worker_id = _register(client, f"abuse-{index}", stats)
        ready.wait(120)
        while not stop.is_set():
            answer = _post(client, f"/workers/{worker_id}/lease", {}, stats)
            lease = answer.json().get("lease") if answer.status_code == 200 else None
            if lease is None:
                time.sleep(0.1)
                continue
            behaviour = rng.choices([b for b, _ in BEHAVIOURS], [w for _, w in BEHAVIOURS])[0]
            stats.actions[behaviour] += 1
            if behaviour == "abandon":  # the daemon dies: no heartbeat, no report; a new one
                # starts (the reaper must re-queue the abandoned batch)
                worker_id = _register(client, f"abuse-{index}-{stats.actions['abandon']}", stats)
                continue
            path = f"/workers/{worker_id}/batches/{lease['batch_id']}/report"
            report = _report_body(lease, rng)
            if behaviour == "nan":
                text = json.dumps(report).replace('"objective": 0.5', '"objective": NaN', 1)
                refused = _post(client, path, text, stats)
                if refused.status_code != 422:
                    stats.errors.append(f"NaN report answered {refused.status_code}")
            if behaviour == "twice":
                answers = _concurrently(client, second, path, report, stats)
            else:
                answers = [_post(client, path, report, stats)]
                if behaviour == "retry":
                    answers.append(_post(client, path, report, stats))
            _tally(answers, lease["batch_id"], stats)


def _report_body(lease: dict[str, object], rng: random.Random) -> dict[str, object]:
    members = lease["members"]
    assert isinstance(members, list)
    return {
        "attempt": lease["attempt"],
        "lease_token": lease["lease_token"],
        "report_id": uuid.uuid4().hex,
        "members": [
            {
                "key": m["key"],
                "metrics": {FIDELITY: 0.5 if i == 0 else rng.uniform(0, 100)},
                "objective": 0.5 if i == 0 else rng.uniform(0, 100),
                "fidelity": FIDELITY,
                "evaluator": "table",
            }
            for i, m in enumerate(members)
        ],
    }


def _concurrently(
    first: httpx.Client, second: httpx.Client, path: str, report: object, stats: Stats
) -> list[httpx.Response]:
    answers: list[httpx.Response] = []
    lock = threading.Lock()
    start = threading.Barrier(2)

    def send(client: httpx.Client) -> None:
        start.wait(30)
        answer = _post(client, path, report, stats)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=send, args=(c,)) for c in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    return answers


def _tally(answers: list[httpx.Response], batch_id: str, stats: Stats) -> None:
    stored = 0
    for answer in answers:
        if answer.status_code == 200:
            if answer.json().get("duplicate"):
                stats.duplicates += 1
            else:
                stored += 1
        elif answer.status_code != 409:  # 409: the lease lapsed and was taken over meanwhile
            stats.errors.append(f"report answered {answer.status_code}: {answer.text[:200]}")
    if stored > 1:
        stats.errors.append(f"batch {batch_id}: {stored} reports stored for one lease")
    if stored:
        stats.stored.append(batch_id)


def _outsider(
    base: str,
    token: str,
    index: int,
    rng: random.Random,
    stats: Stats,
    stop: threading.Event,
    ready: threading.Barrier,
) -> None:
    with _client(base, token) as client:
        worker_id = _register(client, f"outsider-{index}", stats)
        ready.wait(120)
        forged = {"attempt": 1, "lease_token": "x" * 32, "report_id": "r", "members": []}
        while not stop.is_set():
            answer = _post(client, f"/workers/{worker_id}/lease", {}, stats)
            if answer.status_code == 200 and answer.json().get("lease") is not None:
                stats.outsider_leases.append(answer.json()["lease"]["batch_id"])
            batch = rng.randint(1, 2000)
            for action, body in (
                ("report", {**forged, "members": [_fake_member()]}),
                ("release", {"attempt": 1, "lease_token": "x" * 32, "reason": "error"}),
            ):
                tried = _post(client, f"/workers/{worker_id}/batches/{batch}/{action}", body, stats)
                stats.actions[f"outsider {action} {tried.status_code}"] += 1
            time.sleep(0.05)


def _fake_member() -> dict[str, object]:
    return {
        "key": "k",
        "metrics": {FIDELITY: 1e300},
        "objective": 1e300,
        "fidelity": FIDELITY,
        "evaluator": "table",
    }


def _check(url: str, search_id: int, stats: list[Stats], args: argparse.Namespace) -> list[str]:
    statuses: Counter[int] = sum((s.statuses for s in stats), Counter())
    actions: Counter[str] = sum((s.actions for s in stats), Counter())
    stored = [b for s in stats for b in s.stored]
    errors = [e for s in stats for e in s.errors]
    engine = make_engine(url)
    try:
        with session_scope(engine, read_only=True) as session:
            batches = BatchRepository(session).list(search_id)
            observations = EvaluationRepository(session).observations(search_id)
    finally:
        engine.dispose()
    states = Counter(b.state.value for b in batches)
    done = {str(b.id) for b in batches if b.state.value == "done"}
    keys = [o.architecture.key for o in observations]
    members_done = sum(len(b.member_ids) for b in batches if b.state.value == "done")
    print(f"answers by status: {dict(sorted(statuses.items()))}")
    print(f"actions: {dict(sorted(actions.items()))}")
    print(f"batches by state: {dict(sorted(states.items()))} (of {len(batches)})")
    print(
        f"reports stored: {len(stored)} ({len(set(stored))} distinct), duplicates answered: "
        f"{sum(s.duplicates for s in stats)}, results: {len(keys)} for {members_done} members"
    )
    failures = []
    if any(code >= 500 and code != 503 for code in statuses):
        failures.append(f"5xx answers: {[c for c in statuses if c >= 500]}")
    if statuses.get(503):
        print(f"note: {statuses[503]} answers were 503 (store busy), retried")
    if len(stored) != len(set(stored)):
        failures.append("a batch was stored twice")
    if set(stored) != done:
        failures.append(f"{len(set(stored) ^ done)} batches differ between answers and store")
    if len(keys) != len(set(keys)):
        failures.append(f"{len(keys) - len(set(keys))} architectures have two results")
    if len(keys) != members_done:
        failures.append(f"{len(keys)} results for {members_done} members of done batches")
    unknown = set(states) - {"queued", "leased", "done", "failed", "cancelled"}
    if unknown:
        failures.append(f"batches in unknown states {unknown}")
    outsiders = [b for s in stats for b in s.outsider_leases]
    if outsiders:
        failures.append(f"outsiders leased {len(outsiders)} batches")
    if errors:
        failures.append(f"{len(errors)} unexpected answers, e.g. {sorted(set(errors))[:3]}")
    return failures


if __name__ == "__main__":
    main()
