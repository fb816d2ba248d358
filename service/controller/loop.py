"""`Controller`: runs `SearchRunner` rounds from the event loop, off the event loop.

The app's lifespan owns one controller. Routers call `notify(search_id)` after changing a search
or recording a report; the controller's dispatcher task then runs a round for that search in a
thread pool (refits take seconds and must not stall the API). One round per search runs at a
time; a notification that arrives during a round is kept and served right after it. A ticker
task runs the reaper (expired leases) and, as a safety net, wakes every active search
periodically, so nothing depends on a notification being delivered. A search's wall-time budget
wakes it at its deadline.

Isolation: each round's proposal runs in its own child process (`RoundProcesses`, see
`service.controller.isolation` for why a process per round), with a time limit
(``round_timeout_s``), and the pool has several threads, so rounds of different searches run
side by side: a slow refit of one search delays another's round only by the CPU they share.
A notification for a search whose round is running checks whether the search was cancelled,
paused or finished meanwhile, and if so kills that round at once. `stop` kills every round in
progress instead of waiting for it, so a SIGTERM ends the service within seconds; nothing of a
killed round was written (a round writes in one transaction after its proposal), so the store
stays as it was before the round.

A round that fails on a database outage is retried with backoff and never counts toward failing
the search; a round that fails for any other reason (its time limit included) is retried too,
and after `max_errors` consecutive failures the search is marked failed with the error, so a
broken strategy cannot spin forever. A round stopped on purpose is no failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine

from service.controller.isolation import RoundInterrupted, RoundProcesses
from service.controller.runner import Clock, SearchRunner, StepResult
from service.exceptions import NotFoundError, StoreUnavailableError
from service.settings import Settings
from service.store import utcnow

logger = logging.getLogger(__name__)

ROUND_THREADS = 8
"""Rounds that may run at once (each in its own process, mostly waiting on it)."""


class Controller:
    """The search loop of the service.

    Args:
        engine: The store's engine (at the migration head).
        settings: Service settings (``lease_seconds`` sets the reaper's pace, ``max_attempts``
            the leases a batch gets, ``round_timeout_s`` a round's time limit).
        workers: Rounds of different searches that may run at once (each thread waits on a
            child process); more than one, so that one slow round holds no other search.
        reap_interval_s: Seconds between reaper sweeps (default: a quarter of the lease, at
            most 5 s).
        sweep_interval_s: Seconds between safety-net wake-ups of every active search.
        max_errors: Consecutive failed rounds after which a search is marked failed.
        torch_threads: Intra-op threads torch may use in this process (set by `start`) and in
            every round's process (None leaves torch's setting alone). One is best on small
            shared machines: the surrogate's small matrices gain nothing from more, and
            spinning threads that compete with workers and other processes made refits 6 to
            20 times slower on a 2-core host.
        clock: Source of "now" (tests pass a fake one).
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        workers: int = ROUND_THREADS,
        reap_interval_s: float | None = None,
        sweep_interval_s: float = 15.0,
        max_errors: int = 5,
        torch_threads: int | None = 1,
        clock: Clock = utcnow,
    ) -> None:
        self._engine = engine
        self._lease_seconds = settings.lease_seconds
        self._rounds = RoundProcesses(settings.round_timeout_s)
        self._runner = SearchRunner(
            engine,
            max_attempts=settings.max_attempts,
            clock=clock,
            rounds=self._rounds,
            torch_threads=torch_threads,
        )
        self._workers = workers
        self._reap_interval_s = reap_interval_s or min(settings.lease_seconds / 4, 5.0)
        self._sweep_interval_s = sweep_interval_s
        self._max_errors = max_errors
        self._torch_threads = torch_threads
        self._lock = threading.Lock()
        self._dirty: set[int] = set()
        self._checked: set[int] = set()  # running rounds already checked since their last notify
        self._running: dict[int, asyncio.Future[StepResult]] = {}
        self._errors: dict[int, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._timers: list[asyncio.TimerHandle] = []

    # --- public ------------------------------------------------------------------------------

    def step(self, search_id: int) -> StepResult:
        """Run one round for one search now, in the calling thread (tests and scripts)."""
        return self._runner.step(search_id)

    def reap(self) -> tuple[int, ...]:
        """Run the reaper once now; returns the searches that lost a batch for good."""
        return self._runner.reap()

    def notify(self, search_id: int) -> None:
        """Ask for a round of `search_id` soon. Safe from any thread; never blocks.

        Notifications before `start` are kept and served when the controller starts.
        """
        with self._lock:
            self._dirty.add(search_id)
            self._checked.discard(search_id)
            loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed since the check
                loop.call_soon_threadsafe(wake.set)

    def rounds_in_progress(self) -> tuple[int, ...]:
        """Searches whose round's process is running now."""
        return self._rounds.in_progress()

    @property
    def running(self) -> bool:
        """Whether `start` has run and `stop` has not."""
        return bool(self._tasks)

    async def start(self) -> None:
        """Resume every created, running or paused search and start the background tasks."""
        if self._tasks:
            return
        loop = asyncio.get_running_loop()
        self._rounds.open()
        self._rounds.prestart()
        if self._torch_threads is not None:
            import torch

            torch.set_num_threads(self._torch_threads)
        self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="bonas-controller")
        with self._lock:
            self._loop = loop
            self._wake = asyncio.Event()
        await loop.run_in_executor(self._executor, self._runner.resume_leases, self._lease_seconds)
        resumed = await loop.run_in_executor(self._executor, self._runner.resumable)
        for search_id in resumed:
            self.notify(search_id)
        logger.info("controller started; %d searches to resume", len(resumed))
        self._tasks = [
            asyncio.create_task(self._dispatch(), name="bonas-controller-dispatch"),
            asyncio.create_task(self._tick(), name="bonas-controller-reaper"),
        ]
        assert self._wake is not None
        self._wake.set()

    async def stop(self) -> None:
        """Stop the background tasks, killing the rounds in progress (nothing of theirs is
        written; their searches get a fresh round when the service starts again)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._rounds.close()
        running = list(self._running.values())
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        with self._lock:
            self._loop = None
            self._wake = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        logger.info("controller stopped")

    # --- background tasks --------------------------------------------------------------------

    async def _dispatch(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            with self._lock:
                ready = sorted(self._dirty - self._running.keys())
                self._dirty.difference_update(ready)
                busy = sorted((self._dirty & self._running.keys()) - self._checked)
                self._checked.update(busy)
            for search_id in ready:
                self._launch(search_id)
            for search_id in busy:  # a running round whose search may have been stopped
                asyncio.get_running_loop().run_in_executor(None, self._interrupt_if_idle, search_id)

    def _interrupt_if_idle(self, search_id: int) -> None:
        """Kill the round of `search_id` if its search was cancelled, paused or finished."""
        try:
            if self._runner.interruptible(search_id):
                self._rounds.interrupt(search_id)
        except Exception as error:  # the round then ends by itself; a warning suffices
            logger.warning("search %d: could not check for a stop (%s)", search_id, error)

    def _launch(self, search_id: int) -> None:
        loop, executor = self._loop, self._executor
        assert loop is not None and executor is not None
        future = loop.run_in_executor(executor, self._runner.step, search_id)
        self._running[search_id] = future
        future.add_done_callback(lambda done: self._finished(search_id, done))

    def _finished(self, search_id: int, future: asyncio.Future[StepResult]) -> None:
        self._running.pop(search_id, None)
        with self._lock:
            self._checked.discard(search_id)
        if future.cancelled():
            return
        error = future.exception()
        if isinstance(error, RoundInterrupted):  # stopped on purpose: no failure of the search
            self._runner.forget(search_id)
            logger.info("search %d: %s", search_id, error)
        elif error is None:
            self._errors.pop(search_id, None)
            result = future.result()
            if result.wake_in_s is not None:
                self._wake_later(search_id, result.wake_in_s + 0.05)
        else:
            self._on_error(search_id, error)
        with self._lock:
            again = search_id in self._dirty
        if again and self._wake is not None:
            self._wake.set()

    def _on_error(self, search_id: int, error: BaseException) -> None:
        if isinstance(error, NotFoundError):
            self._runner.forget(search_id)
            return
        count = self._errors.get(search_id, 0) + 1
        self._errors[search_id] = count
        self._runner.forget(search_id)  # rebuild the strategy from the store next time
        if isinstance(error, StoreUnavailableError):
            logger.warning("search %d: database unavailable (%s); retrying", search_id, error)
        else:
            logger.error("search %d: round failed (%d in a row)", search_id, count, exc_info=error)
        if count >= self._max_errors and not isinstance(error, StoreUnavailableError):
            self._submit(self._fail, search_id, f"controller error: {error}")
            return
        self._wake_later(search_id, min(2.0**count, 60.0))

    def _wake_later(self, search_id: int, delay_s: float) -> None:
        if self._loop is None or not self._tasks:
            return
        self._timers = [t for t in self._timers if not t.cancelled()]
        self._timers.append(self._loop.call_later(delay_s, self.notify, search_id))

    def _submit(self, function: Any, *args: Any) -> Future[Any] | None:
        if self._executor is None:
            return None
        return self._executor.submit(function, *args)

    def _fail(self, search_id: int, reason: str) -> None:
        try:
            self._runner.fail(search_id, reason)
        except Exception:
            logger.exception("search %d: could not mark the search failed", search_id)

    async def _tick(self) -> None:
        assert self._loop is not None and self._executor is not None
        since_sweep = 0.0
        while True:
            await asyncio.sleep(self._reap_interval_s)
            since_sweep += self._reap_interval_s
            try:
                lost = await self._loop.run_in_executor(None, self._runner.reap)
                for search_id in lost:
                    self.notify(search_id)
                if since_sweep >= self._sweep_interval_s:
                    since_sweep = 0.0
                    for search_id in await self._loop.run_in_executor(None, self._runner.resumable):
                        self.notify(search_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("controller: reaper sweep failed; retrying next tick")
