"""A pool of worker processes that each hold a copy of the model and encode chunks of the input.

Each worker talks to the caller over its own pipe, and the caller watches the workers' process
handles too: a worker that dies, even halfway through a chunk or a reply, is noticed at once and
its chunk goes to another worker. Only when every worker is gone does the call fail, with an error
that says so. Workers return raw model outputs; truncation, normalisation and quantisation run once
in the caller, on the merged result, exactly as in single-process encoding.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import math
import multiprocessing
import pickle
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

import torch

from sentembed.common.checks import check_positive_int
from sentembed.common.errors import WorkerError
from sentembed.common.runtime import available_cores, check_device
from sentembed.sentence_transformer._encoding import EncodeRequest

logger = logging.getLogger(__name__)

MAX_CHUNK_SIZE = 5000
CHUNKS_PER_WORKER = 4
MAX_DEFAULT_CPU_WORKERS = 4
STOP_TIMEOUT_S = 5.0
# A chunk whose worker has not answered within this many seconds is taken from it (the worker is killed) and
# encoded elsewhere: a stopped or stuck worker must never hang the caller. Generous, as a chunk can hold
# thousands of long texts on a slow CPU.
DEFAULT_CHUNK_TIMEOUT_S = 1800.0


def default_devices() -> list[str]:
    """Every CUDA device when there are any; else CPU workers, one per core up to four."""
    if torch.cuda.is_available():
        return [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    return ["cpu"] * max(1, min(MAX_DEFAULT_CPU_WORKERS, available_cores()))


def check_devices(target_devices: Any) -> list[str]:
    """The devices as a list of strings, refusing anything torch would not take as a device."""
    if target_devices is None:
        return default_devices()
    if isinstance(target_devices, str) or not isinstance(target_devices, (list, tuple)):
        raise TypeError(f"target_devices must be a list of device names, got {type(target_devices).__name__}")
    if not target_devices:
        raise ValueError("target_devices is empty; give at least one device, such as ['cpu', 'cpu']")
    for index, device in enumerate(target_devices):
        check_device(device, f"target_devices[{index}]")
    return list(target_devices)


def threads_per_cpu_worker(devices: list[str]) -> int:
    """Split the cores between the CPU workers, so that they do not fight over them."""
    cpu_workers = sum(1 for device in devices if torch.device(device).type == "cpu")
    return max(1, available_cores() // max(1, cpu_workers))


def _clone_rows(outputs: Any) -> Any:
    """Outputs with every tensor copied out of its batch, so that pickling sends only its own rows."""
    if isinstance(outputs, list):
        return [_clone_rows(item) for item in outputs]
    if isinstance(outputs, dict):
        return {name: _clone_rows(value) for name, value in outputs.items()}
    if isinstance(outputs, torch.Tensor):
        return outputs.detach().cpu().clone()
    return outputs


def _worker_main(connection: Connection, device: str, num_threads: int | None) -> None:
    """Receive the pickled model, then answer (call, chunk, EncodeRequest) messages until told to stop with None."""
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        model = pickle.loads(connection.recv_bytes()).to(device)
    except (EOFError, OSError):
        return
    except Exception:
        connection.send(("failed", None, None, f"could not load the model on {device}:\n{traceback.format_exc()}"))
        return
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        call, chunk, encode_request = request
        try:
            outputs = model.encode_unique(encode_request)
            reply = ("done", call, chunk, _clone_rows(outputs))
        except Exception:
            reply = ("failed", call, chunk, traceback.format_exc())
        connection.send(reply)


@dataclass
class _Worker:
    device: str
    process: Any
    connection: Connection
    alive: bool = True
    given_at: float = 0.0


def _send_quietly(connection: Connection, message: Any) -> None:
    """Send from a helper thread, so that a worker that stopped reading cannot block the caller; a broken
    pipe shows up as the worker's death."""
    with contextlib.suppress(OSError, ValueError):
        connection.send(message)


