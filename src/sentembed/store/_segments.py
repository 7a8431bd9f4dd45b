"""The store's segment files, and the checks on the ids and texts written into them.

Per segment `<name>`: `<name>.float32.npy`, optionally `<name>.int8.npy` or `<name>.ubinary.npy`,
`<name>.ids.npy`, and optionally `<name>.texts.jsonl` with `<name>.offsets.npy` (byte offset of each line)
and `<name>.hashes.npy` (a 16-byte BLAKE2b hash of each text, so that a resumed build can tell that its
input is the one the store was built from). The manifest records each file's size and SHA-256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sentembed.common.checks import check_text_list
from sentembed.common.errors import StoreDamagedError
from sentembed.common.files import file_digest, load_array, read_line, read_lines, save_array, save_lines
from sentembed.store._manifest import Segment, store_file

IdList = Sequence[int] | Sequence[str]
HASH_BYTES = 16
INT64 = np.iinfo(np.int64)
LINE_BLOCK_BYTES = 1 << 24


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
        if kind == "int" and not INT64.min <= value <= INT64.max:
            raise ValueError(f"ids[{index}] is {value!r}; integer ids must fit in 64 bits (-2**63 to 2**63 - 1)")
        if kind == "str" and "\x00" in value:
            raise ValueError(f"ids[{index}] is {value!r}; string ids cannot hold NUL characters (numpy drops them)")
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
    return [{"text": text, "metadata": meta} for text, meta in zip(texts, metadata, strict=True)]


def text_hashes(texts: Sequence[str]) -> np.ndarray:
    """(n, 16) uint8: the BLAKE2b hash of each text's UTF-8 bytes."""
    digests = b"".join(
        hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=HASH_BYTES).digest() for text in texts
    )
    return np.frombuffer(digests, dtype=np.uint8).reshape(len(texts), HASH_BYTES)


def _file(folder: Path, segment: Segment, kind: str) -> Path:
    return store_file(folder, f"{segment.name}.{kind}")


def write_segment(
    folder: Path,
    segment: Segment,
    embeddings: np.ndarray,
    quantized: np.ndarray | None,
    precision: str,
    ids: np.ndarray,
    records: list[dict] | None,
) -> None:
    """Write every file of a segment and record their sizes and checksums in `segment.files`; the manifest
    that names the segment is written after, by the caller."""
    arrays = {"float32.npy": embeddings, "ids.npy": ids}
    if quantized is not None:
        arrays[f"{precision}.npy"] = quantized
    if records is not None:
        arrays["offsets.npy"] = save_lines(_file(folder, segment, "texts.jsonl"), records)
        if all(isinstance(record["text"], str) for record in records):
            arrays["hashes.npy"] = text_hashes([record["text"] for record in records])
    for kind, array in arrays.items():
        save_array(_file(folder, segment, kind), array)
    segment.has_texts = records is not None
    segment.has_hashes = "hashes.npy" in arrays
    kinds = [*arrays, *(["texts.jsonl"] if records is not None else [])]
    segment.files = {kind: _fingerprint(_file(folder, segment, kind)) for kind in sorted(kinds)}


def _fingerprint(path: Path) -> dict[str, int | str]:
    return {"size": path.stat().st_size, "sha256": file_digest(path)}


def check_sizes(folder: Path, segment: Segment) -> None:
    """Refuse a segment whose files are missing or of another size than at commit (a cheap check, by stat)."""
    for kind, recorded in segment.files.items():
        path = _file(folder, segment, kind)
        if not path.is_file():
            raise StoreDamagedError(f"store file {path} is missing; the store at {folder} is incomplete")
        size = path.stat().st_size
        if size != recorded["size"]:
            raise StoreDamagedError(
                f"store file {path} has {size} bytes, but {recorded['size']} were committed; it is damaged"
            )


def damaged_files(folder: Path, segment: Segment) -> list[str]:
    """The files of a segment whose SHA-256 differs from the one recorded at commit."""
    return [
        str(_file(folder, segment, kind))
        for kind, recorded in segment.files.items()
        if file_digest(_file(folder, segment, kind)) != recorded["sha256"]
    ]


