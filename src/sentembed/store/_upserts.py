"""The rows an upsert writes: its embeddings (given, or encoded from the texts), ids and records; for a chunked
store, the documents' chunks, split as the store's build split them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sentembed.common.checks import array_matrix, check_text_list
from sentembed.common.protocols import EncoderModel
from sentembed.store import _build as building
from sentembed.store._segments import make_records


@dataclass
class UpsertRows:
    """Rows to store: embeddings, records, and their ids (None for a chunked store, whose rows get new row ids
    and carry their document's id in their metadata)."""

    embeddings: np.ndarray
    records: list[dict] | None
    ids: np.ndarray | None


def upsert_rows(
    store: Any,
    ids: np.ndarray,
    texts: Sequence[str] | None,
    embeddings: Any,
    metadata,
    model: str | EncoderModel | None,
) -> UpsertRows:
    """Check an upsert's arguments against each other and the store, and make its rows."""
    if texts is None and embeddings is None:
        raise ValueError("upsert needs texts (to encode) or embeddings for the rows")
    if metadata is not None and len(metadata) != len(ids):
        raise ValueError(f"got {len(metadata)} metadata for {len(ids)} ids")
    if store.manifest.chunking is not None:
        return _chunk_rows(store, ids, texts, embeddings, metadata, model)
    if embeddings is None:
        texts = check_text_list(texts, "texts")
        embeddings = building.encode_for_store(_model(store, model), store.manifest, texts)
    embeddings = array_matrix(embeddings, "embeddings")
    if len(embeddings) != len(ids):
        raise ValueError(f"got {len(embeddings)} embeddings for {len(ids)} ids")
    if embeddings.shape[1] != store.dim:
        raise ValueError(f"embeddings {embeddings.shape} do not match this store's dimension {store.dim}")
    return UpsertRows(embeddings, make_records(texts, metadata, len(ids)), ids)


def _chunk_rows(
    store: Any, ids: np.ndarray, texts, embeddings, metadata, model: str | EncoderModel | None
) -> UpsertRows:
    """The chunks of each document, with the chunking, prompt and model the store was built with."""
    if embeddings is not None or texts is None:
        raise ValueError("a chunked store splits texts into chunks itself: upsert texts, not embeddings")
    texts = check_text_list(texts, "texts")
    if len(texts) != len(ids):
        raise ValueError(f"got {len(texts)} texts for {len(ids)} ids")
    model_object = _model(store, model)
    chunking = store.manifest.chunking
    options = building.BuildOptions(chunk_tokens=chunking["chunk_tokens"], chunk_overlap=chunking["overlap"])
    rows = building.CorpusRows.of(texts, ids, metadata, model_object, options, store.manifest.prompt)
    vectors = building.encode_for_store(model_object, store.manifest, rows.texts)
    return UpsertRows(vectors, make_records(rows.texts, rows.metadata, len(rows.texts)), None)


def _model(store: Any, model: str | EncoderModel | None) -> EncoderModel:
    """The model to encode with: the one given (checked against the store's fingerprint) or the store's own."""
    if model is None:
        return store.model()
    model_object = building.load_model(model)
    store.check_model(model_object)
    return model_object
