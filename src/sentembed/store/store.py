"""`EmbeddingStore`: a corpus's embeddings on disk, memory-mapped, searchable without encoding it again.

A store folder holds manifest.json (model, dimension, normalisation, prompt, precision, segments) and, per
segment, `<n>.float32.npy`, optionally `<n>.int8.npy` or `<n>.ubinary.npy`, `<n>.ids.npy`, and optionally
`<n>.texts.jsonl` with `<n>.offsets.npy`. Segment files are complete before the manifest names them, and the
manifest is replaced atomically, so an interrupted write leaves the previous store intact.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from sentembed.quantization.quantize import quantize_embeddings, scalar_ranges
from sentembed.search.topk import check_positive
from sentembed.store import scoring
from sentembed.store.files import load_array, read_line, save_array, save_lines
from sentembed.store.manifest import (
    STORE_PRECISIONS,
    Manifest,
    Segment,
    model_fingerprint,
    model_name,
    same_fingerprint,
)

logger = logging.getLogger(__name__)

Hit = dict[str, Any]
IdList = Sequence[int] | Sequence[str]


class EmbeddingStore:
    """A folder of embeddings (float32, plus int8 or ubinary if asked) with ids, texts and metadata."""

    def __init__(self, path: Path, manifest: Manifest) -> None:
        self.path = path
        self.manifest = manifest
        self._model: Any = None
        self._float: list[np.ndarray] = []
        self._quantized: list[np.ndarray] = []
        self._ids: list[np.ndarray] = []
        for segment in manifest.segments:
            self._map_segment(segment)

    # ----- creating and opening ---------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        embeddings: Any,
        ids: IdList | None = None,
        texts: Sequence[str] | None = None,
        model: Any = None,
        precision: str = "float32",
        metadata: Sequence[dict] | None = None,
        normalized: bool | None = None,
        prompt: str | None = None,
        calibration_embeddings: Any = None,
    ) -> EmbeddingStore:
        """Write a new store at `path` from embeddings already computed; `model` (object or name) is recorded."""
        embeddings = _float_matrix(embeddings, "embeddings")
        if normalized is None:
            squared_norms = np.einsum("ij,ij->i", embeddings, embeddings)  # no (n, dim) temporary
            normalized = bool(len(embeddings)) and bool(np.allclose(squared_norms, 1, atol=2e-3))
        model_object = None if model is None or isinstance(model, str) else _load_model(model)
        name = model_name(model)
        store = cls._empty(path, embeddings.shape[1], name, model_object, precision, normalized, prompt, _id_kind(ids))
        if calibration_embeddings is not None:
            store._set_ranges(_float_matrix(calibration_embeddings, "calibration_embeddings"))
        store.add(embeddings, ids=ids, texts=texts, metadata=metadata)
        return store

    @classmethod
    def build(
        cls,
        path: str | Path,
        model: Any,
        texts: Sequence[str],
        ids: IdList | None = None,
        metadata: Sequence[dict] | None = None,
        precision: str = "float32",
        batch_size: int = 32,
        normalize_embeddings: bool = True,
        prompt: str | None = None,
        prompt_name: str | None = None,
        segment_size: int = 4096,
        show_progress_bar: bool = True,
    ) -> EmbeddingStore:
        """Encode `texts` with `model` and store them, one committed segment at a time.

        Run it again with the same arguments after an interruption and it resumes: rows already in the
        store are checked against `ids` and never encoded again.
        """
        check_positive(segment_size, "segment_size")
        texts = _check_texts(texts)
        ids = _check_ids(ids, len(texts))
        model_object = _load_model(model)
        prompt = _resolve_prompt(model_object, prompt, prompt_name)
        store = cls._resume_or_empty(Path(path), model, model_object, precision, normalize_embeddings, prompt, ids)
        done = store.count
        store._check_resumable_ids(ids, len(texts))
        piece = max(batch_size * 8, 256)
        with tqdm(total=len(texts), initial=done, desc="Building store", disable=not show_progress_bar) as progress:
            for start in range(done, len(texts), segment_size):
                stop = min(start + segment_size, len(texts))
                vectors = []
                for piece_start in range(start, stop, piece):
                    piece_texts = texts[piece_start : min(piece_start + piece, stop)]
                    vectors.append(store._encode(model_object, piece_texts, batch_size))
                    progress.update(len(piece_texts))
                store.add(
                    np.concatenate(vectors),
                    ids=None if ids is None else ids[start:stop],
                    texts=texts[start:stop],
                    metadata=None if metadata is None else metadata[start:stop],
                )
        return store

    @classmethod
    def open(cls, path: str | Path) -> EmbeddingStore:
        """Memory-map an existing store; nothing is read into memory until it is searched."""
        path = Path(path)
        return cls(path, Manifest.read(path))

    @classmethod
    def _empty(cls, path, dim, name, model, precision, normalized, prompt, id_kind) -> EmbeddingStore:
        if precision not in STORE_PRECISIONS:
            raise ValueError(f"unknown store precision {precision!r}; expected one of {list(STORE_PRECISIONS)}")
        path = Path(path)
        if (path / "manifest.json").exists():
            raise OSError(f"{path} already holds an embedding store; open it and add(), or choose another folder")
        path.mkdir(parents=True, exist_ok=True)
        fingerprint = model_fingerprint(model, prompt, normalized) if model is not None else None
        manifest = Manifest(dim, precision, name, fingerprint, normalized, prompt, id_kind)
        manifest.save(path)
        return cls(path, manifest)

    @classmethod
    def _resume_or_empty(cls, path, model, model_object, precision, normalized, prompt, ids) -> EmbeddingStore:
        if not (path / "manifest.json").exists():
            dim = model_object.get_sentence_embedding_dimension()
            name = model_name(model)
            return cls._empty(path, dim, name, model_object, precision, normalized, prompt, _id_kind(ids))
        store = cls.open(path)
        manifest = store.manifest
        if (manifest.precision, manifest.normalized, manifest.prompt) != (precision, normalized, prompt):
            raise ValueError(
                f"{path} was built with precision={manifest.precision!r}, normalize_embeddings={manifest.normalized}, "
                f"prompt={manifest.prompt!r}; resume with the same settings or use another folder"
            )
        store.check_model(model_object)
        logger.info("resuming the store at %s after %d stored rows", path, store.count)
        return store

    # ----- properties ---------------------------------------------------------------------------

    @property
    def count(self) -> int:
        return self.manifest.count

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
        """All stored ids, in storage order."""
        if not self._ids:
            return np.empty(0, dtype=np.int64 if self.manifest.id_kind == "int" else str)
        return np.concatenate(self._ids)

    def embeddings(self) -> np.ndarray:
        """All float32 embeddings as one array (this reads them into memory)."""
        if not self._float:
            return np.empty((0, self.dim), dtype=np.float32)
        return np.concatenate(self._float)

    def get_text(self, position: int) -> str | None:
        """The stored text of the row at `position`, or None when it was stored without text."""
        record = self._record(position)
        return None if record is None else record["text"]

    def get_metadata(self, position: int) -> dict | None:
        record = self._record(position)
        return None if record is None else record.get("metadata")

    # ----- writing -----------------------------------------------------------------------------

    def add(
        self,
        embeddings: Any,
        ids: IdList | None = None,
        texts: Sequence[str] | None = None,
        metadata: Sequence[dict] | None = None,
    ) -> None:
        """Append rows as one new segment; the store changes only once every file of it is on disk."""
        embeddings = _float_matrix(embeddings, "embeddings")
        if embeddings.shape[1] != self.dim:
            raise ValueError(f"embeddings {embeddings.shape} do not match this store's dimension {self.dim}")
        new_ids = self._new_ids(ids, len(embeddings))
        records = _records(texts, metadata, len(embeddings))
        if len(embeddings) == 0:
            return
        if self.precision == "int8" and self.manifest.ranges is None:
            self._set_ranges(embeddings)
        segment = Segment(f"{len(self.manifest.segments):06d}", len(embeddings), records is not None)
        prefix = self.path / segment.name
        save_array(Path(f"{prefix}.float32.npy"), embeddings)
        if self.precision != "float32":
            quantized = quantize_embeddings(embeddings, self.precision, ranges=self._ranges())
            save_array(Path(f"{prefix}.{self.precision}.npy"), quantized)
        save_array(Path(f"{prefix}.ids.npy"), new_ids)
        if records is not None:
            save_array(Path(f"{prefix}.offsets.npy"), save_lines(Path(f"{prefix}.texts.jsonl"), records))
        self.manifest.segments.append(segment)
        try:
            self.manifest.save(self.path)
        except BaseException:
            self.manifest.segments.pop()
            raise
        self._map_segment(segment)

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
            return np.arange(self.count, self.count + n, dtype=np.int64)
        array = _check_ids(ids, n)
        if _id_kind(ids) != self.manifest.id_kind and n:
            raise ValueError(f"this store has {self.manifest.id_kind} ids; got {_id_kind(ids)} ids")
        clash = np.isin(array, self.ids)
        if clash.any():
            raise ValueError(f"id {array[clash][0]!r} is already in the store; ids must be unique")
        return array

    def _check_resumable_ids(self, ids: np.ndarray | None, total: int) -> None:
        done = self.count
        if done > total:
            raise ValueError(f"the store already holds {done} rows, more than the {total} texts given")
        expected = np.arange(done, dtype=np.int64) if ids is None else ids[:done]
        if not np.array_equal(self.ids, expected):
            raise ValueError(f"{self.path} holds other ids than the first {done} given; it is not this build's store")

    def _map_segment(self, segment: Segment) -> None:
        prefix = self.path / segment.name
        self._float.append(load_array(Path(f"{prefix}.float32.npy")))
        if self.precision != "float32":
            self._quantized.append(load_array(Path(f"{prefix}.{self.precision}.npy")))
        self._ids.append(load_array(Path(f"{prefix}.ids.npy")))
        for array in (self._float[-1], self._ids[-1]):
            if len(array) != segment.count:
                raise OSError(f"{prefix} holds {len(array)} rows but the manifest says {segment.count}")

    def _record(self, position: int) -> dict | None:
        segment_index, row = self._locate(position)
        segment = self.manifest.segments[segment_index]
        if not segment.has_texts:
            return None
        prefix = self.path / segment.name
        offsets = load_array(Path(f"{prefix}.offsets.npy"))
        return read_line(Path(f"{prefix}.texts.jsonl"), int(offsets[row]))

    def _locate(self, position: int) -> tuple[int, int]:
        if not 0 <= position < self.count:
            raise IndexError(f"position {position} is outside the store (0..{self.count - 1})")
        ends = np.cumsum([segment.count for segment in self.manifest.segments])
        segment_index = int(np.searchsorted(ends, position, side="right"))
        start = 0 if segment_index == 0 else int(ends[segment_index - 1])
        return segment_index, position - start

    # ----- models ------------------------------------------------------------------------------

    def check_model(self, model: Any) -> None:
        """Refuse a model whose embeddings differ from the ones this store was built with."""
        if model is None or self.manifest.fingerprint is None:
            return
        fingerprint = model_fingerprint(model, self.manifest.prompt, self.manifest.normalized)
        if not same_fingerprint(fingerprint, self.manifest.fingerprint):
            raise ValueError(
                f"this model's embeddings differ from those in the store (built with {self.manifest.model!r}); "
                "encode queries with the store's model"
            )

    def model(self) -> Any:
        """The store's model, loaded once from the name in the manifest."""
        if self._model is None:
            if self.manifest.model is None:
                raise ValueError("this store records no model name; pass model= to search with texts")
            self._model = _load_model(self.manifest.model)
            self.check_model(self._model)
        return self._model

    def _encode(self, model: Any, texts: list[str], batch_size: int = 32) -> np.ndarray:
        embeddings = model.encode(
            texts, batch_size=batch_size, prompt=self.manifest.prompt, normalize_embeddings=self.manifest.normalized,
            convert_to_numpy=True, show_progress_bar=False,
        )  # fmt: skip
        return np.asarray(embeddings, dtype=np.float32)

    # ----- searching ---------------------------------------------------------------------------

    def search(
        self,
        query_embeddings_or_texts: Any,
        top_k: int = 10,
        rescore: bool = True,
        rescore_multiplier: int = 4,
        model: Any = None,
        return_texts: bool = False,
    ) -> list[list[Hit]]:
        """Per query, up to `top_k` hits `{"corpus_id": stored id, "score": cosine}`, best first.

        Quantized stores find `top_k * rescore_multiplier` candidates on the quantized vectors, then re-score
        them against the memory-mapped float32 vectors (`rescore=False` returns the quantized scores).
        """
        check_positive(top_k, "top_k")
        check_positive(rescore_multiplier, "rescore_multiplier")
        queries = self._queries(query_embeddings_or_texts, model)
        if self.count == 0 or len(queries) == 0:
            return [[] for _ in range(len(queries))]
        if self.precision == "float32":
            values, positions = scoring.float_top_k(torch.from_numpy(queries), self._float, top_k)
        else:
            values, positions = self._quantized_search(queries, top_k, rescore, rescore_multiplier)
        return self._hits(values, positions, return_texts)

    def _queries(self, queries: Any, model: Any) -> np.ndarray:
        """Float32 query matrix, encoded with the store's model when texts are given, checked against the store."""
        if isinstance(queries, str) or (isinstance(queries, list) and queries and isinstance(queries[0], str)):
            texts = [queries] if isinstance(queries, str) else _check_texts(queries)
            if model is not None:
                self.check_model(model)
            return self._encode(model if model is not None else self.model(), texts)
        if model is not None:
            self.check_model(model)
        array = _float_matrix(queries, "query embeddings")
        if array.shape[1] != self.dim:
            raise ValueError(
                f"query embeddings {array.shape} do not match the store's embeddings ({self.count}, {self.dim})"
            )
        return array

    def _quantized_search(self, queries: np.ndarray, top_k: int, rescore: bool, multiplier: int):
        quantized_queries = quantize_embeddings(queries, self.precision, ranges=self._ranges())
        width = top_k * multiplier if rescore else top_k
        values, candidates = scoring.quantized_top_k(quantized_queries, self._quantized, self.precision, width)
        if not rescore:
            return values, candidates
        candidates, _ = candidates.sort(dim=1)
        rows = self._float_rows(candidates.numpy())
        return scoring.rescore(queries, candidates, rows, top_k)

    def _float_rows(self, positions: np.ndarray) -> np.ndarray:
        """The float32 rows at store `positions` (any shape), read from the memory maps."""
        flat = positions.reshape(-1)
        rows = np.empty((len(flat), self.dim), dtype=np.float32)
        ends = np.cumsum([segment.count for segment in self.manifest.segments])
        segment_of = np.searchsorted(ends, flat, side="right")
        for segment_index in np.unique(segment_of):
            chosen = segment_of == segment_index
            start = 0 if segment_index == 0 else ends[segment_index - 1]
            rows[chosen] = self._float[segment_index][flat[chosen] - start]
        return rows.reshape(*positions.shape, self.dim)

    def _hits(self, values: torch.Tensor, positions: torch.Tensor, return_texts: bool) -> list[list[Hit]]:
        ids = self.ids
        results = []
        for row_values, row_positions in zip(values.tolist(), positions.tolist()):
            hits = []
            for score, position in zip(row_values, row_positions):
                hit: Hit = {"corpus_id": ids[position].item(), "score": score}
                if return_texts:
                    hit["text"] = self.get_text(position)
                hits.append(hit)
            results.append(hits)
        return results