def _check_array(path: Path, array: np.ndarray, count: int, dtype: str, width: int | None, rows: str) -> None:
    """Refuse an array of another dtype, shape or row count than a segment's file must have."""
    if not (array.dtype.kind == "U" if dtype == "str" else array.dtype == np.dtype(dtype)):
        raise StoreDamagedError(
            f"{path} holds {array.dtype} values; a store keeps {'strings' if dtype == 'str' else dtype}"
        )
    if array.ndim != (1 if width is None else 2) or (width is not None and array.shape[1] != width):
        raise StoreDamagedError(f"{path} has shape {array.shape}; {rows}")
    if len(array) != count:
        raise StoreDamagedError(f"{path} holds {len(array)} rows but the manifest says {count}")


def _line_starts(path: Path) -> np.ndarray:
    """The byte offset where each newline-terminated line of a file starts, read in blocks."""
    ends, offset = [np.empty(0, dtype=np.int64)], 0
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(LINE_BLOCK_BYTES), b""):
            ends.append(np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == ord("\n")) + offset)
            offset += len(block)
    line_ends = np.concatenate(ends)
    return np.concatenate([[0], line_ends[:-1] + 1]).astype(np.int64) if len(line_ends) else line_ends


def _chunk_span(record: Any, path: Path, row: int) -> tuple[Any, int, int]:
    """(document id, start, end) of a chunk row's record."""
    meta = record.get("metadata") if isinstance(record, dict) else None
    offsets = [meta.get(key) for key in ("start", "end")] if isinstance(meta, dict) else [None]
    if (
        not isinstance(meta, dict)
        or "document" not in meta
        or not all(isinstance(value, int) and not isinstance(value, bool) for value in offsets)
    ):
        raise StoreDamagedError(f"{path}: row {row} is not a chunk record (metadata with document, start and end)")
    return meta["document"], meta["start"], meta["end"]


