"""Facts about where code runs: the default device, cores and threads, the cache folder, progress bars."""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from typing import Any

import torch

__all__ = [
    "BatchesInFlight",
    "LoggingHandler",
    "check_device",
    "available_cores",
    "default_cache_folder",
    "default_device",
    "default_num_threads",
    "is_datasets_available",
    "is_training_available",
    "progress_bar_wanted",
]

logger = logging.getLogger("sentembed")


def default_device() -> str:
    """The best device available: cuda, then mps, then cpu.

    Returns:
        "cuda", "mps" or "cpu".
    """
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def check_device(device: Any, name: str = "device") -> str:
    """Check that a device exists here before anything is moved to it.

    Args:
        device: A device name such as "cpu", "cuda", "cuda:1" or "mps", or a `torch.device`.
        name: What the caller calls the argument, for the error message. Default "device".

    Returns:
        The device's name, as a str.

    Raises:
        TypeError: A device that is neither a str nor a `torch.device`.
        ValueError: A name torch does not know, or a device this machine lacks (saying what is available).
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"{name} must be a device name such as 'cpu' or 'cuda', got {type(device).__name__}")
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as error:
        raise ValueError(f"{name} = {device!r} is not a device torch knows ({error})") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"{name} = {device!r} is not available: torch sees no CUDA GPU here (use 'cpu')")
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(f"{name} = {device!r} does not exist: this machine has {count} CUDA device(s)")
    if parsed.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"{name} = {device!r} is not available on this machine (use 'cpu')")
    return device


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one).

    Returns:
        At least 1.
    """
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_num_threads() -> int:
    """The threads one process should compute with.

    Returns:
        torch's intra-op thread count (which a multi-process pool lowers per worker), at most the available
        cores, at least 1.
    """
    return max(1, min(torch.get_num_threads(), available_cores()))


def default_cache_folder(cache_folder: str | None = None) -> str | None:
    """The folder hub downloads go to.

    Args:
        cache_folder: The caller's choice, if any. Default None.

    Returns:
        `cache_folder`, else the SENTENCE_TRANSFORMERS_HOME environment variable, else None (the hub's own cache).
    """
    return cache_folder or os.environ.get("SENTENCE_TRANSFORMERS_HOME") or None


def progress_bar_wanted(show_progress_bar: bool | None) -> bool:
    """Whether to show a progress bar.

    Args:
        show_progress_bar: The caller's choice; None to decide from logging.

    Returns:
        The caller's choice, else True when sentembed's logging is at INFO or more detailed.
    """
    if show_progress_bar is not None:
        return show_progress_bar
    return logger.getEffectiveLevel() <= logging.INFO


def is_datasets_available() -> bool:
    """Whether Hugging Face `datasets` can be imported.

    Returns:
        True when it is installed.
    """
    return importlib.util.find_spec("datasets") is not None


def is_training_available() -> bool:
    """Whether the `train` extra is installed: `datasets` and `accelerate`, which the trainers need.

    Returns:
        True when both are installed.
    """
    return is_datasets_available() and importlib.util.find_spec("accelerate") is not None


class BatchesInFlight:
    """A count, across threads, of the batches a model is computing at once: what lets a batch computed alone
    take every thread and one computed beside another its lane's share (the server's lanes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def start(self) -> bool:
        """Count one more batch (call `finish` when it is done).

        Returns:
            Whether it is the only batch being computed.
        """
        with self._lock:
            self._count += 1
            return self._count == 1

    def finish(self) -> None:
        """Count a batch done."""
        with self._lock:
            self._count -= 1


class LoggingHandler(logging.Handler):
    """A logging handler that prints through `tqdm.write`, so log lines do not break progress bars.

    Args:
        level: the lowest level this handler prints.
    """

    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)

    def emit(self, record: logging.LogRecord) -> None:
        """Print one record above the progress bars.

        Args:
            record: The record, formatted by this handler's formatter.
        """
        from tqdm.auto import tqdm

        try:
            tqdm.write(self.format(record))
            self.flush()
        except Exception:
            self.handleError(record)
