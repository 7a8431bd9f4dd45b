"""A persistent, memory-mapped embedding store that searches a corpus without encoding it again.

The names imported as `name as name` and left out of `__all__` are for the packages that build on the store (the
`index` command and `distributed`'s Ray build, which stages segments and commits them through the store's own
steps, and the server's metadata filter check), not for users.
"""

from sentembed.common.errors import StoreDamagedError, StoreError
from sentembed.store._build import BuildOptions as BuildOptions
from sentembed.store._build import PreparedBuild as PreparedBuild
from sentembed.store._build import commit_rows as commit_rows
from sentembed.store._build import encode_for_store as encode_for_store
from sentembed.store._build import prepare_build as prepare_build
from sentembed.store._filters import parse_filter as parse_filter
from sentembed.store._manifest import STORE_PRECISIONS as STORE_PRECISIONS
from sentembed.store._manifest import Manifest as Manifest
from sentembed.store._segments import text_hashes as text_hashes
from sentembed.store._store import EmbeddingStore

__all__ = ["EmbeddingStore", "StoreDamagedError", "StoreError"]
