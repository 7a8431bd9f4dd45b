"""The store's manifest.json: what model made the vectors, how they are stored, and which segments exist."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sentembed.common.files import read_json, write_json

FORMAT = "sentembed-embedding-store"
VERSION = 2
# Version 1 stores (no file sizes, checksums or text hashes) still open; every write makes a version-2 manifest.
READABLE_VERSIONS = (1, 2)
MANIFEST_FILE = "manifest.json"
SEGMENT_NAME = re.compile(r"[0-9]{6,}")
STORE_PRECISIONS = ("float32", "int8", "ubinary")
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

    @property
    def count(self) -> int:
        """Rows in the segments, deleted ones included (the store's `count` leaves them out)."""
        return sum(segment.count for segment in self.segments)

    def save(self, folder: Path) -> None:
        """Write atomically: the manifest is the commit point of every change to the store."""
        write_json(folder / MANIFEST_FILE, {"format": FORMAT, "version": VERSION, "count": self.count, **asdict(self)})

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST_FILE
        if not path.is_file():
            raise OSError(f"{folder} is not an embedding store: it has no {MANIFEST_FILE}")
        data = read_json(path)
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") not in READABLE_VERSIONS:
            raise OSError(f"{path} is not a sentembed embedding store manifest (versions {list(READABLE_VERSIONS)})")
        try:
            segments = [Segment(**segment) for segment in data.pop("segments")]
            fields = {key: data[key] for key in cls.__dataclass_fields__ if key in data and key != "segments"}
            manifest = cls(**fields, segments=segments)
        except (TypeError, KeyError) as error:
            raise OSError(f"{path} is damaged: {error}") from error
        if isinstance(manifest.dim, bool) or not isinstance(manifest.dim, int) or manifest.dim <= 0:
            raise OSError(f"{path} is damaged: dim {manifest.dim!r} is not a positive integer")
        return manifest


def model_fingerprint(model: Any, prompt: str | None, normalized: bool) -> list[float]:
    """The first dimensions of the model's embedding of a fixed text: equal models give equal fingerprints."""
    vector = model.encode(FINGERPRINT_TEXT, prompt=prompt, normalize_embeddings=normalized, convert_to_numpy=True)
    return [round(float(value), 6) for value in np.asarray(vector)[:FINGERPRINT_DIMS]]


def same_fingerprint(first: list[float] | None, second: list[float] | None) -> bool:
    if first is None or second is None:
        return True
    return len(first) == len(second) and bool(np.allclose(first, second, atol=FINGERPRINT_TOLERANCE, rtol=0))


def model_name(model: Any) -> str | None:
    """A name that `SentenceTransformer(...)` can load again from any working folder, if the model knows where
    it came from: a local folder as an absolute path, a hub name as it is."""
    path = model if isinstance(model, str) else getattr(model, "model_path", None)
    if path is None:
        return None
    local = Path(path).expanduser()
    return str(local.resolve()) if local.is_dir() else str(path)
