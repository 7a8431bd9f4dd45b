"""`serve(workers=N)`: N server processes answering on one listening socket, for machines with many cores.

The parent binds the socket and starts N processes (spawned, so none inherits a half-initialised torch);
each loads its own models, runs its own batcher and inference thread with `cores // N` threads (so N
workers never oversubscribe the cores), and accepts connections from the shared socket. The parent forwards
SIGTERM and SIGINT to every worker, each of which drains its in-flight requests, and returns once all have
exited. If a worker dies on its own (it failed to load its model, say), the others are stopped too.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from sentembed.common.checks import check_positive_int
from sentembed.common.errors import ServerError, WorkerError
from sentembed.common.runtime import available_cores
from sentembed.server._settings import BATCH_SIZE, DEFAULT_LANES, GRAPH_BATCH_SIZE, ServeSettings

# The backends that run a model as one graph call, which releases the interpreter lock.
GRAPH_BACKENDS = ("onnx", "openvino")

# How long the parent waits for its workers to drain after SIGTERM: uvicorn's own drain (60 s), and some.
STOP_TIMEOUT_S = 90
# How often the parent looks at its workers while they run.
WATCH_INTERVAL_S = 1.0


@dataclass(frozen=True)
class WorkerPlan:
    """What every worker loads and how it serves: the same for all, and picklable (models by name)."""

    model: str | None
    reranker: str | None
    backend: str
    model_kwargs: dict[str, Any] | None
    device: str | None
    settings: ServeSettings
    log_level: str
    threads: int


def worker_threads(workers: int) -> int:
    """Each worker's share of the cores this process may use (at least one thread)."""
    return max(1, available_cores() // workers)


def with_backend_defaults(settings: ServeSettings, threads: int, backend: str) -> ServeSettings:
    """`settings` with its lanes and batch size decided for a process with `threads` threads: as given, else
    one lane per thread up to `DEFAULT_LANES` on onnx and openvino, and on torch with packed weights (one lane
    without), and batches of `GRAPH_BATCH_SIZE` on onnx and openvino, `BATCH_SIZE` on torch.

    A graph backend runs a lane's batch in one call without the interpreter lock, on a session of its own
    with threads // lanes threads, while a run of one batch keeps the session with every thread: on 2 cores,
    two lanes of one thread served 28% (onnx) and 72% (int8) more single sentences per second at
    concurrency 64 than one lane, and a lone sentence still runs on both cores. On torch, lanes share torch's
    threads (each lane gets threads // lanes) and its eager modules take the interpreter lock between
    operations; with packed weights each layer is one oneDNN call, and the packed server with two lanes served
    5–16% more single sentences per second at concurrency 64 than one lane of two threads without them, and
    13–42% more with 32-sentence requests at concurrency 8 and 64 (docs/performance.md)."""
    graph = backend in GRAPH_BACKENDS
    laned = graph or settings.packed_weights
    lanes = settings.lanes or (max(1, min(threads, DEFAULT_LANES)) if laned else 1)
    batch_size = settings.batch_size or (GRAPH_BATCH_SIZE if graph else BATCH_SIZE)
    return dataclasses.replace(settings, lanes=lanes, batch_size=batch_size)


def lane_threads(threads: int, lanes: int) -> int:
    """Each lane's share of a process's `threads` (at least one)."""
    return max(1, threads // lanes)


def torch_threads(backend: str, threads: int, lanes: int, shared: bool) -> int:
    """The threads torch (and with it a graph backend's main session) starts with, in a process with `threads`
    threads and `lanes` lanes: all of them on a graph backend, whose lanes have sessions of their own, and on
    torch where lanes share threads batch by batch (`shared`, see `SharedThreads`); else each lane's share."""
    return threads if backend in GRAPH_BACKENDS or shared else lane_threads(threads, lanes)


def check_worker_models(workers: int, model: Any, reranker: Any) -> None:
    """Several workers each load their models, so the models must be names or folders, not loaded objects."""
    check_positive_int(workers, "workers")
    if workers > 1 and not all(item is None or isinstance(item, str) for item in (model, reranker)):
        raise ValueError("workers > 1 loads the models in each worker: give their names or folders, not loaded models")


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host`:`port` (IPv6 for an IPv6 address) that the workers share."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host.strip("[]"), port))
    except OSError as error:
        listener.close()
        raise ServerError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener


# A worker's body: (its index, the plan, the shared listening socket, the end of a pipe on which it sends the
# parent why it could not start); an importable function, as spawn needs.
WorkerMain = Callable[[int, WorkerPlan, socket.socket, Connection], None]


def run_workers(workers: int, plan: WorkerPlan, host: str, port: int, worker_main: WorkerMain) -> None:
    """Serve with `workers` processes, each running `worker_main`, on `host`:`port` until SIGTERM or SIGINT,
    which every worker drains."""
    listener = bind_socket(host, port)
    context = multiprocessing.get_context("spawn")
    reasons, report = context.Pipe(duplex=False)
    processes = [
        context.Process(target=worker_main, args=(index, plan, listener, report), name=f"sentembed-worker-{index}")
        for index in range(workers)
    ]
    stopping: dict[str, float | None] = {"deadline": None}

    def stop(signum: int, frame: Any) -> None:
        if stopping["deadline"] is None:
            stopping["deadline"] = time.monotonic() + STOP_TIMEOUT_S
        for process in processes:
            if process.pid is not None and process.exitcode is None:
                os.kill(process.pid, signal.SIGTERM)

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        for process in processes:
            process.start()
        failed = watch(processes, stopping, stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        listener.close()
        report.close()
    reason = f": {reasons.recv()}" if failed is not None and reasons.poll() else ""
    reasons.close()
    if failed is not None:
        raise WorkerError(
            f"server worker {failed.name} exited with status {failed.exitcode}{reason}; the others were stopped"
        )


def stop_with_parent() -> None:
    """In a worker: a thread that sends this process SIGTERM (which drains its requests, then exits) once its
    parent is gone, so that no worker outlives a parent killed without warning (SIGKILL, a crash) and goes on
    answering on the port. It waits on multiprocessing's handle of the parent, which also knows a parent that
    died while this worker was still starting."""
    parent = multiprocessing.parent_process()

    def watch_parent() -> None:
        if parent is not None:
            parent.join()
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch_parent, name="sentembed-parent-watch", daemon=True).start()


def watch(processes: list[Any], stopping: dict[str, float | None], stop: Any) -> Any:
    """Wait for the workers to exit; the first that exits unasked stops the others and is returned. Workers
    still running `STOP_TIMEOUT_S` after the stop was asked are killed."""
    failed = None
    running = list(processes)
    while running:
        wait([process.sentinel for process in running], timeout=WATCH_INTERVAL_S)
        for process in [process for process in running if process.exitcode is not None]:
            running.remove(process)
            if stopping["deadline"] is None:
                failed = process
                stop(signal.SIGTERM, None)
        deadline = stopping["deadline"]
        if deadline is not None and time.monotonic() > deadline:
            for process in running:
                process.kill()
    for process in processes:
        process.join()
    return failed
