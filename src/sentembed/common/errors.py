"""The errors sentembed's own features raise, under one base class, `SentembedError`.

Each error also derives from the built-in exception the feature raised before it had one, so code that catches
`OSError` or `RuntimeError` keeps working, and code that wants to tell "the store is damaged" apart from any
other `OSError` catches `StoreDamagedError`:

    SentembedError
        StoreError (OSError)            a folder is not an embedding store, already holds one, ...
            StoreDamagedError           a store's files differ from what its manifest committed
        CacheError (OSError)            an embedding cache file cannot be opened or written
            CacheDamagedError           a cache file or entry is damaged, or not a sentembed cache
        ServerError (OSError)           the server cannot start (its address cannot be listened on)
        WorkerError (RuntimeError)      a worker process failed or died: a pool, server or Ray worker

Argument checks stay plain `TypeError` / `ValueError`: they name the argument, and no caller needs to tell
them apart. The server's refusal of a request is `sentembed.server.ApiError`, also a `SentembedError`.
"""

from __future__ import annotations

__all__ = [
    "CacheDamagedError",
    "CacheError",
    "SentembedError",
    "ServerError",
    "StoreDamagedError",
    "StoreError",
    "WorkerError",
]


class SentembedError(Exception):
    """The base of every error sentembed's own features raise: `except SentembedError` catches them all."""


class StoreError(SentembedError, OSError):
    """An embedding store cannot be used as asked: the folder is not a store, already holds one, or a build
    cannot go on with what it finds there. Also an `OSError`."""


class StoreDamagedError(StoreError):
    """An embedding store's files are missing, or differ from what its manifest committed (size, checksum,
    shape, row count), or the manifest itself is damaged. `EmbeddingStore.verify()` finds it; rebuild the store
    (or the index the message names). Also an `OSError`."""


class CacheError(SentembedError, OSError):
    """An embedding cache file cannot be used: its path is a folder, it is read-only, its folder does not
    exist, or SQLite could not read or write it. Also an `OSError`."""


class CacheDamagedError(CacheError):
    """An embedding cache file is damaged or is not a sentembed cache, or an entry in it is damaged; clear the
    cache (or open it with `rebuild=True`). Also an `OSError`."""


class ServerError(SentembedError, OSError):
    """The server cannot start: its host and port cannot be listened on. Also an `OSError`."""


class WorkerError(SentembedError, RuntimeError):
    """A worker process failed or died, so the work it held could not be done: a multi-process pool worker
    (its traceback is in the message), a server worker, or a Ray worker. Also a `RuntimeError`."""