class MultiProcessPool:
    """Worker processes, each with a copy of one model on one device. Also a context manager."""

    def __init__(
        self,
        model: torch.nn.Module,
        target_devices: list[str] | None = None,
        chunk_timeout: float = DEFAULT_CHUNK_TIMEOUT_S,
    ) -> None:
        devices = check_devices(target_devices)
        if isinstance(chunk_timeout, bool) or not isinstance(chunk_timeout, (int, float)) or not chunk_timeout > 0:
            raise ValueError(f"chunk_timeout must be a positive number of seconds, got {chunk_timeout!r}")
        self.chunk_timeout = float(chunk_timeout)
        self.model_id = id(model)
        self._calls = itertools.count()
        payload = pickle.dumps(model)
        context = multiprocessing.get_context("spawn")
        cpu_threads = threads_per_cpu_worker(devices)
        self.workers: list[_Worker] = []
        for device in devices:
            ours, theirs = context.Pipe(duplex=True)
            threads = cpu_threads if torch.device(device).type == "cpu" else None
            process = context.Process(
                target=_worker_main, args=(theirs, device, threads), daemon=True, name=f"sentembed-{device}"
            )
            process.start()
            theirs.close()
            self.workers.append(_Worker(device, process, ours))
        self._send_model(payload)

    def _send_model(self, payload: bytes) -> None:
        """Hand each worker the model once it has started up; the workers start up side by side."""
        for worker in self.workers:
            try:
                worker.connection.send_bytes(payload)
            except OSError:
                worker.alive = False
                logger.warning("pool worker on %s died while starting up", worker.device)

    @property
    def devices(self) -> list[str]:
        return [worker.device for worker in self.workers]

    def live_workers(self) -> list[_Worker]:
        return [worker for worker in self.workers if worker.alive and worker.process.is_alive()]

    def __getitem__(self, key: str) -> Any:
        """The reference's dict-style view: "processes" (the worker processes), "input" and "output" (the
        connections to them, one per worker: work goes out and results come back on the same pipe)."""
        views = {
            "processes": lambda: [worker.process for worker in self.workers],
            "input": lambda: [worker.connection for worker in self.workers],
            "output": lambda: [worker.connection for worker in self.workers],
        }
        if key not in views:
            raise KeyError(f"a pool has the keys {sorted(views)}, not {key!r}")
        return views[key]()

    def keys(self) -> list[str]:
        return ["input", "output", "processes"]

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __enter__(self) -> MultiProcessPool:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Ask every worker to stop, and end those that do not within a few seconds."""
        for worker in self.workers:
            with contextlib.suppress(OSError, ValueError):
                worker.connection.send(None)
        for worker in self.workers:
            worker.process.join(STOP_TIMEOUT_S)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(1.0)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(1.0)
            worker.connection.close()
            worker.alive = False

    def encode_unique(self, request: EncodeRequest, chunk_size: int | None = None) -> Any:
        """The model outputs for the request's texts, in order: a tensor of sentence embeddings, or a list per text."""
        chunks = split_into_chunks(request.texts, chunk_size, len(self.live_workers()) or 1)
        results = _ChunkRun(self, next(self._calls), chunks, request).run()
        if request.output_value == "sentence_embedding":
            return torch.cat([results[index] for index in range(len(chunks))])
        return [item for index in range(len(chunks)) for item in results[index]]


def split_into_chunks(texts: list[str], chunk_size: int | None, workers: int) -> list[list[str]]:
    """Chunks of `chunk_size` texts; by default a few per worker, so that a lost chunk costs little."""
    chunk_size = check_positive_int(chunk_size, "chunk_size", optional=True)
    if chunk_size is None:
        chunk_size = min(MAX_CHUNK_SIZE, max(1, math.ceil(len(texts) / (workers * CHUNKS_PER_WORKER))))
    return [texts[start : start + chunk_size] for start in range(0, len(texts), chunk_size)]


