"""An on-disk cache of embeddings keyed by model, options and text, so that the same texts are encoded once.

`entry_keys`, imported as `name as name` and left out of `__all__`, is for the bi-encoder and the server, which
key their lookups as the cache does, not for users.
"""

from sentembed.cache._fingerprint import model_fingerprint
from sentembed.cache._sqlite import EmbeddingCache
from sentembed.cache._sqlite import entry_keys as entry_keys
from sentembed.common.errors import CacheDamagedError, CacheError

__all__ = ["CacheDamagedError", "CacheError", "EmbeddingCache", "model_fingerprint"]
