"""The store's approximate nearest-neighbour index: an HNSW graph (usearch, the `usearch` extra) over the float32
rows, keyed by store position.

One file, `hnsw-<n>.usearch`, named in the manifest with its size, SHA-256, row count and settings; the graph keeps
its own copy of the vectors in float16 (half the float32 rows' size: its candidates are re-scored on float32). `add` and
`upsert` extend a copy of the graph with the new rows and save it under the next number in the same commit;
`compact` (which moves rows) builds it afresh. Candidates from the graph are re-scored on the float32 rows.
usearch's Python binding has no filter predicate, so deleted and filtered-out rows are skipped by widening the
candidate list (the caller falls back to the exact scan when few rows are allowed).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sentembed.common.errors import StoreDamagedError
from sentembed.common.files import atomic_write, file_digest
from sentembed.store import _scoring as scoring
from sentembed.store._manifest import store_file

HNSW_NAME = re.compile(r"hnsw-([0-9]{6,})\.usearch")
INDEX_KINDS = ("hnsw",)
DEFAULT_SETTINGS = {"connectivity": 16, "expansion_add": 128, "expansion_search": 128}
ADD_BLOCK_ROWS = 65536
# usearch adds rows on every core, and its concurrent add can leave a node stored but unreachable by any search
# (unum-cloud/USearch#735): a row no query would ever find. So after adding, each new row is searched for (its own
# vector, this wide, top RELINK_CHECK_COUNT) and the ones not found are removed and added again by one thread. On
# 100k rows (2 cores) this took 7 s after a 20 s build and left none unreachable; one thread alone took 47 s.
RELINK_CHECK_EXPANSION = 32
RELINK_CHECK_COUNT = 10
# Below this share of allowed rows (a selective filter), the allowed rows are scanned exactly instead.
MIN_ALLOWED_SHARE = 0.02


def _usearch() -> Any:
    try:
        from usearch.index import Index
    except ImportError as error:
        raise ImportError("the hnsw index needs usearch: pip install 'sentembed[usearch]'") from error
    return Index


def check_settings(connectivity: Any, expansion_add: Any, expansion_search: Any) -> dict[str, int]:
    """The graph's knobs as positive ints (None takes the default)."""
    settings = {}
    given = {"connectivity": connectivity, "expansion_add": expansion_add, "expansion_search": expansion_search}
    for name, value in given.items():
        value = DEFAULT_SETTINGS[name] if value is None else value
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
        settings[name] = value
    return settings


def write_index(
    folder: Path, floats: list[np.ndarray], settings: dict[str, int], previous: dict[str, Any] | None, extend: bool
) -> dict[str, Any]:
    """Save an HNSW graph of every row in `floats` (store order) under the number after `previous`'s: with
    `extend`, the previous graph with the rows after the ones it holds added; else a new graph. Returns the
    manifest entry."""
    Index = _usearch()
    rows = sum(len(segment) for segment in floats)
    if extend and previous is not None and previous["rows"] <= rows:
        graph = Index.restore(str(folder / previous["file"]))
        if graph is None:
            raise StoreDamagedError(
                f"{folder / previous['file']} is not a usearch index; rebuild it with build_index()"
            )
        done = previous["rows"]
    else:
        dim = floats[0].shape[1] if floats else 1
        graph = Index(
            ndim=dim, metric="cos", dtype="f16", **{k: settings[k] for k in ("connectivity", "expansion_add")}
        )
        done = 0
    for keys, block in new_blocks(floats, done):
        graph.add(keys, block)
    for keys, block in new_blocks(floats, done):
        stranded = not_found(graph, keys, block)
        if len(stranded):
            graph.remove(keys[stranded])
            graph.add(keys[stranded], block[stranded], threads=1)
    number = 0 if previous is None else int(HNSW_NAME.fullmatch(previous["file"]).group(1)) + 1
    path = folder / f"hnsw-{number:06d}.usearch"
    atomic_write(path, lambda stream: stream.write(bytes(graph.save())))
    return {"kind": "hnsw", "file": path.name, "rows": rows, **settings, "size": path.stat().st_size,
            "sha256": file_digest(path)}  # fmt: skip


