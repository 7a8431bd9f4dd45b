"""A persistent, memory-mapped embedding store that searches a corpus without encoding it again."""

from sentembed.common.errors import StoreDamagedError, StoreError
from sentembed.store.store import EmbeddingStore

__all__ = ["EmbeddingStore", "StoreDamagedError", "StoreError"]
