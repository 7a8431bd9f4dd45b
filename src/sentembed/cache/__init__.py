"""An on-disk cache of embeddings keyed by model, options and text, so that the same texts are encoded once."""

from sentembed.cache._fingerprint import model_fingerprint
from sentembed.cache.sqlite import EmbeddingCache
from sentembed.common.errors import CacheDamagedError, CacheError

__all__ = ["CacheDamagedError", "CacheError", "EmbeddingCache", "model_fingerprint"]
