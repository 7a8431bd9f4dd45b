"""Dynamic batching: requests queue their token rows, and one inference thread runs the rows of many
requests together, up to a token budget, so that concurrent clients share model calls.

The batching adapts to the load. A request that finds the model idle runs at once, alone. When requests
queued up while the model ran (the server is loaded), the next run waits a little for more to join: up to
a share of the last run's time (and at most `max_linger_s`), or until the queue holds the token budget."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sentembed.common.types import Row
from sentembed.server._errors import ApiError, is_panic
from sentembed.server._metrics import Metrics

# Runs the rows of several jobs with one key through a model; returns one result per job, in order.
Runner = Callable[[Hashable, list["Job"]], list[Any]]
# Under load, a run waits for more requests for up to this share of the previous run's time ...
LINGER_SHARE = 0.5
# ... and never longer than this (seconds).
MAX_LINGER_S = 0.01


@dataclass(eq=False)
class Job:
    """One request's rows. Jobs with equal keys (same model, same prompt) may share a model run."""

    key: Hashable
    rows: list[Row]
    tokens: int
    features: dict[str, Any] = field(default_factory=dict)
    cache_keys: list[bytes] = field(default_factory=list)
    future: asyncio.Future | None = None
    cancelled: bool = False


class Batcher:
    """A queue of jobs and the thread that takes them, oldest first, `max_batch_tokens` per run, and runs them:
    itself, or with `runs_at_once` above 1 on that many run threads, so that the next run is taken and
    padded while the last one computes (the server's lanes then always have a batch to take)."""

    def __init__(
        self,
        runner: Runner,
        max_batch_tokens: int,
        metrics: Metrics,
        max_linger_s: float = MAX_LINGER_S,
        runs_at_once: int = 1,
    ) -> None:
        """
        Args:
            runner: runs the rows of jobs with one key through the model (see `Runner`).
            max_batch_tokens: the most tokens one run collects.
            metrics: the server's metrics (queue depth, batch sizes, dropped inputs).
            max_linger_s: the longest a run waits for more requests under load (0: never waits).
            runs_at_once: how many runs may be under way together. Default 1.
        """
        self._runner = runner
        self._max_batch_tokens = max_batch_tokens
        self._metrics = metrics
        self._max_linger_s = max_linger_s
        self._queue: deque[Job] = deque()
        self._condition = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._loaded = False  # whether requests queued up while the last run ran
        self._last_run_s = 0.0
        self._free_runs = threading.Semaphore(runs_at_once)
        self._run_threads = (
            ThreadPoolExecutor(runs_at_once, thread_name_prefix="sentembed-run") if runs_at_once > 1 else None
        )

    @property
    def alive(self) -> bool:
        """Whether the inference thread runs and takes new work."""
        return self._thread is not None and self._thread.is_alive() and not self._stopping

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="sentembed-batcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Finish the queued jobs, then end the thread."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._run_threads is not None:
            self._run_threads.shutdown(wait=True)

    def submit(self, job: Job) -> asyncio.Future:
        """Queue `job`; the future (of the running event loop) gets its result. A plain future, not a task,
        so that waiting for it costs the request no task of its own."""
        job.future = asyncio.get_running_loop().create_future()
        with self._condition:
            if self._stopping:
                raise ApiError(503, "the server is shutting down", code="unavailable")
            self._queue.append(job)
            self._metrics.queue_depth.inc(len(job.rows))
            self._condition.notify()
        return job.future

    async def run(self, job: Job) -> Any:
        """Queue `job` and wait for its result."""
        return await self.submit(job)

    def drop(self, job: Job) -> None:
        """Forget a job whose client has gone; it is skipped if it has not run yet."""
        with self._condition:
            if job in self._queue:
                self._queue.remove(job)
                self._metrics.queue_depth.dec(len(job.rows))
                self._metrics.dropped.inc(len(job.rows))
            job.cancelled = True

    def _loop(self) -> None:
        while True:
            self._free_runs.acquire()
            with self._condition:
                while not self._queue and not self._stopping:
                    self._condition.wait()
                if not self._queue:
                    return
                if self._loaded:
                    self._linger()
                jobs = self._take() if self._queue else []  # none if every queued client left while it waited
            if not jobs:
                self._free_runs.release()
            elif self._run_threads is None:
                self._run_and_settle(jobs)
            else:
                self._run_threads.submit(self._run_and_settle, jobs)

    def _run_and_settle(self, jobs: list[Job]) -> None:
        try:
            started = time.perf_counter()
            outcomes = self._run(jobs)
            self._last_run_s = time.perf_counter() - started
            with self._condition:  # before the answers go out: a request sent on seeing its answer is not load
                self._loaded = bool(self._queue)
        finally:
            self._free_runs.release()
        _settle(outcomes)

    def _linger(self) -> None:
        """Wait (holding the condition) for more jobs to join the next run: until the oldest job's key has the
        token budget queued, or a share of the last run's time passes."""
        deadline = time.monotonic() + min(self._last_run_s * LINGER_SHARE, self._max_linger_s)
        while self._queue and not self._stopping and self._queued_tokens(self._queue[0].key) < self._max_batch_tokens:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._condition.wait(left)

    def _queued_tokens(self, key: Hashable) -> int:
        return sum(job.tokens for job in self._queue if job.key == key)

    def _take(self) -> list[Job]:
        """The oldest job and the queued jobs with its key that fit the token budget beside it."""
        key = self._queue[0].key
        taken: list[Job] = []
        tokens = 0
        for job in list(self._queue):
            if job.key != key:
                continue
            if taken and tokens + job.tokens > self._max_batch_tokens:
                break
            taken.append(job)
            tokens += job.tokens
            self._queue.remove(job)
        self._metrics.queue_depth.dec(sum(len(job.rows) for job in taken))
        return taken

    def _run(self, jobs: list[Job]) -> list[tuple[Job, Any, BaseException | None]]:
        """Each job with its result or its error."""
        self._metrics.batch_inputs.observe(sum(len(job.rows) for job in jobs))
        self._metrics.batch_requests.observe(len(jobs))
        try:
            results = self._runner(jobs[0].key, jobs)
        except BaseException as error:  # the model failed (or panicked): every waiting request is told, none hangs
            if not isinstance(error, Exception) and not is_panic(error):
                raise
            return [(job, None, error) for job in jobs]
        return [(job, result, None) for job, result in zip(jobs, results, strict=True)]


def _settle(outcomes: list[tuple[Job, Any, BaseException | None]]) -> None:
    """Hand each job's result (or error) to its waiting request, with one wake-up of each event loop involved
    (a wake-up is a write to the loop's self-pipe, so one per job would cost a system call per request)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, Any, BaseException | None]]] = {}
    for job, result, error in outcomes:
        if job.future is not None and not job.cancelled:
            by_loop.setdefault(job.future.get_loop(), []).append((job.future, result, error))
    for loop, settled in by_loop.items():
        loop.call_soon_threadsafe(_set_outcomes, settled)


def _set_outcomes(settled: list[tuple[asyncio.Future, Any, BaseException | None]]) -> None:
    for future, result, error in settled:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
