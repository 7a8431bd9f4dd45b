"""The embedding store behind `POST /search`: opened once at start, checked against the served model."""

from __future__ import annotations

import threading
from typing import Any, Literal

from sentembed.sentence_transformer import SentenceTransformer
from sentembed.store import EmbeddingStore


class StoreSearcher:
    """An `EmbeddingStore` searched with the served model's query vectors, one search at a time.

    Args:
        path: the store folder.
        model: the served embedding model; a store built with another model is refused here, at start.
    """

    def __init__(self, path: str, model: SentenceTransformer) -> None:
        self.store = EmbeddingStore.open(path)
        self.store.check_model(model)
        self.model = model
        self._lock = threading.Lock()

    def search(
        self,
        queries: list[str],
        top_k: int,
        mode: Literal["dense", "lexical", "hybrid"],
        filter: dict[str, Any] | None,
        return_texts: bool,
    ) -> list[list[dict[str, Any]]]:
        """Per query, the store's hits (`EmbeddingStore.search` with these arguments; the store's own errors
        pass through). Searches take turns: each one reads the store's latest commit."""
        with self._lock:
            return self.store.search(
                queries, top_k=top_k, model=self.model, mode=mode, filter=filter, return_texts=return_texts
            )
