"""The store's manifest.json: what model made the vectors, how they are stored, and which segments exist."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from sentembed.common.checks import is_integer
from sentembed.common.errors import StoreDamagedError, StoreError
from sentembed.common.files import path_inside, read_json, write_json
from sentembed.common.protocols import EncoderModel

FORMAT = "sentembed-embedding-store"
VERSION = 2
# A store with deleted rows, a lexical or an ANN index is written as version 3, so that a sentembed too old to
# honour them refuses the store instead of returning deleted rows. Version 1 stores (no file sizes, checksums or
# text hashes) still open; every other write makes a version-2 manifest.
VERSION_WITH_DELETES_AND_INDEXES = 3
READABLE_VERSIONS = (1, 2, 3)
MANIFEST_FILE = "manifest.json"
SEGMENT_NAME = re.compile(r"[0-9]{6,}")
StorePrecision = Literal["float32", "int8", "ubinary"]
STORE_PRECISIONS: tuple[str, ...] = get_args(StorePrecision)
ID_KINDS = ("int", "str")
# The files a segment may have, by suffix (see `segments`): a kind is part of a file name, so no other is accepted.
SEGMENT_FILE_KINDS = ("float32.npy", "int8.npy", "ubinary.npy", "ids.npy", "offsets.npy", "hashes.npy", "texts.jsonl")
SHA256_DIGEST = re.compile(r"[0-9a-f]{64}")
# Encoding this text gives a short signature of the model, to catch queries from a different model.
FINGERPRINT_TEXT = "sentembed embedding store fingerprint"
FINGERPRINT_DIMS = 16
FINGERPRINT_TOLERANCE = 1e-3


@dataclass
class Segment:
    """One batch of rows written together: its name (file prefix), row count, and for each of its files
    (by suffix, such as "float32.npy") the size in bytes and SHA-256 recorded when it was committed."""

    name: str
    count: int
    has_texts: bool = False
    has_hashes: bool = False
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not SEGMENT_NAME.fullmatch(self.name):
            raise OSError(f"segment name {self.name!r} is not a number of six or more digits; the manifest is damaged")
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0:
            raise OSError(f"segment {self.name}: row count {self.count!r} is not a count")
        for flag in ("has_texts", "has_hashes"):
            if not isinstance(getattr(self, flag), bool):
                raise OSError(f"segment {self.name}: {flag} {getattr(self, flag)!r} is not true or false")
        check_file_entries(self.name, self.files)

    def required_kinds(self, precision: str) -> set[str]:
        """The files this segment must have: its float32 rows and ids, its quantized rows, its texts' files."""
        kinds = {"float32.npy", "ids.npy"} | ({f"{precision}.npy"} if precision != "float32" else set())
        if self.has_texts:
            kinds |= {"texts.jsonl", "offsets.npy"}
        if self.has_hashes:
            kinds.add("hashes.npy")
        return kinds


def check_file_entries(name: str, files: Any) -> None:
    """Refuse a segment's `files` unless it is `{kind: {"size": bytes, "sha256": hex digest}}` with each kind one of
    `SEGMENT_FILE_KINDS` (a kind becomes part of a file name: `x/../../elsewhere` must never reach one)."""
    if not isinstance(files, dict):
        raise OSError(f"segment {name}: files must be a dict of file kinds, got {type(files).__name__}")
    for kind, entry in files.items():
        if kind not in SEGMENT_FILE_KINDS:
            raise OSError(f"segment {name}: file kind {kind!r} is not one of {list(SEGMENT_FILE_KINDS)}")
        size, digest = (entry.get("size"), entry.get("sha256")) if isinstance(entry, dict) else (None, None)
        if not _is_count(size) or not isinstance(digest, str) or not SHA256_DIGEST.fullmatch(digest):
            raise OSError(f"segment {name}: files[{kind!r}] is {entry!r}, not {{'size': bytes, 'sha256': hex digest}}")


def _is_count(value: Any) -> bool:
    return is_integer(value) and value >= 0


def store_file(folder: Path, name: str) -> Path:
    """`folder / name`, refusing a name or a symbolic link that leads out of the store (an OSError naming it)."""
    return path_inside(folder, name, f"store file {Path(folder) / name}")


