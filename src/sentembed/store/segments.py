"""The store's segment files, and the checks on the ids and texts written into them.

Per segment `<name>`: `<name>.float32.npy`, optionally `<name>.int8.npy` or `<name>.ubinary.npy`,
`<name>.ids.npy`, and optionally `<name>.texts.jsonl` with `<name>.offsets.npy` (byte offset of each line).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sentembed.common.checks import check_text_list
from sentembed.common.files import load_array, read_line, save_array, save_lines
from sentembed.store.manifest import Segment

IdList = Sequence[int] | Sequence[str]


def id_kind(ids: IdList | None) -> str:
    return "str" if ids is not None and len(ids) and isinstance(ids[0], str) else "int"


def check_ids(ids: IdList | None, n: int) -> np.ndarray | None:
    """Ids as an int64 or str array: all ints or all strings, unique, one per row."""
    if ids is None:
        return None
    ids = list(ids)
    if len(ids) != n:
        raise ValueError(f"got {len(ids)} ids for {n} rows")
    kind = id_kind(ids)
    for index, value in enumerate(ids):
        valid = isinstance(value, str) if kind == "str" else isinstance(value, (int, np.integer))
        if not valid or isinstance(value, bool):
            raise TypeError(f"ids[{index}] is {value!r}; ids must be all ints or all strings")
    array = np.asarray(ids, dtype=np.int64 if kind == "int" else str)
    unique, counts = np.unique(array, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"id {unique[counts > 1][0]!r} appears more than once; ids must be unique")
    return array


def make_records(texts: Sequence[str] | None, metadata: Sequence[dict] | None, n: int) -> list[dict] | None:
    """One `{"text", "metadata"}` record per row, or None when neither is given."""
    if texts is None and metadata is None:
        return None
    texts = check_text_list(texts, "texts") if texts is not None else [None] * n
    metadata = list(metadata) if metadata is not None else [None] * n
    for name, values in (("texts", texts), ("metadata", metadata)):
        if len(values) != n:
            raise ValueError(f"got {len(values)} {name} for {n} rows")
    return [{"text": text, "metadata": meta} for text, meta in zip(texts, metadata)]


def _file(folder: Path, segment: Segment, kind: str) -> Path:
    return folder / f"{segment.name}.{kind}"


def write_segment(
    folder: Path,
    segment: Segment,
    embeddings: np.ndarray,
    quantized: np.ndarray | None,
    precision: str,
    ids: np.ndarray,
    records: list[dict] | None,
) -> None:
    """Write every file of a segment; the manifest that names it is written after, by the caller."""
    save_array(_file(folder, segment, "float32.npy"), embeddings)
    if quantized is not None:
        save_array(_file(folder, segment, f"{precision}.npy"), quantized)
    save_array(_file(folder, segment, "ids.npy"), ids)
    if records is not None:
        save_array(_file(folder, segment, "offsets.npy"), save_lines(_file(folder, segment, "texts.jsonl"), records))


class MappedSegments:
    """The committed segments' arrays, memory-mapped: float32 rows, quantized rows and ids, per segment."""

    def __init__(self, folder: Path, precision: str) -> None:
        self.folder, self.precision = folder, precision
        self.floats: list[np.ndarray] = []
        self.quantized: list[np.ndarray] = []
        self.ids: list[np.ndarray] = []
        self.segments: list[Segment] = []

    def map(self, segment: Segment) -> None:
        """Map a committed segment's files, checking their row counts against the manifest."""
        try:
            floats = load_array(_file(self.folder, segment, "float32.npy"))
            quantized = (
                load_array(_file(self.folder, segment, f"{self.precision}.npy"))
                if self.precision != "float32"
                else None
            )
            ids = load_array(_file(self.folder, segment, "ids.npy"))
        except OSError as error:
            raise OSError(f"{error}; the store at {self.folder} is incomplete") from error
        for array in (floats, ids):
            if len(array) != segment.count:
                raise OSError(
                    f"{self.folder / segment.name} holds {len(array)} rows but the manifest says {segment.count}"
                )
        self.floats.append(floats)
        if quantized is not None:
            self.quantized.append(quantized)
        self.ids.append(ids)
        self.segments.append(segment)

    def all_ids(self, kind: str) -> np.ndarray:
        if not self.ids:
            return np.empty(0, dtype=np.int64 if kind == "int" else str)
        return np.concatenate(self.ids)

    def _ends(self) -> np.ndarray:
        return np.cumsum([segment.count for segment in self.segments])

    def locate(self, position: int) -> tuple[int, int]:
        """(segment index, row within it) of a store position."""
        ends = self._ends()
        total = int(ends[-1]) if len(ends) else 0
        if not 0 <= position < total:
            raise IndexError(f"position {position} is outside the store (0..{total - 1})")
        segment_index = int(np.searchsorted(ends, position, side="right"))
        start = 0 if segment_index == 0 else int(ends[segment_index - 1])
        return segment_index, position - start

    def record(self, position: int) -> dict | None:
        """The stored `{"text", "metadata"}` of a row, or None when its segment has no texts."""
        segment_index, row = self.locate(position)
        segment = self.segments[segment_index]
        if not segment.has_texts:
            return None
        offsets = load_array(_file(self.folder, segment, "offsets.npy"))
        return read_line(_file(self.folder, segment, "texts.jsonl"), int(offsets[row]))

    def float_rows(self, positions: np.ndarray, dim: int) -> np.ndarray:
        """The float32 rows at store `positions` (any shape), read from the memory maps."""
        flat = positions.reshape(-1)
        rows = np.empty((len(flat), dim), dtype=np.float32)
        ends = self._ends()
        segment_of = np.searchsorted(ends, flat, side="right")
        for segment_index in np.unique(segment_of):
            chosen = segment_of == segment_index
            start = 0 if segment_index == 0 else ends[segment_index - 1]
            rows[chosen] = self.floats[segment_index][flat[chosen] - start]
        return rows.reshape(*positions.shape, dim)
