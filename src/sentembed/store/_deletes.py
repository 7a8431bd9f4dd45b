"""Deleted rows: a tombstone file of store positions, committed through the manifest like the segments.

A delete writes a new `deleted-<n>.npy` (every deleted position, sorted, int64) under a new number, then commits
a manifest that names it with its size and SHA-256; the file it replaces is removed after the commit. A crash
before the commit leaves the old manifest and the old tombstones; after it, at worst an unreferenced old file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from sentembed.common.errors import StoreDamagedError
from sentembed.common.files import file_digest, load_array, save_array
from sentembed.store._manifest import store_file

TOMBSTONE_NAME = re.compile(r"deleted-([0-9]{6,})\.npy")
ENTRY_KEYS = {"file", "count", "size", "sha256"}


def check_entry(entry: Any, folder: Path) -> None:
    """Refuse a manifest `deleted` entry that is not `{"file", "count", "size", "sha256"}` naming a tombstone file
    of this folder."""
    if entry is None:
        return
    if not isinstance(entry, dict) or set(entry) != ENTRY_KEYS:
        raise StoreDamagedError(
            f"{folder / 'manifest.json'} is damaged: deleted must be a dict of {sorted(ENTRY_KEYS)}"
        )
    if not isinstance(entry["file"], str) or not TOMBSTONE_NAME.fullmatch(entry["file"]):
        raise StoreDamagedError(
            f"{folder / 'manifest.json'} is damaged: deleted file {entry['file']!r} is not deleted-<n>.npy"
        )
    for key in ("count", "size"):
        if isinstance(entry[key], bool) or not isinstance(entry[key], int) or entry[key] < 0:
            raise StoreDamagedError(
                f"{folder / 'manifest.json'} is damaged: deleted {key} {entry[key]!r} is not a count"
            )


def read_tombstones(folder: Path, entry: dict[str, Any] | None, rows: int) -> np.ndarray:
    """The deleted store positions (sorted int64) named by a manifest entry, checked against it and the store's
    `rows`; an empty array when nothing is deleted."""
    check_entry(entry, folder)
    if entry is None:
        return np.empty(0, dtype=np.int64)
    path = store_file(folder, entry["file"])
    if not path.is_file() or path.stat().st_size != entry["size"]:
        raise StoreDamagedError(f"store file {path} is missing or of another size than committed; the store is damaged")
    positions = np.asarray(load_array(path))
    valid = positions.dtype == np.int64 and positions.ndim == 1 and len(positions) == entry["count"]
    if not valid or (len(positions) and (positions[0] < 0 or positions[-1] >= rows or (np.diff(positions) <= 0).any())):
        raise StoreDamagedError(
            f"{path} does not hold {entry['count']} increasing positions below {rows}; it is damaged"
        )
    return positions


def write_tombstones(folder: Path, positions: np.ndarray, previous: dict[str, Any] | None) -> dict[str, Any] | None:
    """Write the deleted positions under the next tombstone number; returns the manifest entry (None when no
    position is deleted). The manifest that names it is written by the caller."""
    if len(positions) == 0:
        return None
    number = 0 if previous is None else int(TOMBSTONE_NAME.fullmatch(previous["file"]).group(1)) + 1
    path = folder / f"deleted-{number:06d}.npy"
    save_array(path, np.asarray(positions, dtype=np.int64))
    return {"file": path.name, "count": len(positions), "size": path.stat().st_size, "sha256": file_digest(path)}


def damaged_tombstones(folder: Path, entry: dict[str, Any] | None) -> list[str]:
    """The tombstone file, when its SHA-256 differs from the one committed."""
    if entry is None:
        return []
    path = folder / entry["file"]
    return [] if file_digest(path) == entry["sha256"] else [str(path)]


def live_mask(rows: int, deleted: np.ndarray) -> np.ndarray | None:
    """A flag per store position, False where the row is deleted; None when no row is."""
    if len(deleted) == 0:
        return None
    live = np.ones(rows, dtype=bool)
    live[deleted] = False
    return live


def remove_replaced(folder: Path, names: list[str]) -> None:
    """Remove files that a committed manifest no longer names (missing ones are fine: a crash may have taken
    them already)."""
    for name in names:
        (folder / name).unlink(missing_ok=True)
