"""Compaction: rewrite the segments that hold deleted rows without them, keeping every live row in store order.

The new segments get new names and are complete on disk before the manifest that names them is committed; the
replaced files (and any left by writers that crashed) are removed after the commit.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from sentembed.common.files import read_lines
from sentembed.store._ann import index_file
from sentembed.store._lexical import index_files
from sentembed.store._manifest import Manifest, Segment
from sentembed.store._segments import MappedSegments, write_segment

STORE_FILE = re.compile(
    r"(?P<segment>[0-9]{6,})\.[a-z0-9.]+|deleted-[0-9]{6,}\.npy|lexical-[0-9]{6,}\.[a-z.]+|hnsw-[0-9]{6,}\.usearch|\..+\.tmp"
)


def next_segment_name(segments: list[Segment]) -> str:
    """A segment name after every name in use: segments are not renumbered when compaction replaces them."""
    return f"{max((int(segment.name) + 1 for segment in segments), default=0):06d}"


def compact_segments(folder: Path, manifest: Manifest, mapped: MappedSegments, live: np.ndarray) -> list[Segment]:
    """The store's segments with each one that holds deleted rows rewritten (under a new name) with only its
    live rows, and dropped when none is left; segments without deleted rows are kept as they are."""
    kept: list[Segment] = []
    for index, segment in enumerate(mapped.segments):
        start = int(mapped.ends[index]) - segment.count
        rows = np.flatnonzero(live[start : start + segment.count])
        if len(rows) == segment.count:
            kept.append(segment)
        elif len(rows):
            kept.append(_rewrite(folder, manifest, mapped, index, rows, next_segment_name([*mapped.segments, *kept])))
    return kept


def _rewrite(
    folder: Path, manifest: Manifest, mapped: MappedSegments, index: int, rows: np.ndarray, name: str
) -> Segment:
    segment = mapped.segments[index]
    records = None
    if segment.has_texts:
        every = list(read_lines(folder / f"{segment.name}.texts.jsonl"))
        records = [every[row] for row in rows]
    quantized = None if manifest.precision == "float32" else np.asarray(mapped.quantized[index][rows])
    replacement = Segment(name, len(rows))
    floats, ids = np.asarray(mapped.floats[index][rows]), np.asarray(mapped.ids[index][rows])
    write_segment(folder, replacement, floats, quantized, manifest.precision, ids, records)
    return replacement


def unreferenced_files(folder: Path, manifest: Manifest) -> list[str]:
    """Store files that the manifest does not name: segments and tombstones it replaced, and temporary files
    of writers that crashed (call with the store's lock held, when no writer is at work)."""
    segment_names = {segment.name for segment in manifest.segments}
    named = set(index_files(manifest.lexical)) | set(index_file(manifest.index))
    if manifest.deleted is not None:
        named.add(manifest.deleted["file"])
    unreferenced = []
    for path in folder.iterdir():
        match = STORE_FILE.fullmatch(path.name)
        if match is None or path.name in named or match.group("segment") in segment_names:
            continue
        if path.is_file():
            unreferenced.append(path.name)
    return sorted(unreferenced)
