"""`EmbeddingCache`: vectors in a SQLite file (WAL mode), stored as raw bytes with their dtype and shape.

Nothing is pickled. Several processes may read and write one file at once (SQLite serialises the writers).
With `max_bytes`, the least recently used entries are evicted to stay under it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sentembed.cache._fingerprint import model_fingerprint
from sentembed.common.checks import check_positive_int
from sentembed.common.errors import CacheDamagedError, CacheError

FORMAT = "sentembed-embedding-cache"
VERSION = 1
BUSY_TIMEOUT_S = 60.0
# SQLite allows this many parameters per statement on every build we support.
KEYS_PER_QUERY = 900
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    key BLOB PRIMARY KEY, dtype TEXT NOT NULL, shape TEXT NOT NULL, data BLOB NOT NULL,
    size INTEGER NOT NULL, last_used INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_use ON entries (last_used);
"""
DTYPES = {"float32": np.float32, "float16": np.float16, "float64": np.float64, "bfloat16": np.int16}


def entry_keys(parts: dict[str, Any], texts: Sequence[str]) -> list[bytes]:
    """SHA-256 over everything that changes a stored vector (model fingerprint, prompt, ...) and each text."""
    prefix = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8") + b"\x00")
    keys = []
    for text in texts:
        digest = prefix.copy()
        digest.update(text.encode("utf-8"))
        keys.append(digest.digest())
    return keys


def _to_bytes(tensor: torch.Tensor) -> tuple[str, str, bytes]:
    tensor = tensor.detach().cpu().contiguous()
    dtype = str(tensor.dtype).removeprefix("torch.")
    if dtype not in DTYPES:
        raise TypeError(f"the cache stores float tensors, got {tensor.dtype}")
    array = tensor.view(torch.int16).numpy() if dtype == "bfloat16" else tensor.numpy()
    return dtype, json.dumps(list(array.shape)), array.tobytes()


def _from_bytes(dtype: str, shape: str, data: bytes, path: Path) -> torch.Tensor:
    dims = json.loads(shape)
    if dtype not in DTYPES or np.dtype(DTYPES[dtype]).itemsize * int(np.prod(dims)) != len(data):
        raise CacheDamagedError(
            f"{path} holds a damaged entry ({dtype}, shape {dims}, {len(data)} bytes); clear the cache"
        )
    tensor = torch.from_numpy(np.frombuffer(data, dtype=DTYPES[dtype]).reshape(dims).copy())
    return tensor.view(torch.bfloat16) if dtype == "bfloat16" else tensor


