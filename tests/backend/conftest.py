"""Helpers shared by the backend tests."""

from __future__ import annotations

import shutil
from pathlib import Path


def copy_without_exports(source: Path, target: Path) -> Path:
    """A private copy of a model folder without its onnx/ exports, so that tests export into it, not ../shared."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("onnx"))
    return target