class _ChunkRun:
    """One call's chunks, handed to idle workers one at a time; a dead worker's chunk is handed on."""

    def __init__(self, pool: MultiProcessPool, call: int, chunks: list[list[str]], request: EncodeRequest) -> None:
        self.pool, self.call, self.chunks, self.request = pool, call, chunks, request
        self.pending = deque(range(len(chunks)))
        self.busy: dict[int, int] = {}  # worker index -> chunk index
        self.results: dict[int, Any] = {}
        self.deaths: list[str] = []

    def run(self) -> dict[int, Any]:
        while len(self.results) < len(self.chunks):
            self._dispatch()
            if not self.busy:
                raise WorkerError(
                    "every worker of the multi-process pool has died; "
                    f"{len(self.chunks) - len(self.results)} chunks were not encoded ({'; '.join(self.deaths)})"
                )
            self._collect()
        return self.results

    def _dispatch(self) -> None:
        for index, worker in enumerate(self.pool.workers):
            if not self.pending or index in self.busy or not worker.alive:
                continue
            chunk = self.pending.popleft()
            message = (self.call, chunk, dataclasses.replace(self.request, texts=self.chunks[chunk]))
            worker.given_at = time.monotonic()
            threading.Thread(target=_send_quietly, args=(worker.connection, message), daemon=True).start()
            self.busy[index] = chunk

    def _collect(self) -> None:
        """Wait for a reply or a death, but no longer than the next chunk's deadline."""
        workers = self.pool.workers
        waitables = {}
        for index in self.busy:
            waitables[workers[index].connection] = index
            waitables[workers[index].process.sentinel] = index
        first_deadline = min(workers[index].given_at for index in self.busy) + self.pool.chunk_timeout
        ready = wait(list(waitables), timeout=max(0.0, first_deadline - time.monotonic()))
        for index in sorted({waitables[item] for item in ready}):
            self._receive(index)
        self._take_back_overdue_chunks()

    def _take_back_overdue_chunks(self) -> None:
        """Kill each worker that has held its chunk past the deadline, and hand the chunk on."""
        now = time.monotonic()
        for index in [
            index for index in self.busy if now - self.pool.workers[index].given_at > self.pool.chunk_timeout
        ]:
            self.pool.workers[index].process.kill()
            self._requeue(index)
            self._bury(index, f"no answer within chunk_timeout={self.pool.chunk_timeout:g} s, so it was killed")

    def _receive(self, index: int) -> None:
        worker = self.pool.workers[index]
        try:
            if not worker.connection.poll():
                raise EOFError
            status, call, chunk, payload = worker.connection.recv()
        except (EOFError, OSError, pickle.UnpicklingError):
            self._requeue(index)
            self._bury(index)
            return
        if status == "failed" and chunk is None:
            self._requeue(index)
            self._bury(index, payload.strip().splitlines()[-1])
            return
        if call != self.call:
            return  # a late reply to an earlier call that was interrupted
        del self.busy[index]
        if status == "failed":
            raise WorkerError(f"a pool worker on {worker.device} failed while encoding:\n{payload}")
        self.results[chunk] = payload

    def _requeue(self, index: int) -> None:
        chunk = self.busy.pop(index, None)
        if chunk is not None:
            self.pending.appendleft(chunk)

    def _bury(self, index: int, reason: str | None = None) -> None:
        worker = self.pool.workers[index]
        worker.alive = False
        worker.process.join(1.0)
        message = f"worker {index} on {worker.device} died ({reason or f'exit code {worker.process.exitcode}'})"
        self.deaths.append(message)
        logger.warning("%s; its work goes to the remaining workers.", message)


def check_pool(pool: Any, model: torch.nn.Module) -> MultiProcessPool:
    if not isinstance(pool, MultiProcessPool):
        raise TypeError(f"pool must come from start_multi_process_pool(), got {type(pool).__name__}")
    if pool.model_id != id(model):
        raise ValueError("this pool was started by another model; start one with this model's start_multi_process_pool")
    if not pool.live_workers():
        raise WorkerError("the multi-process pool has no live workers (was it stopped?)")
    return pool


def encode_in_pool(
    model: torch.nn.Module,
    request: EncodeRequest,
    pool: MultiProcessPool | None,
    devices: list[str] | None,
    chunk_size: int | None,
) -> Any:
    """Encode the request's distinct texts in `pool`, or in a pool started on `devices` for this call only."""
    check_positive_int(chunk_size, "chunk_size", optional=True)
    if pool is not None:
        return check_pool(pool, model).encode_unique(request, chunk_size)
    with MultiProcessPool(model, devices) as own_pool:
        return own_pool.encode_unique(request, chunk_size)