class EmbeddingCache:
    """Embeddings on disk, looked up by `entry_key`; `model.encode(texts, cache=cache)` uses it.

    `path` is a file (created if missing). A file that is damaged, truncated or not a sentembed cache is a
    CacheDamagedError (an OSError), unless `rebuild=True`, which replaces it with an empty cache. With `model`,
    the file is bound to that model: opening it for another model, or encoding with another model through it,
    is a ValueError.

    Args:
        path: The SQLite file (created if missing, its folder too).
        max_bytes: The most bytes of vectors to keep; past it, the least recently used entries are evicted.
            Default None: no limit.
        rebuild: Replace a damaged or foreign file (or one bound to another `model`) with an empty cache.
            Default False.
        model: Bind the file to this model (a SentenceTransformer). Default None: unbound, any model may use
            it, each under its own keys.

    Raises:
        ValueError: A `max_bytes` that is not a positive int, or a file bound to another model.
        CacheDamagedError: A damaged file or one that is not a sentembed cache, without `rebuild` (an OSError).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        max_bytes: int | None = None,
        rebuild: bool = False,
        model: torch.nn.Module | None = None,
    ) -> None:
        self.path = Path(path)
        self.max_bytes = check_positive_int(max_bytes, "max_bytes", optional=True)
        self.hits = self.misses = 0
        self._check_path()
        try:
            self._connection = self._open()
        except OSError:
            if not rebuild:
                raise
            self._remove_files()
            self._connection = self._open()
        self.model_fingerprint = self._bound()
        if model is not None:
            fingerprint = model_fingerprint(model)
            if rebuild and self.model_fingerprint not in (None, fingerprint):
                self._unbind()
            self.model_fingerprint = self._bind(fingerprint)

    # ----- opening ------------------------------------------------------------------------------------

    def _check_path(self) -> None:
        if self.path.is_dir():
            raise CacheError(f"cache path {self.path} is a folder; give a file name such as {self.path / 'cache.db'}")
        if self.path.exists() and not os.access(self.path, os.W_OK):
            raise CacheError(f"cache file {self.path} is read-only; the cache needs to write to it")
        if not self.path.parent.is_dir():
            raise CacheError(f"the folder of cache file {self.path} does not exist")

    def _open(self) -> sqlite3.Connection:
        """Connect, check (or write) the format marker, and run SQLite's quick integrity check."""
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._check_format(connection)
            if connection.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("PRAGMA quick_check failed")
        except sqlite3.DatabaseError as error:
            connection.close()
            raise CacheDamagedError(
                f"{self.path} is damaged or is not a sentembed embedding cache ({error})"
            ) from error
        return connection

    def _check_format(self, connection: sqlite3.Connection) -> None:
        with self._transaction(connection):
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and not {"meta", "entries"} <= tables:
                raise sqlite3.DatabaseError(f"it holds other tables: {sorted(tables)}")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            marker = dict(connection.execute("SELECT name, value FROM meta").fetchall())
            if not marker:
                connection.executemany(
                    "INSERT INTO meta VALUES (?, ?)", [("format", FORMAT), ("version", str(VERSION))]
                )
            elif marker.get("format") != FORMAT or marker.get("version") != str(VERSION):
                raise sqlite3.DatabaseError(f"its marker says {marker}")

    def _bound(self) -> str | None:
        rows = self._execute("SELECT value FROM meta WHERE name = 'model'")
        return rows[0][0] if rows else None

    def _bind(self, fingerprint: str) -> str:
        """Record the model this file serves, refusing a file made for another."""
        if self._bound() is None:
            with self._guarded(), self._transaction(self._connection):
                self._connection.execute("INSERT OR IGNORE INTO meta VALUES ('model', ?)", (fingerprint,))
        self.check_model(fingerprint, self._bound())
        return fingerprint

    def _unbind(self) -> None:
        """Forget the model this file was bound to, and its entries."""
        with self._guarded(), self._transaction(self._connection):
            self._connection.execute("DELETE FROM entries")
            self._connection.execute("DELETE FROM meta WHERE name = 'model'")

    def check_model(self, fingerprint: str, bound: str | None = None) -> None:
        """Refuse a model other than the one this cache is bound to (any model when it is bound to none).

        Args:
            fingerprint: The model's `model_fingerprint`.
            bound: The fingerprint to compare with. Default None: the one the file is bound to.

        Raises:
            ValueError: Another model than the bound one.
        """
        bound = bound if bound is not None else getattr(self, "model_fingerprint", None)
        if bound is not None and fingerprint != bound:
            raise ValueError(
                f"the cache {self.path} is bound to another model (fingerprint {bound[:12]}..., this one is "
                f"{fingerprint[:12]}...); use another file, or open it with rebuild=True to start it afresh"
            )

    def _remove_files(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    @staticmethod
    @contextmanager
    def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    # ----- reading and writing ------------------------------------------------------------------------

    def get_many(self, keys: Sequence[bytes]) -> dict[int, torch.Tensor]:
        """Look up vectors (and count hits and misses).

        Args:
            keys: Entry keys from `entry_keys`.

        Returns:
            The cached tensors, by position in `keys`; missing keys are absent.

        Raises:
            CacheError: SQLite could not read the file (an OSError; CacheDamagedError when it is damaged).
        """
        positions: dict[bytes, list[int]] = {}
        for position, key in enumerate(keys):
            positions.setdefault(key, []).append(position)
        found: dict[int, torch.Tensor] = {}
        unique = list(positions)
        for start in range(0, len(unique), KEYS_PER_QUERY):
            chunk = unique[start : start + KEYS_PER_QUERY]
            query = f"SELECT key, dtype, shape, data FROM entries WHERE key IN ({','.join('?' * len(chunk))})"
            for key, dtype, shape, data in self._execute(query, chunk):
                tensor = _from_bytes(dtype, shape, data, self.path)
                for position in positions[bytes(key)]:
                    found[position] = tensor
        if self.max_bytes is not None and found:
            self._touch([keys[position] for position in found])
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    def put_many(self, keys: Sequence[bytes], tensors: Sequence[torch.Tensor]) -> None:
        """Store tensors under their keys in one transaction, then evict the least recently used past max_bytes.

        Args:
            keys: Entry keys from `entry_keys`.
            tensors: One tensor per key.

        Raises:
            CacheError: SQLite could not write the file (an OSError; CacheDamagedError when it is damaged).
        """
        now = time.time_ns()
        rows = []
        for key, tensor in zip(keys, tensors, strict=True):
            dtype, shape, data = _to_bytes(tensor)
            rows.append((key, dtype, shape, data, len(data), now))
        with self._guarded(), self._transaction(self._connection):
            self._connection.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?)", rows)
            if self.max_bytes is not None:
                self._evict()

    def _touch(self, keys: list[bytes]) -> None:
        now = time.time_ns()
        with self._guarded(), self._transaction(self._connection):
            self._connection.executemany("UPDATE entries SET last_used = ? WHERE key = ?", [(now, k) for k in keys])

    def _evict(self) -> None:
        total = self._connection.execute("SELECT COALESCE(SUM(size), 0) FROM entries").fetchone()[0]
        excess = total - self.max_bytes
        if excess <= 0:
            return
        doomed, freed = [], 0
        for key, size in self._connection.execute("SELECT key, size FROM entries ORDER BY last_used, key"):
            doomed.append((key,))
            freed += size
            if freed >= excess:
                break
        self._connection.executemany("DELETE FROM entries WHERE key = ?", doomed)

    def _execute(self, query: str, parameters: Sequence[Any] = ()) -> list[tuple]:
        with self._guarded():
            return self._connection.execute(query, parameters).fetchall()

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        """SQLite errors naming the file: a CacheError when SQLite could not do the work (the file is locked, the
        disk full), a CacheDamagedError when the file is damaged (both OSErrors)."""
        try:
            yield
        except sqlite3.DatabaseError as error:
            kind = CacheError if isinstance(error, sqlite3.OperationalError) else CacheDamagedError
            raise kind(f"embedding cache {self.path}: {error}") from error

    # ----- housekeeping -------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """What the cache holds and how well it served.

        Returns:
            {"path", "entries", "bytes", "max_bytes", "hits", "misses"}: entries and bytes on disk, and this
            object's hits and misses so far.
        """
        entries, size = self._execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM entries")[0]
        return {
            "path": str(self.path),
            "entries": entries,
            "bytes": size,
            "max_bytes": self.max_bytes,
            "hits": self.hits,
            "misses": self.misses,
        }

    def clear(self) -> None:
        """Remove every entry."""
        with self._guarded(), self._transaction(self._connection):
            self._connection.execute("DELETE FROM entries")

    def close(self) -> None:
        """Close the SQLite connection (the object also works as a context manager that closes it)."""
        self._connection.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("an EmbeddingCache cannot be sent to another process; open the same path there")
