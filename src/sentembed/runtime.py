"""Run-time choices shared by every model class: the default device and whether to show progress."""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger("sentembed")


def default_device() -> str:
    """The best device available: cuda, then mps, then cpu."""
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def progress_bar_wanted(show_progress_bar: bool | None) -> bool:
    """An explicit choice wins; otherwise show progress when logging is at INFO or more detailed."""
    if show_progress_bar is not None:
        return show_progress_bar
    return logger.getEffectiveLevel() <= logging.INFO
