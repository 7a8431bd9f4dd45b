"""File helpers: JSON and arrays read with errors that name the file, and crash-safe (atomic) writes."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "atomic_write",
    "load_array",
    "path_inside",
    "read_json",
    "read_line",
    "save_array",
    "save_lines",
    "write_json",
]


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, turning a parse failure into an OSError that names the file."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise OSError(f"{path} is not valid JSON: {error}") from error


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write a JSON file (indented, newline at the end) atomically."""
    atomic_write(Path(path), lambda stream: stream.write((json.dumps(data, indent=2) + "\n").encode("utf-8")))


def path_inside(folder: str | os.PathLike, relative: Any, what: str) -> Path:
    """`folder / relative`, refusing a path that is absolute, climbs out with '..', or resolves outside `folder`
    (through a symbolic link, say); `what` names where the path came from in the error."""
    if not isinstance(relative, str):
        raise OSError(f"{what}: a path must be a string, got {type(relative).__name__}")
    candidate = Path(relative)
    root = Path(folder).resolve()
    if candidate.is_absolute() or ".." in candidate.parts or not (root / candidate).resolve().is_relative_to(root):
        raise OSError(f"{what}: path {relative!r} leaves the folder {folder}; paths must stay inside it")
    return Path(folder) / candidate


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Run `write` on a temporary file in the same folder, flush it to disk, then rename it over `path`."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_array(path: Path, array: np.ndarray) -> None:
    """Write a .npy file atomically, never with pickled objects."""
    atomic_write(path, lambda stream: np.save(stream, array, allow_pickle=False))


def load_array(path: Path) -> np.ndarray:
    """Memory-map a .npy file (copy-on-write, so torch can wrap it without copying); never unpickles."""
    if not path.is_file():
        raise OSError(f"file {path} is missing")
    return np.load(path, mmap_mode="c", allow_pickle=False)


def save_lines(path: Path, records: list[Any]) -> np.ndarray:
    """Write one JSON record per line atomically; returns the byte offset where each line starts."""
    lines = [(json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8") for record in records]
    offsets = np.cumsum([0] + [len(line) for line in lines])[:-1].astype(np.int64)
    atomic_write(path, lambda stream: stream.write(b"".join(lines)))
    return offsets


def read_line(path: Path, offset: int) -> Any:
    """The JSON record on the line starting at byte `offset`."""
    with open(path, "rb") as stream:
        stream.seek(offset)
        return json.loads(stream.readline())
