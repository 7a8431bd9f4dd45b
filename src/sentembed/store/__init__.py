"""A persistent, memory-mapped embedding store that searches a corpus without encoding it again."""

from sentembed.store.store import EmbeddingStore

__all__ = ["EmbeddingStore"]