def _float_matrix(embeddings: Any, name: str) -> np.ndarray:
    """A finite 2-D float32 numpy array (1-D becomes one row)."""
    if isinstance(embeddings, torch.Tensor):
        embeddings = embeddings.detach().cpu().numpy()
    array = np.atleast_2d(np.asarray(embeddings))
    if array.ndim != 2:
        raise ValueError(f"{name} must be 1-D or 2-D, got shape {array.shape}")
    if array.dtype.kind not in "fiu" or array.dtype in (np.int8, np.uint8):
        raise ValueError(f"{name} must be float embeddings, got dtype {array.dtype}")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contain NaN or inf (first at row {int(np.argwhere(~np.isfinite(array))[0][0])})")
    return array


def _check_texts(texts: Any) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(f"texts must be a list of strings, got {type(texts).__name__}")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{index}] must be a string, got {type(text).__name__}")
    return list(texts)


def _id_kind(ids: IdList | None) -> str:
    return "str" if ids is not None and len(ids) and isinstance(ids[0], str) else "int"


def _check_ids(ids: IdList | None, n: int) -> np.ndarray | None:
    """Ids as an int64 or str array: all ints or all strings, unique, one per row."""
    if ids is None:
        return None
    ids = list(ids)
    if len(ids) != n:
        raise ValueError(f"got {len(ids)} ids for {n} rows")
    kind = _id_kind(ids)
    for index, value in enumerate(ids):
        valid = isinstance(value, str) if kind == "str" else isinstance(value, (int, np.integer))
        if not valid or isinstance(value, bool):
            raise TypeError(f"ids[{index}] is {value!r}; ids must be all ints or all strings")
    array = np.asarray(ids, dtype=np.int64 if kind == "int" else str)
    unique, counts = np.unique(array, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"id {unique[counts > 1][0]!r} appears more than once; ids must be unique")
    return array


def _records(texts: Sequence[str] | None, metadata: Sequence[dict] | None, n: int) -> list[dict] | None:
    if texts is None and metadata is None:
        return None
    texts = _check_texts(texts) if texts is not None else [None] * n
    metadata = list(metadata) if metadata is not None else [None] * n
    for name, values in (("texts", texts), ("metadata", metadata)):
        if len(values) != n:
            raise ValueError(f"got {len(values)} {name} for {n} rows")
    return [{"text": text, "metadata": meta} for text, meta in zip(texts, metadata)]


def _load_model(model: Any) -> Any:
    if isinstance(model, str):
        from sentembed import SentenceTransformer

        return SentenceTransformer(model)
    if not hasattr(model, "encode"):
        raise TypeError(f"model must be a SentenceTransformer or a model name, got {type(model).__name__}")
    return model


def _resolve_prompt(model: Any, prompt: str | None, prompt_name: str | None) -> str | None:
    if prompt is not None or prompt_name is None:
        return prompt
    prompts = getattr(model, "prompts", {})
    if prompt_name not in prompts:
        raise ValueError(f"unknown prompt_name {prompt_name!r}; this model knows {sorted(prompts)}")
    return prompts[prompt_name]
