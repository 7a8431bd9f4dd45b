"""The store's manifest.json: what model made the vectors, how they are stored, and which segments exist."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sentembed.common.files import read_json, write_json

FORMAT = "sentembed-embedding-store"
VERSION = 1
STORE_PRECISIONS = ("float32", "int8", "ubinary")
# Encoding this text gives a short signature of the model, to catch queries from a different model.
FINGERPRINT_TEXT = "sentembed embedding store fingerprint"
FINGERPRINT_DIMS = 16
FINGERPRINT_TOLERANCE = 1e-3


@dataclass
class Segment:
    """One batch of rows written together: its name (file prefix) and row count."""

    name: str
    count: int
    has_texts: bool = False


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

    @property
    def count(self) -> int:
        return sum(segment.count for segment in self.segments)

    def save(self, folder: Path) -> None:
        """Write atomically: the manifest is the commit point of every change to the store."""
        write_json(
            folder / "manifest.json", {"format": FORMAT, "version": VERSION, "count": self.count, **asdict(self)}
        )

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / "manifest.json"
        if not path.is_file():
            raise OSError(f"{folder} is not an embedding store: it has no manifest.json")
        data: dict[str, Any] = read_json(path)
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise OSError(f"{path} is not a version-{VERSION} sentembed embedding store manifest")
        segments = [Segment(**segment) for segment in data.pop("segments")]
        fields = {key: data[key] for key in cls.__dataclass_fields__ if key in data and key != "segments"}
        return cls(**fields, segments=segments)


def model_fingerprint(model: Any, prompt: str | None, normalized: bool) -> list[float]:
    """The first dimensions of the model's embedding of a fixed text: equal models give equal fingerprints."""
    vector = model.encode(FINGERPRINT_TEXT, prompt=prompt, normalize_embeddings=normalized, convert_to_numpy=True)
    return [round(float(value), 6) for value in np.asarray(vector)[:FINGERPRINT_DIMS]]


def same_fingerprint(first: list[float] | None, second: list[float] | None) -> bool:
    if first is None or second is None:
        return True
    return len(first) == len(second) and bool(np.allclose(first, second, atol=FINGERPRINT_TOLERANCE, rtol=0))


def model_name(model: Any) -> str | None:
    """A name that `SentenceTransformer(...)` can load again, if the model knows where it came from."""
    if isinstance(model, str):
        return model
    path = getattr(model, "model_path", None)
    return str(path) if path is not None else None