def new_blocks(floats: list[np.ndarray], done: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The rows after the first `done` of the segments `floats`, in blocks: (their store positions as uint64
    keys, their float32 vectors)."""
    offset = 0
    for segment in floats:
        for start in range(max(done - offset, 0), len(segment), ADD_BLOCK_ROWS):
            block = np.ascontiguousarray(segment[start : start + ADD_BLOCK_ROWS], dtype=np.float32)
            yield np.arange(offset + start, offset + start + len(block), dtype=np.uint64), block
        offset += len(segment)


def not_found(graph: Any, keys: np.ndarray, block: np.ndarray) -> np.ndarray:
    """The positions in `keys` of the rows that a search of `graph` for their own vector does not find: the
    stranded ones and a few merely hard to reach."""
    graph.expansion_search = RELINK_CHECK_EXPANSION
    found = matched_keys(graph.search(block, RELINK_CHECK_COUNT), len(block))
    return np.array([index for index, key in enumerate(keys) if key not in found[index]], dtype=np.int64)


def matched_keys(matches: Any, queries: int) -> list[np.ndarray]:
    """Per query, the keys usearch found, nearest first (a batch's rows are padded: `counts` says how far)."""
    if not hasattr(matches, "counts"):  # one query: usearch returns its matches alone
        return [np.asarray(matches.keys, dtype=np.int64)]
    keys = np.asarray(matches.keys, dtype=np.int64)
    return [keys[row, : matches.counts[row]] for row in range(queries)]


def index_file(entry: dict[str, Any] | None) -> list[str]:
    return [] if entry is None else [entry["file"]]


def damaged_index(folder: Path, entry: dict[str, Any] | None) -> list[str]:
    if entry is None or file_digest(folder / entry["file"]) == entry["sha256"]:
        return []
    return [str(folder / entry["file"])]


class AnnIndex:
    """A committed HNSW graph, memory-mapped (usearch's view)."""

    def __init__(self, folder: Path, entry: dict[str, Any], rows: int) -> None:
        if (
            not isinstance(entry, dict)
            or entry.get("kind") not in INDEX_KINDS
            or not HNSW_NAME.fullmatch(str(entry.get("file")))
        ):
            raise StoreDamagedError(
                f"{folder / 'manifest.json'} is damaged: its index entry is not an hnsw-<n>.usearch file"
            )
        path = store_file(folder, entry["file"])
        if not path.is_file() or path.stat().st_size != entry.get("size"):
            raise StoreDamagedError(
                f"store file {path} is missing or of another size than committed; rebuild the index"
            )
        if entry.get("rows") != rows:
            raise StoreDamagedError(
                f"the hnsw index holds {entry.get('rows')} rows but the store holds {rows}; rebuild it"
            )
        try:
            self.graph = _usearch().restore(str(path), view=True)
        except ValueError as error:
            raise StoreDamagedError(
                f"{path} is not a usearch index ({error}); rebuild it with build_index()"
            ) from error
        if self.graph is None:
            raise StoreDamagedError(f"{path} is not a usearch index; rebuild it with build_index()")
        self.default_expansion = entry["expansion_search"]
        self.rows = rows

    def candidates(self, queries: np.ndarray, count: int, expansion: int | None = None) -> list[np.ndarray]:
        """Per query, the store positions of up to `count` approximate nearest rows, nearest first, keeping
        `expansion` candidates while searching the graph (None: the committed `expansion_search`)."""
        self.graph.expansion_search = self.default_expansion if expansion is None else expansion
        count = min(count, self.rows)
        return matched_keys(self.graph.search(np.ascontiguousarray(queries, dtype=np.float32), count), len(queries))


def ann_top_rows(
    index: AnnIndex,
    segments: Any,
    queries: np.ndarray,
    k: int,
    multiplier: int,
    allowed: np.ndarray | None,
    expansion: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(n, k) exact cosines and positions of the best allowed rows among the graph's candidates, best first: the
    candidate list (`k * multiplier` at first) widens until each query has `min(k, allowed rows)` allowed ones.
    None when too few rows are allowed for the graph to find them (the caller scans them exactly instead)."""
    available = index.rows if allowed is None else int(np.count_nonzero(allowed))
    if available < MIN_ALLOWED_SHARE * index.rows:
        return None
    wanted, width = min(k, available), k * multiplier
    while True:
        found = index.candidates(queries, width, expansion)
        if allowed is not None:
            found = [rows[allowed[rows]] for rows in found]
        if all(len(rows) >= wanted for rows in found):
            break
        if width >= index.rows:
            return None
        width *= 4
    shortest = min(len(rows) for rows in found)
    candidates = torch.from_numpy(np.stack([rows[:shortest] for rows in found]))
    return scoring.rescore(queries, candidates, segments.float_rows(candidates.numpy(), queries.shape[1]), k)