@dataclass
class Manifest:
    dim: int
    precision: str = "float32"
    model: str | None = None
    fingerprint: list[float] | None = None
    normalized: bool = False
    prompt: str | None = None
    id_kind: str = "int"
    ranges: list[list[float]] | None = None
    segments: list[Segment] = field(default_factory=list)
    chunking: dict[str, Any] | None = None
    # The tombstone file of deleted rows (see `deletes`), and the lexical index (see `lexical`), when there are.
    deleted: dict[str, Any] | None = None
    lexical: dict[str, Any] | None = None
    # The approximate nearest-neighbour index (see `ann`), when there is one.
    index: dict[str, Any] | None = None

    @property
    def count(self) -> int:
        """Rows in the segments, deleted ones included (the store's `count` leaves them out)."""
        return sum(segment.count for segment in self.segments)

    def save(self, folder: Path) -> None:
        """Write atomically: the manifest is the commit point of every change to the store."""
        write_json(
            folder / MANIFEST_FILE, {"format": FORMAT, "version": self.version, "count": self.count, **asdict(self)}
        )

    @property
    def version(self) -> int:
        """The format version this manifest needs: 3 once it records deletes, a lexical or an ANN index."""
        needs_three = self.deleted is not None or self.lexical is not None or self.index is not None
        return VERSION_WITH_DELETES_AND_INDEXES if needs_three else VERSION

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """The manifest of the store at `folder`, every value checked (an OSError names the first bad one)."""
        path = store_file(folder, MANIFEST_FILE)
        if not path.is_file():
            raise StoreError(f"{folder} is not an embedding store: it has no {MANIFEST_FILE}")
        try:
            data = read_json(path)
        except OSError as error:  # not JSON: the manifest is damaged
            raise StoreDamagedError(str(error)) from error
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") not in READABLE_VERSIONS:
            raise StoreError(f"{path} is not a sentembed embedding store manifest (versions {list(READABLE_VERSIONS)})")
        try:
            segments = data.pop("segments")
            if not isinstance(segments, list):
                raise OSError(f"segments must be a list, got {type(segments).__name__}")
            fields = {key: data[key] for key in cls.__dataclass_fields__ if key in data and key != "segments"}
            manifest = cls(**fields, segments=[Segment(**segment) for segment in segments])
            manifest.check()
        except (TypeError, KeyError, OSError) as error:
            raise StoreDamagedError(f"{path} is damaged: {error}") from error
        return manifest

    def check(self) -> None:
        """Refuse values the store would put in file names or trust later: an OSError saying which."""
        if isinstance(self.dim, bool) or not isinstance(self.dim, int) or self.dim <= 0:
            raise OSError(f"dim {self.dim!r} is not a positive integer")
        choices_of = {"precision": STORE_PRECISIONS, "id_kind": ID_KINDS}
        for name, choices in choices_of.items():
            value = getattr(self, name)
            if not isinstance(value, str) or value not in choices:
                raise OSError(f"{name} {value!r} is not one of {list(choices)}")
        if not isinstance(self.normalized, bool):
            raise OSError(f"normalized {self.normalized!r} is not true or false")
        for name in ("model", "prompt"):
            if not isinstance(getattr(self, name), (str, type(None))):
                raise OSError(f"{name} {getattr(self, name)!r} is not a string")
        _check_numbers("fingerprint", self.fingerprint, None)
        _check_numbers("ranges", self.ranges, (2, self.dim))
        check_chunking(self.chunking)
        repeated = [name for name, times in Counter(segment.name for segment in self.segments).items() if times > 1]
        if repeated:
            raise OSError(f"segment {repeated[0]} is listed twice")
        for segment in self.segments:
            missing = sorted(segment.required_kinds(self.precision) - set(segment.files))
            if segment.files and missing:
                raise OSError(f"segment {segment.name}: files lacks {missing}; a segment records all its files or none")


def _check_numbers(name: str, value: Any, shape: tuple[int, ...] | None) -> None:
    """Refuse a value that is neither None nor a list of finite numbers (of `shape`, when given)."""
    if value is None:
        return
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        array = None
    if array is None or array.ndim != (1 if shape is None else len(shape)) or not np.isfinite(array).all():
        raise OSError(f"{name} {value!r} is not a list of finite numbers")
    if shape is not None and array.shape != shape:
        raise OSError(f"{name} has shape {array.shape}, expected {shape}")


def check_chunking(chunking: Any) -> None:
    """Refuse a `chunking` entry other than None or `{"chunk_tokens": n, "overlap": m}` with 0 <= m < n."""
    if chunking is None:
        return
    valid = isinstance(chunking, dict) and set(chunking) == {"chunk_tokens", "overlap"}
    tokens, overlap = (chunking["chunk_tokens"], chunking["overlap"]) if valid else (None, None)
    if not (valid and _is_count(tokens) and _is_count(overlap) and overlap < tokens):
        raise OSError(f"chunking {chunking!r} is not {{'chunk_tokens': n, 'overlap': m}} with 0 <= m < n")


def model_fingerprint(model: EncoderModel, prompt: str | None, normalized: bool) -> list[float]:
    """The first dimensions of the model's embedding of a fixed text: equal models give equal fingerprints."""
    vector = model.encode(FINGERPRINT_TEXT, prompt=prompt, normalize_embeddings=normalized, convert_to_numpy=True)
    return [round(float(value), 6) for value in np.asarray(vector)[:FINGERPRINT_DIMS]]


def same_fingerprint(first: list[float] | None, second: list[float] | None) -> bool:
    if first is None or second is None:
        return True
    return len(first) == len(second) and bool(np.allclose(first, second, atol=FINGERPRINT_TOLERANCE, rtol=0))


def model_name(model: str | EncoderModel | None) -> str | None:
    """A name that `SentenceTransformer(...)` can load again from any working folder, if the model knows where
    it came from: a local folder as an absolute path, a hub name as it is."""
    path = model if isinstance(model, str) else getattr(model, "model_path", None)
    if path is None:
        return None
    local = Path(path).expanduser()
    return str(local.resolve()) if local.is_dir() else str(path)
