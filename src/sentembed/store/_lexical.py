"""The store's lexical index: BM25 (bm25s, the `lexical` extra) over every stored row's text, chunks included.

Files `lexical-<n>.data.npy`, `.indices.npy`, `.indptr.npy` (bm25s's precomputed BM25 weights, one sparse
column per vocabulary token) and `.vocab.json` (token to column), named in the manifest with their sizes and
SHA-256. The index covers every stored row; deleted rows and filters are applied to its scores at query time.
Writers rebuild it, under a new number, in the same commit as the rows they add or rewrite.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from sentembed.common.errors import StoreDamagedError, StoreError
from sentembed.common.files import file_digest, load_array, read_json, read_lines, save_array, write_json
from sentembed.store._manifest import Segment, store_file

LEXICAL_NAME = re.compile(r"lexical-([0-9]{6,})")
ARRAY_KINDS = ("data.npy", "indices.npy", "indptr.npy")
FILE_KINDS = (*ARRAY_KINDS, "vocab.json")
# bm25s's defaults (Lucene's BM25), with English stop words removed and Snowball's English stemmer.
SETTINGS = {"method": "lucene", "k1": 1.5, "b": 0.75, "stopwords": "en", "stemmer": "english"}


def _bm25s() -> Any:
    try:
        import bm25s
        import Stemmer
    except ImportError as error:
        raise ImportError("the lexical index needs bm25s and PyStemmer: pip install 'sentembed[lexical]'") from error
    return bm25s, Stemmer


def _tokenize(texts: list[str], settings: dict[str, Any]) -> Any:
    bm25s, Stemmer = _bm25s()
    stemmer = Stemmer.Stemmer(settings["stemmer"])
    return bm25s, bm25s.tokenize(texts, stopwords=settings["stopwords"], stemmer=stemmer, show_progress=False)


def segment_texts(folder: Path, segments: list[Segment]) -> list[str]:
    """Every row's stored text in store order ("" for rows stored without one)."""
    texts: list[str] = []
    for segment in segments:
        if not segment.has_texts:
            texts.extend([""] * segment.count)
            continue
        texts.extend(str(record.get("text") or "") for record in read_lines(folder / f"{segment.name}.texts.jsonl"))
    return texts


def write_index(folder: Path, texts: list[str], previous: dict[str, Any] | None) -> dict[str, Any]:
    """Index `texts` (one per stored row) under the next lexical number; returns the manifest entry."""
    settings = dict(SETTINGS)
    bm25s, tokenized = _tokenize(texts, settings)
    retriever = bm25s.BM25(k1=settings["k1"], b=settings["b"], method=settings["method"])
    retriever.index(tokenized, show_progress=False)
    number = 0 if previous is None else int(LEXICAL_NAME.fullmatch(previous["name"]).group(1)) + 1
    name = f"lexical-{number:06d}"
    for kind in ARRAY_KINDS:
        save_array(folder / f"{name}.{kind}", np.asarray(retriever.scores[kind.split(".")[0]]))
    write_json(
        folder / f"{name}.vocab.json", {str(token): int(column) for token, column in retriever.vocab_dict.items()}
    )
    files = {}
    for kind in FILE_KINDS:
        path = folder / f"{name}.{kind}"
        files[kind] = {"size": path.stat().st_size, "sha256": file_digest(path)}
    return {"name": name, "rows": len(texts), "settings": settings, "files": files}


def index_files(entry: dict[str, Any] | None) -> list[str]:
    return [] if entry is None else [f"{entry['name']}.{kind}" for kind in FILE_KINDS]


def damaged_index_files(folder: Path, entry: dict[str, Any] | None) -> list[str]:
    """The index files whose SHA-256 differs from the one committed."""
    if entry is None:
        return []
    return [
        str(folder / f"{entry['name']}.{kind}")
        for kind in FILE_KINDS
        if file_digest(folder / f"{entry['name']}.{kind}") != entry["files"][kind]["sha256"]
    ]


class LexicalIndex:
    """A committed BM25 index, memory-mapped: scores every stored row for a query text."""

    def __init__(self, folder: Path, entry: dict[str, Any], rows: int) -> None:
        self.settings = _checked_entry(folder, entry, rows)
        name = entry["name"]
        self.data, self.indices, self.indptr = (load_array(folder / f"{name}.{kind}") for kind in ARRAY_KINDS)
        self.vocab: dict[str, int] = read_json(folder / f"{name}.vocab.json")
        self.rows = rows
        # bm25s's vocabulary may end with an empty token that has no column
        if not 0 <= len(self.vocab) - (len(self.indptr) - 1) <= 1 or len(self.data) != len(self.indices):
            raise StoreDamagedError(
                f"the lexical index {folder / name} is damaged; rebuild it with build_lexical_index()"
            )

    def scores(self, text: str) -> np.ndarray:
        """The BM25 score of every stored row for `text` (float32; 0 where no query term occurs)."""
        _, tokenized = _tokenize([text], self.settings)
        words = {column: token for token, column in tokenized.vocab.items()}
        columns = [self.vocab.get(words[column], -1) for column in tokenized.ids[0]]
        columns = [column for column in columns if 0 <= column < len(self.indptr) - 1]
        if not columns:
            return np.zeros(self.rows, dtype=np.float32)
        spans = [np.arange(self.indptr[column], self.indptr[column + 1]) for column in columns]
        entries = np.concatenate(spans)
        weights = np.asarray(self.data[entries], dtype=np.float64)
        return np.bincount(np.asarray(self.indices[entries]), weights=weights, minlength=self.rows).astype(np.float32)


def _checked_entry(folder: Path, entry: Any, rows: int) -> dict[str, Any]:
    """The index's settings, once its manifest entry, names and file sizes are checked."""
    where = folder / "manifest.json"
    valid = isinstance(entry, dict) and isinstance(entry.get("name"), str) and LEXICAL_NAME.fullmatch(entry["name"])
    if not valid or not isinstance(entry.get("files"), dict) or set(entry["files"]) != set(FILE_KINDS):
        raise StoreDamagedError(f"{where} is damaged: its lexical entry is not an index of files {list(FILE_KINDS)}")
    if entry.get("rows") != rows:
        raise StoreDamagedError(
            f"the lexical index covers {entry.get('rows')} rows but the store holds {rows}; "
            "rebuild it with build_lexical_index()"
        )
    for kind, recorded in entry["files"].items():
        path = store_file(folder, f"{entry['name']}.{kind}")
        if not path.is_file() or not isinstance(recorded, dict) or path.stat().st_size != recorded.get("size"):
            raise StoreDamagedError(
                f"store file {path} is missing or of another size than committed; the lexical index is damaged"
            )
    if entry.get("settings") != SETTINGS:
        raise StoreError(f"{where}: lexical settings {entry.get('settings')!r} are not ones this version reads")
    return entry["settings"]
