"""Building a store from texts: loading the model, encoding in committed segments, and resuming."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from sentembed.chunking import Chunking
from sentembed.common.checks import check_positive_int, check_text_list, resolve_prompt
from sentembed.common.protocols import EncoderModel
from sentembed.sentence_transformer import SentenceTransformer
from sentembed.store._manifest import MANIFEST_FILE, Manifest, model_fingerprint, model_name, same_fingerprint
from sentembed.store._segments import check_ids, text_hashes

logger = logging.getLogger(__name__)


def load_model(model: str | EncoderModel) -> EncoderModel:
    """A model object: loaded when given by name, checked to have `encode` when given as an object."""
    if isinstance(model, str):
        return SentenceTransformer(model)
    if not hasattr(model, "encode"):
        raise TypeError(f"model must be a SentenceTransformer or a model name, got {type(model).__name__}")
    return model


def encode_for_store(
    model: EncoderModel, manifest: Manifest, texts: list[str], batch_size: int = 32, cache: Any = None
) -> np.ndarray:
    """Float32 embeddings of texts, with the prompt and normalisation the store was built with."""
    options = {"cache": cache} if cache is not None else {}
    embeddings = model.encode(
        texts, batch_size=batch_size, prompt=manifest.prompt, normalize_embeddings=manifest.normalized,
        convert_to_numpy=True, show_progress_bar=False, **options,
    )  # fmt: skip
    return np.asarray(embeddings, dtype=np.float32)


def check_model(manifest: Manifest, model: EncoderModel | None) -> None:
    """Refuse a model whose embeddings differ from the ones the store was built with."""
    if model is None or manifest.fingerprint is None:
        return
    fingerprint = model_fingerprint(model, manifest.prompt, manifest.normalized)
    if not same_fingerprint(fingerprint, manifest.fingerprint):
        raise ValueError(
            f"this model's embeddings differ from those in the store (built with {manifest.model!r}); "
            "encode queries with the store's model"
        )


@dataclass(frozen=True)
class BuildOptions:
    """How `EmbeddingStore.build` encodes and stores a corpus."""

    precision: str = "float32"
    batch_size: int = 32
    normalize_embeddings: bool = True
    prompt: str | None = None
    prompt_name: str | None = None
    segment_size: int = 4096
    show_progress_bar: bool = True
    chunk_tokens: int | None = None
    chunk_overlap: int = 0
    cache: Any = None
    lexical: bool = False
    index: str | None = None


@dataclass
class CorpusRows:
    """What the store's rows hold: one per text, or with chunking one per chunk (its document id, character
    offsets and the document's metadata in the row's metadata)."""

    texts: list[str]
    ids: np.ndarray | None
    metadata: list[Any] | None
    chunking: dict[str, Any] | None = None

    @classmethod
    def of(cls, texts, ids, metadata, model: EncoderModel, options: BuildOptions, prompt: str | None) -> CorpusRows:
        if options.chunk_tokens is None:
            return cls(texts, ids, None if metadata is None else list(metadata))
        settings = Chunking(options.chunk_tokens, options.chunk_overlap).for_model(model, prompt)
        rows_texts, rows_metadata = [], []
        for document, chunks in enumerate(settings.split(texts, model.tokenizer)):
            for chunk in chunks:
                rows_texts.append(chunk.text)
                rows_metadata.append({
                    "document": document if ids is None else ids[document].item(),
                    "start": chunk.start,
                    "end": chunk.end,
                    "metadata": None if metadata is None else metadata[document],
                })  # fmt: skip
        chunking = {"chunk_tokens": settings.chunk_tokens, "overlap": settings.overlap}
        return cls(rows_texts, None, rows_metadata, chunking)


@dataclass
class PreparedBuild:
    """A build ready to encode: the store (new, or resumed with its rows checked against the input), the model
    object, and the rows to store; rows from `store.count` on are still to be encoded."""

    store: Any
    model: EncoderModel
    rows: CorpusRows


def prepare_build(
    store_class: type, path: Path, model: str | EncoderModel, texts: Sequence[str], ids, metadata, options
) -> PreparedBuild:
    """Check the input, load the model, and open the store to resume (refusing one built from other rows or
    settings) or create an empty one."""
    check_positive_int(options.segment_size, "segment_size")
    texts = check_text_list(texts, "texts")
    ids = check_ids(ids, len(texts))
    if metadata is not None and len(metadata) != len(texts):
        raise ValueError(f"got {len(metadata)} metadata for {len(texts)} texts")
    model_object = load_model(model)
    prompt = resolve_prompt(getattr(model_object, "prompts", {}), options.prompt, options.prompt_name)
    rows = CorpusRows.of(texts, ids, metadata, model_object, options, prompt)
    store = _resume_or_empty(store_class, path, model, model_object, options, prompt, rows)
    _check_resumable(store, rows.ids, rows.texts)
    return PreparedBuild(store, model_object, rows)


def build_store(
    store_class: type, path: Path, model: str | EncoderModel, texts: Sequence[str], ids, metadata, options
) -> Any:
    """Encode `texts` and add them one committed segment at a time, after the rows a previous run stored."""
    build = prepare_build(store_class, path, model, texts, ids, metadata, options)
    store, model_object, rows, segment_size = build.store, build.model, build.rows, options.segment_size
    done = store.count
    piece = max(options.batch_size * 8, 256)
    total = len(rows.texts)
    with tqdm(total=total, initial=done, desc="Building store", disable=not options.show_progress_bar) as progress:
        for start in range(done, total, segment_size):
            stop = min(start + segment_size, total)
            vectors = []
            for piece_start in range(start, stop, piece):
                piece_texts = rows.texts[piece_start : min(piece_start + piece, stop)]
                vectors.append(
                    encode_for_store(model_object, store.manifest, piece_texts, options.batch_size, options.cache)
                )
                progress.update(len(piece_texts))
            commit_rows(store, rows, start, np.concatenate(vectors))
    if options.lexical and store.manifest.lexical is None:
        store.build_lexical_index()
    if options.index is not None and store.manifest.index is None:
        store.build_index(options.index)
    return store


def commit_rows(store: Any, rows: CorpusRows, start: int, embeddings: np.ndarray) -> None:
    """Add the embeddings of rows `start`.. (as many as given) to the store as one segment, with their ids,
    texts and metadata."""
    stop = start + len(embeddings)
    store.add(
        embeddings,
        ids=None if rows.ids is None else rows.ids[start:stop],
        texts=rows.texts[start:stop],
        metadata=None if rows.metadata is None else rows.metadata[start:stop],
    )


def _resume_or_empty(store_class, path, model, model_object, options, prompt, rows) -> Any:
    """The store to resume, or a new one (also in place of one that an earlier attempt left without rows)."""
    settings = (options.precision, options.normalize_embeddings, prompt, rows.chunking)
    manifest = Manifest.read(path) if (path / MANIFEST_FILE).exists() else None
    if manifest is None or not manifest.segments:
        dim = model_object.get_embedding_dimension()
        return store_class.empty(
            path, dim, model_name(model), model_object, options.precision, options.normalize_embeddings, prompt,
            rows.ids, rows.chunking,
        )  # fmt: skip
    store = store_class(path, manifest)
    if (manifest.precision, manifest.normalized, manifest.prompt, manifest.chunking) != settings:
        raise ValueError(
            f"{path} was built with precision={manifest.precision!r}, normalize_embeddings={manifest.normalized}, "
            f"prompt={manifest.prompt!r}, chunking={manifest.chunking}; resume with the same settings or use "
            "another folder"
        )
    check_model(manifest, model_object)
    logger.info("resuming the store at %s after %d stored rows", path, store.count)
    return store


def _check_resumable(store: Any, ids: np.ndarray | None, texts: list[str]) -> None:
    """Refuse to resume unless the stored rows are the first rows of this input: the same ids and texts."""
    if store.manifest.deleted is not None:
        raise ValueError(f"{store.path} has deleted rows, so a build cannot resume it; build into a new folder")
    done = store.count
    if done > len(texts):
        raise ValueError(f"the store already holds {done} rows, more than the {len(texts)} texts given")
    expected = np.arange(done, dtype=np.int64) if ids is None else ids[:done]
    if not np.array_equal(store.ids, expected):
        raise ValueError(f"{store.path} holds other ids than the first {done} given; it is not this build's store")
    stored = store.segments.stored_hashes(done)
    if stored is None:
        raise ValueError(
            f"{store.path} holds rows added without their texts, so a build cannot check them against its input; "
            "build into a new folder"
        )
    differing = np.flatnonzero((stored != text_hashes(texts[:done])).any(axis=1))
    if differing.size:
        row = int(differing[0])
        raise ValueError(
            f"{store.path}: stored row {row} holds another text than texts[{row}] ({texts[row][:80]!r}); the input "
            "changed since the store was built, so resuming would mix two corpora. Build into a new folder"
        )
