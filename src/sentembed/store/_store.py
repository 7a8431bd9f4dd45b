"""`EmbeddingStore`: a corpus's embeddings on disk, memory-mapped, searchable without encoding it again.

A store folder holds manifest.json (model, dimension, normalisation, prompt, precision, segments) and the
segment files (see `segments`). Segment files are complete before the manifest names them, and the
manifest is replaced atomically, so an interrupted write leaves the previous store intact.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch

from sentembed.common.checks import array_matrix, check_choice, check_positive_int, check_text_list
from sentembed.common.errors import StoreDamagedError, StoreError
from sentembed.common.files import file_lock, load_array
from sentembed.common.hits import hits_from_top_k
from sentembed.common.protocols import EncoderModel
from sentembed.common.types import Hit
from sentembed.quantization import quantize_embeddings, scalar_ranges
from sentembed.store import _build as building
from sentembed.store import _hybrid as hybrid
from sentembed.store import _upserts as upserts
from sentembed.store._ann import AnnIndex, ann_top_rows, check_settings, damaged_index, index_file
from sentembed.store._ann import write_index as write_ann
from sentembed.store._compaction import compact_segments, next_segment_name, unreferenced_files
from sentembed.store._deletes import damaged_tombstones, live_mask, read_tombstones, remove_replaced, write_tombstones
from sentembed.store._filters import MetadataColumns, parse_filter
from sentembed.store._lexical import LexicalIndex, damaged_index_files, index_files, segment_texts, write_index
from sentembed.store._manifest import (
    MANIFEST_FILE,
    STORE_PRECISIONS,
    Manifest,
    Segment,
    StorePrecision,
    model_fingerprint,
    model_name,
    store_file,
)
from sentembed.store._searching import search_segments
from sentembed.store._segments import (
    IdList,
    MappedSegments,
    check_ids,
    damaged_files,
    id_kind,
    make_records,
    write_segment,
)

LOCK_FILE = ".lock"
# Writers wait this long for another writer's commit before giving up with an OSError.
LOCK_TIMEOUT_S = 600.0
# An int8 store fixes its per-dimension ranges from its first rows: fewer than this gives poor ranges.
MIN_CALIBRATION_ROWS = 100
# A chunked store's document search starts from this many chunk candidates per wanted document.
CHUNK_CANDIDATES_PER_HIT = 4
SearchMode = Literal["dense", "lexical", "hybrid"]
SEARCH_MODES: tuple[str, ...] = get_args(SearchMode)
# Hybrid search fuses this many hits (or top_k, if more) of each ranking.
HYBRID_DEPTH = 100


class EmbeddingStore:
    """A folder of embeddings (float32, plus int8 or ubinary if asked) with ids, texts and metadata.

    Writers (`add`, `build`, `create`) in any number of processes exclude each other through a lock file
    held across each commit; readers see the last committed state and never wait.

    Make one with `create`, `build` or `empty`, or open one with `open`; the constructor is what they call.

    Args:
        path: The store's folder.
        manifest: Its manifest, as read or just written.
    """

    def __init__(self, path: Path, manifest: Manifest) -> None:
        self.path = path
        self._model: EncoderModel | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._load(manifest)

    def _load(self, manifest: Manifest) -> None:
        """Map every segment of `manifest` and read its tombstones, forgetting what was derived from another."""
        segments = MappedSegments(self.path, manifest.precision, manifest.dim, manifest.id_kind)
        for segment in manifest.segments:
            segments.map(segment)
        self.segments, self.manifest = segments, manifest
        self._deleted = read_tombstones(self.path, manifest.deleted, manifest.count)
        self._spans: list[tuple[Any, int, int]] | None = None
        self._metadata = MetadataColumns(self.path, chunked=manifest.chunking is not None)
        self._lexical: LexicalIndex | None = None
        self._ann: AnnIndex | None = None

    # ----- creating and opening ---------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        embeddings: Any,
        ids: IdList | None = None,
        texts: Sequence[str] | None = None,
        model: str | EncoderModel | None = None,
        precision: StorePrecision = "float32",
        metadata: Sequence[dict] | None = None,
        normalized: bool | None = None,
        prompt: str | None = None,
        calibration_embeddings: Any = None,
        lexical: bool = False,
        index: Literal["hnsw"] | None = None,
    ) -> EmbeddingStore:
        """Write a new store at `path` from embeddings already computed.

        Args:
            path: The folder to write (created when missing). One that already holds rows is refused.
            embeddings: The rows, shape (n, dim): a numpy array, a tensor or a list of lists.
            ids: One unique id per row, all ints or all strings. Default None: 0, 1, 2, ...
            texts: One text per row, returned by `search(return_texts=True)` and `get_text`. Default None.
            model: The model (a SentenceTransformer or its name) the embeddings came from; recorded, so that
                `search` can encode query texts and refuse a different model. Default None.
            precision: "float32" (default), "int8" or "ubinary": what searches scan (the float32 rows are kept
                too, to re-score with).
            metadata: One dict per row, which `search(filter=...)` selects on. Default None.
            normalized: Whether the rows have length 1 (decides how queries are encoded). Default None: measured.
            prompt: The prompt the rows were encoded with, put before query texts too. Default None.
            calibration_embeddings: An int8 store: rows to fix the per-dimension ranges from (at least 100).
                Default None: the first rows added.
            lexical: Also build a BM25 index of `texts`, for `search(mode="lexical"|"hybrid")`. Default False.
            index: "hnsw" to build an approximate nearest-neighbour graph of the rows (see `build_index`).
                Default None.

        Returns:
            The new store, open.

        Raises:
            ValueError: Rows, ids, texts or metadata that do not match in number or kind, repeated ids, an
                unknown precision, or too few rows to calibrate an int8 store.
            TypeError: A `model` that is neither a model nor a name.
            StoreError: A folder that already holds a store (an OSError).
        """
        embeddings = array_matrix(embeddings, "embeddings")
        if normalized is None:
            squared_norms = np.einsum("ij,ij->i", embeddings, embeddings)  # no (n, dim) temporary
            normalized = bool(len(embeddings)) and bool(np.allclose(squared_norms, 1, atol=2e-3))
        model_object = None if model is None or isinstance(model, str) else building.load_model(model)
        name, dim = model_name(model), embeddings.shape[1]
        store = cls.empty(path, dim, name, model_object, precision, normalized, prompt, ids)
        try:
            if calibration_embeddings is not None:
                store._set_ranges(array_matrix(calibration_embeddings, "calibration_embeddings"))
            store.add(embeddings, ids=ids, texts=texts, metadata=metadata)
            if lexical:
                store.build_lexical_index()
            if index is not None:
                store.build_index(index)
        except BaseException:
            store._discard_if_empty()
            raise
        return store

    @classmethod
    def build(
        cls,
        path: str | Path,
        model: str | EncoderModel,
        texts: Sequence[str],
        ids: IdList | None = None,
        metadata: Sequence[dict] | None = None,
        precision: StorePrecision = "float32",
        batch_size: int = 32,
        normalize_embeddings: bool = True,
        prompt: str | None = None,
        prompt_name: str | None = None,
        segment_size: int = 4096,
        show_progress_bar: bool = True,
        chunk_tokens: int | None = None,
        chunk_overlap: int = 0,
        cache: Any = None,
        lexical: bool = False,
        index: Literal["hnsw"] | None = None,
    ) -> EmbeddingStore:
        """Encode `texts` with `model` and store them, one committed segment at a time.

        Run it again with the same arguments after an interruption and it resumes: rows already in the
        store are checked against `ids` and their texts and never encoded again.

        Args:
            path: The folder to build the store in (created when missing).
            model: A SentenceTransformer, or a model name to load one from.
            texts: The texts to encode and store.
            ids: One unique id per text, all ints or all strings. Default None: 0, 1, 2, ...
            metadata: One dict per text, which `search(filter=...)` selects on. Default None.
            precision: "float32" (default), "int8" or "ubinary": what searches scan.
            batch_size: Texts per `encode` batch. Default 32.
            normalize_embeddings: Store unit-length embeddings (and encode queries so). Default True.
            prompt: A prompt to put before every text (and query). Default None.
            prompt_name: The name of one of the model's prompts instead. Default None.
            segment_size: Rows per committed segment: what an interruption can lose. Default 4096.
            show_progress_bar: Show progress over the texts. Default True.
            chunk_tokens: Store each text as chunks of at most this many tokens; `search` then returns
                documents. Default None: one row per text.
            chunk_overlap: With `chunk_tokens`, tokens shared by neighbouring chunks. Default 0.
            cache: An `EmbeddingCache`: texts encoded before are read from it. Default None.
            lexical: Also build a BM25 index of the stored texts (chunks included) once every row is stored.
                Default False.
            index: "hnsw" to build an approximate nearest-neighbour graph of the rows (see `build_index`).
                Default None.

        Returns:
            The store, open, holding every text.

        Raises:
            ValueError: Ids or metadata that do not match the texts, an unknown precision, or a resumed
                store whose rows, ids or model differ from these.
            TypeError: Texts that are not strings, or a `model` that is neither a model nor a name.
        """
        options = building.BuildOptions(
            precision, batch_size, normalize_embeddings, prompt, prompt_name, segment_size, show_progress_bar,
            chunk_tokens, chunk_overlap, cache, lexical, index,
        )  # fmt: skip
        return building.build_store(cls, Path(path), model, texts, ids, metadata, options)

    @classmethod
    def open(cls, path: str | Path) -> EmbeddingStore:
        """Memory-map an existing store; nothing is read into memory until it is searched.

        Args:
            path: The store's folder.

        Returns:
            The store.

        Raises:
            StoreError: A folder without a store, or a manifest of a version this one cannot read (an OSError).
            StoreDamagedError: A manifest that cannot be parsed or holds bad values (an OSError).
        """
        path = Path(path)
        return cls(path, Manifest.read(path))

    @classmethod
    def empty(
        cls,
        path: str | Path,
        dim: int,
        name: str | None,
        model: EncoderModel | None,
        precision: str,
        normalized: bool,
        prompt: str | None,
        ids: IdList | None,
        chunking: dict[str, Any] | None = None,
    ) -> EmbeddingStore:
        """A new store with no rows yet, its manifest written (a store left empty by a failed attempt is replaced).

        Args:
            path: The folder (created when missing).
            dim: The embeddings' dimension.
            name: The model's name, recorded to load it for query texts; None for none.
            model: The model object, whose fingerprint is recorded; None for none.
            precision: "float32", "int8" or "ubinary".
            normalized: Whether the rows will have length 1.
            prompt: The prompt put before texts and queries, or None.
            ids: Example ids, for their kind (ints or strings); None for ints.
            chunking: A chunked store's chunking settings, or None.

        Returns:
            The empty store, open.

        Raises:
            ValueError: An unknown precision.
            StoreError: A folder that already holds rows (an OSError).
        """
        check_choice(precision, STORE_PRECISIONS, "store precision")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        fingerprint = model_fingerprint(model, prompt, normalized) if model is not None else None
        manifest = Manifest(dim, precision, name, fingerprint, normalized, prompt, id_kind(ids), chunking=chunking)
        with file_lock(store_file(path, LOCK_FILE), LOCK_TIMEOUT_S, f"the store at {path}"):
            if (path / MANIFEST_FILE).exists() and Manifest.read(path).segments:
                raise StoreError(
                    f"{path} already holds an embedding store; open it and add(), or choose another folder"
                )
            manifest.save(path)
        return cls(path, manifest)

    def _discard_if_empty(self) -> None:
        """Remove the manifest of a store that holds no rows, so that a corrected retry can create it again."""
        with file_lock(store_file(self.path, LOCK_FILE), LOCK_TIMEOUT_S, f"the store at {self.path}"):
            if not Manifest.read(self.path).segments:
                (self.path / MANIFEST_FILE).unlink()

    # ----- properties ---------------------------------------------------------------------------

    @property
    def count(self) -> int:
        """Live rows: the rows stored less the deleted ones, as last committed by any writer."""
        self._refresh()
        return self.manifest.count - len(self._deleted)

    def __len__(self) -> int:
        return self.count

    @property
    def dim(self) -> int:
        return self.manifest.dim

    @property
    def precision(self) -> str:
        return self.manifest.precision

    @property
    def ids(self) -> np.ndarray:
        """The ids of the live rows, in storage order."""
        return np.delete(self.segments.all_ids(self.manifest.id_kind), self._deleted)

    def embeddings(self) -> np.ndarray:
        """The live rows' float32 embeddings as one array (this reads them into memory).

        Returns:
            An array of shape (count, dim), rows in storage order.
        """
        if not self.segments.floats:
            return np.empty((0, self.dim), dtype=np.float32)
        return np.delete(np.concatenate(self.segments.floats), self._deleted, axis=0)

    def get_text(self, position: int) -> str | None:
        """The stored text of one row.

        Args:
            position: The row's position in storage order.

        Returns:
            Its text, or None when it was stored without text.
        """
        record = self.segments.record(position)
        return None if record is None else record["text"]

    def get_metadata(self, position: int) -> dict | None:
        """The stored metadata of one row.

        Args:
            position: The row's position in storage order.

        Returns:
            Its metadata dict, or None when it was stored without.
        """
        record = self.segments.record(position)
        return None if record is None else record.get("metadata")

    # ----- writing -----------------------------------------------------------------------------

    def add(
        self,
        embeddings: Any,
        ids: IdList | None = None,
        texts: Sequence[str] | None = None,
        metadata: Sequence[dict] | None = None,
    ) -> None:
        """Append rows as one new segment; the store changes only once every file of it is on disk.

        Holds the store's lock from reading the latest manifest to committing the new one, so that writers in
        other processes neither lose nor overwrite each other's rows.

        Args:
            embeddings: The rows, shape (n, dim) with the store's dim.
            ids: One unique id per row, of the store's kind (ints or strings), none already stored. Default
                None: ints continuing after the largest stored one (a store of string ids needs ids).
            texts: One text per row. Default None.
            metadata: One dict per row. Default None.

        Raises:
            ValueError: Rows of another dimension, ids of the wrong kind or number, or ids already stored.
            OSError: The lock not obtained within 10 minutes.
        """
        embeddings = array_matrix(embeddings, "embeddings")
        if embeddings.shape[1] != self.dim:
            raise ValueError(f"embeddings {embeddings.shape} do not match this store's dimension {self.dim}")
        records = make_records(texts, metadata, len(embeddings))
        with self._lock():
            self._catch_up()
            new_ids = self._new_ids(ids, len(embeddings))
            if len(embeddings) == 0:
                return
            segment = self._write_segment(embeddings, new_ids, records)
            self._commit([*self.manifest.segments, segment], self._deleted)

    def delete(self, ids: IdList) -> int:
        """Delete the live rows with these ids (in a chunked store, every chunk of these documents) in one
        commit, seen at once by every search and by `count`; ids not in the store are skipped. Returns how many
        of the ids were found. The rows' space comes back with `compact()`.

        Args:
            ids: ids of the rows (chunked store: of the documents) to delete, all ints or all strings.

        Returns:
            How many of the ids were found.

        Raises:
            TypeError: A single id instead of a list, or ids of the other kind than the store's.
        """
        wanted = self._id_values(ids)
        with self._lock():
            self._catch_up()
            positions, found = self._live_positions(wanted)
            if len(positions):
                self._commit(self.manifest.segments, np.union1d(self._deleted, positions))
        return found

    def upsert(
        self,
        ids: IdList,
        texts: Sequence[str] | None = None,
        embeddings: Any = None,
        metadata: Sequence[dict] | None = None,
        model: str | EncoderModel | None = None,
    ) -> None:
        """Replace the rows with these ids, or add them where there are none, in one commit: the old rows are
        deleted and the new ones appended together, so that no search sees both or neither.

        Args:
            ids: one id per new row (chunked store: per document), unique, all ints or all strings.
            texts: the rows' texts; encoded with `model` (or the store's model) when `embeddings` is None.
            embeddings: the rows' embeddings, when already computed (not for a chunked store, which splits texts).
            metadata: one dict per row, or None.
            model: the model to encode `texts` with, checked against the store's; default: the store's model.

        Raises:
            TypeError: A single id instead of a list.
            ValueError: Repeated ids, ids of the other kind, rows that do not match `ids` in number, or a model
                that differs from the store's.
        """
        if isinstance(ids, (str, int)):
            raise TypeError(f"ids must be a list of ids, got {type(ids).__name__}")
        wanted = check_ids(ids, len(ids))
        rows = upserts.upsert_rows(self, wanted, texts, embeddings, metadata, model)
        with self._lock():
            self._catch_up()
            positions, _ = self._live_positions(wanted)
            row_ids = rows.ids if rows.ids is not None else self._new_ids(None, len(rows.embeddings))
            if len(row_ids) and id_kind(row_ids.tolist()) != self.manifest.id_kind:
                raise ValueError(f"this store has {self.manifest.id_kind} ids; got {id_kind(row_ids.tolist())} ids")
            segment = self._write_segment(rows.embeddings, row_ids, rows.records)
            self._commit([*self.manifest.segments, segment], np.union1d(self._deleted, positions))

    def compact(self) -> int:
        """Rewrite the segments that hold deleted rows without them, and remove the files that no longer serve
        (replaced segments and tombstones, and files left by writers that crashed). Ids and results stay the
        same; rows' positions change.

        Returns:
            How many deleted rows were reclaimed.
        """
        with self._lock():
            self._catch_up()
            reclaimed = len(self._deleted)
            if reclaimed:
                live = live_mask(self.manifest.count, self._deleted)
                segments = compact_segments(self.path, self.manifest, self.segments, live)
                self._commit(segments, np.empty(0, dtype=np.int64))
            remove_replaced(self.path, unreferenced_files(self.path, self.manifest))
        return reclaimed

    def _lock(self):
        return file_lock(store_file(self.path, LOCK_FILE), LOCK_TIMEOUT_S, f"the store at {self.path}")

    def _write_segment(self, embeddings: np.ndarray, ids: np.ndarray, records: list[dict] | None) -> Segment:
        """Write the files of a new segment (not yet committed), quantizing its rows if the store does."""
        if self.precision == "int8" and self.manifest.ranges is None:
            check_calibration_rows(len(embeddings))
            self._set_ranges(embeddings)
        quantized = None
        if self.precision != "float32":
            quantized = quantize_embeddings(embeddings, self.precision, ranges=self._ranges())
        segment = Segment(next_segment_name(self.manifest.segments), len(embeddings))
        write_segment(self.path, segment, embeddings, quantized, self.precision, ids, records)
        return segment

    def build_lexical_index(self) -> None:
        """Build (or rebuild, say after damage) the BM25 index of every stored row's text, and commit it; later
        writes keep it up to date. Needs the `lexical` extra (bm25s, PyStemmer).

        Raises:
            ImportError: bm25s or PyStemmer is not installed.
        """
        with self._lock():
            self._catch_up()
            self._commit(self.manifest.segments, self._deleted, reindex=True)

    def build_index(
        self,
        kind: Literal["hnsw"] = "hnsw",
        connectivity: int | None = None,
        expansion_add: int | None = None,
        expansion_search: int | None = None,
    ) -> None:
        """Build (or rebuild with new settings, or after damage) the approximate nearest-neighbour index of every
        stored row and commit it; later writes keep it up to date, and dense searches use it. Needs usearch.

        Args:
            kind: "hnsw" (usearch's HNSW graph, cosine, float32 rows).
            connectivity: edges per node (default 16): more gives better recall for more memory.
            expansion_add: candidates kept while inserting (default 128): more gives a better graph, slower.
            expansion_search: candidates kept while searching (default 128): more gives better recall, slower.

        Raises:
            ValueError: A kind other than "hnsw", or settings that are not positive ints.
            ImportError: usearch is not installed.
        """
        check_choice(kind, ("hnsw",), "index kind")
        settings = check_settings(connectivity, expansion_add, expansion_search)
        with self._lock():
            self._catch_up()
            self._commit(self.manifest.segments, self._deleted, ann_settings=settings)

    def _commit(
        self,
        segments: list[Segment],
        deleted: np.ndarray,
        reindex: bool = False,
        ann_settings: dict[str, int] | None = None,
    ) -> None:
        """Write the tombstones if they changed, and the lexical index if the rows changed (or `reindex`), then
        commit a manifest that names `segments` and them (call with the lock held, the segments' files written);
        the tombstone and index files it replaces are removed after."""
        previous = self.manifest
        entry = previous.deleted
        if not np.array_equal(deleted, self._deleted):
            entry = write_tombstones(self.path, deleted, previous.deleted)
        lexical = previous.lexical
        if reindex or (lexical is not None and segments != previous.segments):
            lexical = write_index(self.path, segment_texts(self.path, segments), previous.lexical)
        ann = self._write_ann(previous, segments, ann_settings)
        manifest = dataclasses.replace(previous, segments=segments, deleted=entry, lexical=lexical, index=ann)
        manifest.save(self.path)
        self._take(manifest)
        replaced = index_files(previous.lexical) if lexical != previous.lexical else []
        replaced += index_file(previous.index) if ann != previous.index else []
        if previous.deleted is not None and entry != previous.deleted:
            replaced.append(previous.deleted["file"])
        remove_replaced(self.path, replaced)

    def _write_ann(
        self, previous: Manifest, segments: list[Segment], settings: dict[str, int] | None
    ) -> dict[str, Any] | None:
        """The approximate index for `segments`: built with new `settings`, extended with appended segments,
        built afresh when segments were replaced, or the previous one when the rows did not change."""
        ann = previous.index
        if settings is None and (ann is None or segments == previous.segments):
            return ann
        extend = settings is None and segments[: len(previous.segments)] == previous.segments
        settings = settings or {name: ann[name] for name in ("connectivity", "expansion_add", "expansion_search")}
        floats = [load_array(self.path / f"{segment.name}.float32.npy") for segment in segments]
        return write_ann(self.path, floats, settings, previous.index, extend)

    def _catch_up(self) -> None:
        """Take in what other writers committed since this store last looked (call with the lock held)."""
        self._take(Manifest.read(self.path))

    def _refresh(self) -> None:
        """Take in what any writer committed since the last look, when the manifest file changed since."""
        state = (self.path / MANIFEST_FILE).stat()
        stamp = (state.st_ino, state.st_mtime_ns, state.st_size)
        if stamp != self._stamp:
            self._stamp = stamp
            self._take(Manifest.read(self.path))

    def _take(self, latest: Manifest) -> None:
        """Follow the committed manifest `latest`: map the segments appended since, or map everything again
        when segments were replaced (by a compaction); read the tombstones again when they changed."""
        known = len(self.manifest.segments)
        if latest.segments[:known] != self.manifest.segments:
            self._load(latest)
            return
        for segment in latest.segments[known:]:
            self.segments.map(segment)
        if latest.deleted != self.manifest.deleted:
            self._deleted = read_tombstones(self.path, latest.deleted, latest.count)
        if latest.lexical != self.manifest.lexical:
            self._lexical = None
        if latest.index != self.manifest.index:
            self._ann = None
        self.manifest = latest

    def _id_values(self, ids: IdList) -> np.ndarray:
        """The distinct ids asked for, all ints or all strings."""
        if isinstance(ids, (str, int)):
            raise TypeError(f"ids must be a list of ids, got {type(ids).__name__}")
        distinct = list(dict.fromkeys(ids))
        return check_ids(distinct, len(distinct))

    def _row_keys(self) -> np.ndarray:
        """What an id names for each stored row: its id, or in a chunked store its document's id."""
        if self.manifest.chunking is None:
            return self.segments.all_ids(self.manifest.id_kind)
        return np.asarray([document for document, _, _ in self._chunk_spans()])

    def _live_positions(self, wanted: np.ndarray) -> tuple[np.ndarray, int]:
        """The positions of the live rows that `wanted` ids name, and how many of the ids name one."""
        keys = self._row_keys()
        if len(keys) and len(wanted) and (keys.dtype.kind == "U") != (wanted.dtype.kind == "U"):
            stored, given = ("strings", "ints") if keys.dtype.kind == "U" else ("ints", "strings")
            raise TypeError(f"this store's ids are {stored}; got {given}")
        named = np.isin(keys, wanted)
        named[self._deleted] = False
        positions = np.flatnonzero(named)
        return positions, len(np.unique(keys[positions]))

    def _allowed(self, conditions: list | None = None) -> np.ndarray | None:
        """A flag per stored row, True for the live rows that meet the filter's `conditions`; None when a search
        may return any row."""
        allowed = live_mask(self.manifest.count, self._deleted)
        if conditions:
            matching = self._metadata.mask(conditions, self.manifest.segments)
            allowed = matching if allowed is None else allowed & matching
        return allowed

    def _set_ranges(self, embeddings: np.ndarray) -> None:
        self.manifest.ranges = scalar_ranges(embeddings).tolist()
        self.manifest.save(self.path)

    def _ranges(self) -> np.ndarray | None:
        return None if self.manifest.ranges is None else np.asarray(self.manifest.ranges, dtype=np.float32)

    def _new_ids(self, ids: IdList | None, n: int) -> np.ndarray:
        """Given ids checked for type and uniqueness, or positions continuing from the current count."""
        if ids is None:
            if self.manifest.id_kind != "int":
                raise ValueError("this store has string ids; pass ids= for the new rows")
            stored = self.segments.all_ids("int")
            start = max(self.manifest.count, int(stored.max()) + 1 if len(stored) else 0)
            return np.arange(start, start + n, dtype=np.int64)
        array = check_ids(ids, n)
        if id_kind(ids) != self.manifest.id_kind and n:
            raise ValueError(f"this store has {self.manifest.id_kind} ids; got {id_kind(ids)} ids")
        clash = np.isin(array, self.ids)
        if clash.any():
            raise ValueError(f"id {array[clash][0]!r} is already in the store; ids must be unique")
        return array

    def verify(self) -> int:
        """Check every committed file against the size and SHA-256 recorded at commit, then what sums cannot
        show (ids repeated, texts files out of step with their offsets). Version-1 stores recorded no sums.

        Returns:
            How many files were checked.

        Raises:
            StoreDamagedError: Naming the damaged files (an OSError).
        """
        checked, damaged = 0, damaged_tombstones(self.path, self.manifest.deleted)
        checked += self.manifest.deleted is not None
        damaged += damaged_index_files(self.path, self.manifest.lexical) + damaged_index(self.path, self.manifest.index)
        checked += len(index_files(self.manifest.lexical)) + len(index_file(self.manifest.index))
        for segment in self.manifest.segments:
            damaged += damaged_files(self.path, segment)
            checked += len(segment.files)
        if damaged:
            raise StoreDamagedError(f"{len(damaged)} store files differ from what was committed: {', '.join(damaged)}")
        self.segments.check_contents(self.ids)
        return checked

    # ----- models ------------------------------------------------------------------------------

    def check_model(self, model: EncoderModel | None) -> None:
        """Refuse a model whose embeddings differ from the ones this store was built with.

        Args:
            model: The model to check (its fingerprint against the one recorded); None passes.

        Raises:
            ValueError: The model's embeddings differ from the store's.
        """
        building.check_model(self.manifest, model)

    def model(self) -> EncoderModel:
        """The store's model, loaded once from the name in the manifest.

        Returns:
            The SentenceTransformer the store was built with.

        Raises:
            ValueError: The store records no model name, or the loaded model differs from the recorded one.
        """
        if self._model is None:
            if self.manifest.model is None:
                raise ValueError("this store records no model name; pass model= to search with texts")
            self._model = building.load_model(self.manifest.model)
            self.check_model(self._model)
        return self._model

    # ----- searching ---------------------------------------------------------------------------

    def search(
        self,
        query_embeddings_or_texts: Any,
        top_k: int = 10,
        rescore: bool = True,
        rescore_multiplier: int = 4,
        model: EncoderModel | None = None,
        return_texts: bool = False,
        return_chunks: bool = False,
        filter: dict[str, Any] | None = None,
        mode: SearchMode = "dense",
        rrf_k: float = 60,
        fusion: hybrid.Fusion = "rrf",
        weights: Sequence[float] | None = None,
        exact: bool = False,
        expansion_search: int | None = None,
    ) -> list[list[Hit]]:
        """Per query, up to `top_k` hits `{"corpus_id": stored id, "score": cosine}`, best first.

        Quantized stores find `top_k * rescore_multiplier` candidates on the quantized vectors, then re-score
        them against the memory-mapped float32 vectors (`rescore=False` returns the quantized scores).
        A chunked store returns documents: each document's best chunk gives its score, and the hit's
        `"chunk"` holds that chunk's row and character offsets; `return_chunks=True` returns the chunk rows.
        Deleted rows are never returned, and `filter` keeps to the rows whose metadata it matches before any row
        is scored, so `top_k` hits come back whenever that many rows match.

        Args:
            query_embeddings_or_texts: a text, a list of texts (encoded with `model` or the store's model), or
                query embeddings (one vector or a matrix).
            top_k: hits per query.
            rescore: quantized stores: re-score candidates against the float32 rows.
            rescore_multiplier: quantized stores: candidates per hit.
            model: the model to encode query texts with (checked against the store's fingerprint).
            return_texts: add each hit's stored `"text"`.
            return_chunks: chunked stores: return chunk rows instead of documents.
            filter: metadata conditions, such as `{"year": {"$gte": 2010}, "lang": {"$in": ["en", "de"]}}`
                (see `sentembed.store._filters`).
            mode: "dense" (embeddings), "lexical" (BM25 over the stored texts; needs query texts and a store built
                with `lexical=True`), or "hybrid" (both rankings fused; its hits add `dense_score` and
                `lexical_score`, None where that ranking did not find the hit).
            rrf_k: hybrid, fusion "rrf": each ranking adds weight / (rrf_k + rank) to a hit's score.
            fusion: hybrid: "rrf" (reciprocal rank fusion) or "weighted" (weights times each ranking's scores
                scaled to [0, 1] over its hits).
            weights: hybrid: (dense weight, lexical weight), default (1, 1).
            exact: a store with an approximate index (`build_index`): scan every row instead of asking the graph.
                The graph's candidates are re-scored on the float32 rows either way.
            expansion_search: a store with an approximate index: candidates the graph keeps while searching, for
                this call (default: the index's `expansion_search`); more gives better recall, slower.

        Returns:
            One list of hits per query, best first: dicts with "corpus_id" (the stored id) and "score", plus
            "text", "chunk", "dense_score" and "lexical_score" as the arguments above say.

        Raises:
            ValueError: A `top_k` or `rescore_multiplier` that is not a positive int, an unknown mode or fusion,
                a malformed filter, query embeddings of another dimension, query texts with no model to encode
                them, or a lexical search on a store without a lexical index.
        """
        top_k = check_positive_int(top_k, "top_k")
        expansion = None if expansion_search is None else check_positive_int(expansion_search, "expansion_search")
        rescore_multiplier = check_positive_int(rescore_multiplier, "rescore_multiplier")
        conditions = None if filter is None else parse_filter(filter)
        check_choice(mode, SEARCH_MODES, "search mode")
        if mode != "dense":
            options = (rescore, rescore_multiplier, rrf_k, fusion, hybrid.check_weights(weights), expansion)
            return self._text_search(
                query_embeddings_or_texts, mode, top_k, model, return_texts, return_chunks, conditions, options
            )
        queries = self._queries(query_embeddings_or_texts, model)
        self._refresh()
        allowed = self._allowed(conditions)
        if self.count == 0 or len(queries) == 0:
            return [[] for _ in range(len(queries))]
        if self.manifest.chunking is not None and not return_chunks:
            return self._document_hits(
                queries, top_k, rescore, rescore_multiplier, return_texts, allowed, exact, expansion
            )
        values, positions = self._top_rows(queries, top_k, rescore, rescore_multiplier, allowed, exact, expansion)
        return self._hits(values, positions, return_texts)

    def _text_search(self, queries, mode, top_k, model, return_texts, return_chunks, conditions, options):
        """Lexical or hybrid search: per query text, the BM25 ranking of the allowed rows, alone or fused with
        the dense ranking."""
        rescore, multiplier, rrf_k, fusion, weights, expansion = options
        check_choice(fusion, hybrid.FUSIONS, "fusion")
        if isinstance(rrf_k, bool) or not isinstance(rrf_k, (int, float)) or rrf_k < 0:
            raise ValueError(f"rrf_k must be a number >= 0, got {rrf_k!r}")
        texts = self._query_texts(queries, mode)
        self._refresh()
        allowed = self._allowed(conditions)
        documents = self.manifest.chunking is not None and not return_chunks
        depth = top_k if mode == "lexical" else max(top_k, HYBRID_DEPTH)
        lexical = [self._lexical_hits(text, depth, allowed, documents) for text in texts]
        if mode == "lexical":
            results = lexical
        else:
            dense = self._dense_hits(
                self._queries(texts, model), depth, rescore, multiplier, allowed, documents, expansion
            )
            results = [hybrid.fuse(*pair, top_k, fusion, rrf_k, weights) for pair in zip(dense, lexical, strict=True)]
        for hits in results:
            for hit in hits:
                row = hit.pop("_row")
                if return_texts:
                    hit["text"] = self.get_text(row)
        return results

    def _query_texts(self, queries: Any, mode: str) -> list[str]:
        if isinstance(queries, str):
            return [queries]
        if not isinstance(queries, (list, tuple)) or not all(isinstance(query, str) for query in queries):
            raise ValueError(f"mode={mode!r} searches with query texts (a string or a list of strings)")
        return check_text_list(list(queries), "queries")

    def _ann_index(self) -> AnnIndex:
        if self._ann is None:
            self._ann = AnnIndex(self.path, self.manifest.index, self.manifest.count)
        return self._ann

    def _lexical_index(self) -> LexicalIndex:
        if self.manifest.lexical is None:
            raise ValueError(
                f"the store at {self.path} has no lexical index: build it with lexical=True, or call "
                "store.build_lexical_index()"
            )
        if self._lexical is None:
            self._lexical = LexicalIndex(self.path, self.manifest.lexical, self.manifest.count)
        return self._lexical

    def _lexical_hits(self, text: str, k: int, allowed: np.ndarray | None, documents: bool) -> list[Hit]:
        """The `k` allowed rows (or documents, by their best chunk) with the highest BM25 scores above 0."""
        scores = self._lexical_index().scores(text)
        found = scores > 0 if allowed is None else (scores > 0) & allowed
        rows = np.flatnonzero(found)
        rows = rows[np.lexsort((rows, -scores[rows]))]
        if not documents:
            ids = self.segments.all_ids(self.manifest.id_kind)[rows[:k]].tolist()
            return [
                {"corpus_id": i, "score": float(scores[r]), "_row": int(r)} for i, r in zip(ids, rows[:k], strict=True)
            ]
        hits = self._best_chunks(scores[rows].tolist(), rows.tolist(), self._chunk_spans(), k, False)
        return [{**hit, "_row": hit["chunk"]["row"]} for hit in hits]

    def _dense_hits(self, queries, k, rescore, multiplier, allowed, documents: bool, expansion=None) -> list[list[Hit]]:
        """Dense hits that keep their row (`"_row"`), for fusion."""
        if documents:
            results = self._document_hits(queries, k, rescore, multiplier, False, allowed, expansion=expansion)
            return [[{**hit, "_row": hit["chunk"]["row"]} for hit in hits] for hits in results]
        values, positions = self._top_rows(queries, k, rescore, multiplier, allowed, expansion=expansion)
        hits = self._hits(values, positions, False)
        for row_hits, row_positions in zip(hits, positions.tolist(), strict=True):
            for hit, position in zip(row_hits, row_positions, strict=True):
                hit["_row"] = position
        return hits

    def _top_rows(
        self,
        queries: np.ndarray,
        k: int,
        rescore: bool,
        multiplier: int,
        allowed: np.ndarray | None,
        exact: bool = False,
        expansion: int | None = None,
    ):
        """Scores and positions of the best allowed rows: from the approximate index's candidates (searched with
        `expansion`, or the index's setting) when the store has one (and not `exact`), else by scanning the rows."""
        if self.manifest.index is not None and not exact:
            found = ann_top_rows(self._ann_index(), self.segments, queries, k, multiplier, allowed, expansion)
            if found is not None:
                return found
        ranges = self._ranges()
        return search_segments(self.segments, queries, self.precision, ranges, k, rescore, multiplier, allowed)

    def _document_hits(
        self,
        queries: np.ndarray,
        top_k: int,
        rescore: bool,
        multiplier: int,
        return_texts: bool,
        allowed: np.ndarray | None,
        exact: bool = False,
        expansion: int | None = None,
    ) -> list[list[Hit]]:
        """The best chunk of each of the `top_k` best documents, widening the chunk search until it has found
        `top_k` documents per query (or every allowed row)."""
        spans = self._chunk_spans()
        available = self.manifest.count if allowed is None else int(allowed.sum())
        width = min(available, top_k * CHUNK_CANDIDATES_PER_HIT)
        while True:
            values, positions = self._top_rows(queries, width, rescore, multiplier, allowed, exact, expansion)
            results = [
                self._best_chunks(row_values, row_positions, spans, top_k, return_texts)
                for row_values, row_positions in zip(values.tolist(), positions.tolist(), strict=True)
            ]
            if width >= available or all(len(hits) >= top_k for hits in results):
                return results
            width = min(available, width * 4)

    def _best_chunks(self, values, positions, spans, top_k: int, return_texts: bool) -> list[Hit]:
        hits: dict[Any, Hit] = {}
        for score, position in zip(values, positions, strict=True):
            document, start, end = spans[position]
            if document in hits:
                continue
            hits[document] = {
                "corpus_id": document,
                "score": score,
                "chunk": {"row": position, "start": start, "end": end},
            }
            if return_texts:
                hits[document]["text"] = self.get_text(position)
            if len(hits) == top_k:
                break
        return list(hits.values())

    def _chunk_spans(self) -> list[tuple[Any, int, int]]:
        """(document id, start, end) of every chunk row, read once from the stored records."""
        if self._spans is None or len(self._spans) != self.manifest.count:
            self._spans = self.segments.chunk_spans()
        return self._spans

    def _queries(self, queries: Any, model: EncoderModel | None) -> np.ndarray:
        """Float32 query matrix, encoded with the store's model when texts are given, checked against the store."""
        if model is not None:
            self.check_model(model)
        if isinstance(queries, str) or (isinstance(queries, list) and queries and isinstance(queries[0], str)):
            texts = [queries] if isinstance(queries, str) else check_text_list(queries, "queries")
            return building.encode_for_store(model if model is not None else self.model(), self.manifest, texts)
        array = array_matrix(queries, "query embeddings")
        if array.shape[1] != self.dim:
            raise ValueError(
                f"query embeddings {array.shape} do not match the store's embeddings ({self.count}, {self.dim})"
            )
        return array

    def _hits(self, values: torch.Tensor, positions: torch.Tensor, return_texts: bool) -> list[list[Hit]]:
        hits = hits_from_top_k(values, self.segments.all_ids(self.manifest.id_kind)[positions.numpy()])
        if return_texts:
            for row_hits, row_positions in zip(hits, positions.tolist(), strict=True):
                for hit, position in zip(row_hits, row_positions, strict=True):
                    hit["text"] = self.get_text(position)
        return hits


def check_calibration_rows(rows: int) -> None:
    """Refuse to fix an int8 store's ranges from too few rows: they would cut most later rows to the end buckets."""
    if rows < MIN_CALIBRATION_ROWS:
        raise ValueError(
            f"an int8 store fixes its ranges from the first rows it is given, and {rows} rows are too few "
            f"(at least {MIN_CALIBRATION_ROWS}); add more rows at once, or pass calibration_embeddings to "
            "EmbeddingStore.create"
        )
