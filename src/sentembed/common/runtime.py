"""Facts about where code runs: the default device, cores and threads, the cache folder, progress bars."""

from __future__ import annotations

import logging
import os

import torch

__all__ = ["available_cores", "default_cache_folder", "default_device", "default_num_threads", "progress_bar_wanted"]

logger = logging.getLogger("sentembed")


def default_device() -> str:
    """The best device available: cuda, then mps, then cpu."""
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_num_threads() -> int:
    """torch's intra-op thread count, which a multi-process pool lowers per worker; else every core."""
    return max(1, min(torch.get_num_threads(), available_cores()))


def default_cache_folder(cache_folder: str | None = None) -> str | None:
    """The cache folder to use: the argument, else `SENTENCE_TRANSFORMERS_HOME`, else None (the hub's own)."""
    return cache_folder or os.environ.get("SENTENCE_TRANSFORMERS_HOME") or None


def progress_bar_wanted(show_progress_bar: bool | None) -> bool:
    """An explicit choice wins; otherwise show progress when logging is at INFO or more detailed."""
    if show_progress_bar is not None:
        return show_progress_bar
    return logger.getEffectiveLevel() <= logging.INFO