class MappedSegments:
    """The committed segments' arrays, memory-mapped: float32 rows, quantized rows and ids, per segment."""

    def __init__(self, folder: Path, precision: str, dim: int, id_kind: str = "int") -> None:
        self.folder, self.precision, self.dim, self.id_kind = folder, precision, dim, id_kind
        self.floats: list[np.ndarray] = []
        self.quantized: list[np.ndarray] = []
        self.ids: list[np.ndarray] = []
        self.segments: list[Segment] = []
        self.ends = np.zeros(0, dtype=np.int64)
        self._offsets: dict[int, np.ndarray] = {}

    def map(self, segment: Segment) -> None:
        """Map a committed segment's files, checking their sizes, dtypes, shapes and row counts against the
        manifest (the offsets and hashes are checked, then unmapped until they are needed)."""
        check_sizes(self.folder, segment)
        arrays = {}
        for kind, layout in self._layouts(segment).items():
            path = _file(self.folder, segment, kind)
            try:
                arrays[kind] = load_array(path)
            except OSError as error:
                raise StoreDamagedError(f"{error}; the store at {self.folder} is incomplete or damaged") from error
            _check_array(path, arrays[kind], segment.count, *layout)
        self.floats.append(arrays["float32.npy"])
        if self.precision != "float32":
            self.quantized.append(arrays[f"{self.precision}.npy"])
        self.ids.append(arrays["ids.npy"])
        self.segments.append(segment)
        self.ends = np.append(self.ends, (self.ends[-1] if len(self.ends) else 0) + segment.count)

    def _layouts(self, segment: Segment) -> dict[str, tuple[str, int | None, str]]:
        """Per file of a segment: its dtype ("str" for any string dtype), its row width (None for one value per
        row) and what its rows hold."""
        rows = f"this store holds {self.dim}-dimensional rows"
        layouts = {
            "float32.npy": ("float32", self.dim, rows),
            "ids.npy": ("str" if self.id_kind == "str" else "int64", None, "one id per row"),
        }
        if self.precision == "int8":
            layouts["int8.npy"] = ("int8", self.dim, rows)
        elif self.precision == "ubinary":
            layouts["ubinary.npy"] = ("uint8", (self.dim + 7) // 8, rows)
        if segment.has_texts:
            layouts["offsets.npy"] = ("int64", None, "one byte offset per row")
        if segment.has_hashes:
            layouts["hashes.npy"] = ("uint8", HASH_BYTES, f"a {HASH_BYTES}-byte hash per row")
        return layouts

    def check_contents(self, live_ids: np.ndarray) -> None:
        """What checksums cannot show, read in full (for `verify`): each of `live_ids` (the ids of the rows a
        search may return) is there once, and each texts file holds one line per row where its offsets say."""
        values, counts = np.unique(live_ids, return_counts=True)
        if (counts > 1).any():
            repeated = values[counts > 1][0]
            files = [
                str(_file(self.folder, segment, "ids.npy"))
                for segment, ids in zip(self.segments, self.ids, strict=True)
                if (ids == repeated).any()
            ]
            raise StoreDamagedError(
                f"id {repeated.item()!r} appears in more than one row ({', '.join(files)}); ids must be unique"
            )
        for segment in self.segments:
            if segment.has_texts:
                self._check_lines(segment)

    def _check_lines(self, segment: Segment) -> None:
        path = _file(self.folder, segment, "texts.jsonl")
        starts = _line_starts(path)
        if len(starts) != segment.count:
            raise StoreDamagedError(f"{path} holds {len(starts)} lines but the manifest says {segment.count} rows")
        if not np.array_equal(load_array(_file(self.folder, segment, "offsets.npy")), starts):
            raise StoreDamagedError(
                f"{_file(self.folder, segment, 'offsets.npy')} does not hold where the lines of {path} start"
            )

    def all_ids(self, kind: str) -> np.ndarray:
        if not self.ids:
            return np.empty(0, dtype=np.int64 if kind == "int" else str)
        return np.concatenate(self.ids)

    def stored_hashes(self, count: int) -> np.ndarray | None:
        """The text hashes of the first `count` rows (from the hash files, or from the stored texts of a
        version-1 segment), or None when a segment among them was stored without texts."""
        parts, covered = [], 0
        for segment in self.segments:
            if covered >= count:
                break
            if segment.has_hashes:
                parts.append(np.asarray(load_array(_file(self.folder, segment, "hashes.npy"))))
            elif segment.has_texts:
                records = read_lines(_file(self.folder, segment, "texts.jsonl"))
                parts.append(text_hashes([str(record["text"]) for record in records]))
            else:
                return None
            covered += segment.count
        return np.concatenate(parts)[:count] if parts else np.empty((0, HASH_BYTES), dtype=np.uint8)

    def locate(self, position: int) -> tuple[int, int]:
        """(segment index, row within it) of a store position."""
        ends = self.ends
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
        if segment_index not in self._offsets:
            self._offsets[segment_index] = load_array(_file(self.folder, segment, "offsets.npy"))
        return read_line(_file(self.folder, segment, "texts.jsonl"), int(self._offsets[segment_index][row]))

    def chunk_spans(self) -> list[tuple[Any, int, int]]:
        """(document id, start, end) of every row of a chunked store, from its stored records; a segment without
        texts, a missing row or a record without them is an OSError naming the file."""
        spans = []
        for segment in self.segments:
            path = _file(self.folder, segment, "texts.jsonl")
            if not segment.has_texts:
                raise StoreDamagedError(f"segment {segment.name} of a chunked store has no texts; the store is damaged")
            found = [_chunk_span(record, path, row) for row, record in enumerate(read_lines(path))]
            if len(found) != segment.count:
                raise StoreDamagedError(f"{path} holds {len(found)} records but the manifest says {segment.count} rows")
            spans += found
        return spans

    def float_rows(self, positions: np.ndarray, dim: int) -> np.ndarray:
        """The float32 rows at store `positions` (any shape), read from the memory maps."""
        flat = positions.reshape(-1)
        rows = np.empty((len(flat), dim), dtype=np.float32)
        ends = self.ends
        segment_of = np.searchsorted(ends, flat, side="right")
        for segment_index in np.unique(segment_of):
            chosen = segment_of == segment_index
            start = 0 if segment_index == 0 else ends[segment_index - 1]
            rows[chosen] = self.floats[segment_index][flat[chosen] - start]
        return rows.reshape(*positions.shape, dim)
