"""sentembed.common.errors: each feature's failure, made for real, raises its class of the family and is still
caught as the built-in it replaced (docs/architecture.md, Errors)."""

from __future__ import annotations

import socket
import sqlite3

import numpy as np
import pytest
import torch

from sentembed import SentenceTransformer
from sentembed.cache import CacheDamagedError, CacheError, EmbeddingCache
from sentembed.common.errors import SentembedError
from sentembed.distributed import WorkerError
from sentembed.distributed._actors import describe_error, raise_worker_error
from sentembed.store import EmbeddingStore, StoreDamagedError, StoreError


def random_store(path):
    """A tiny store of random unit rows (no model: the damage is what is tested) and its float32 file."""
    rows = np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32)
    store = EmbeddingStore.create(path, rows / np.linalg.norm(rows, axis=1, keepdims=True))
    (floats,) = path.glob("*.float32.npy")
    return store, floats


def test_a_folder_without_a_store_and_a_second_create_are_store_errors(tmp_path):
    with pytest.raises(OSError, match="not an embedding store") as caught:
        EmbeddingStore.open(tmp_path)
    assert type(caught.value) is StoreError
    random_store(tmp_path / "store")
    with pytest.raises(OSError, match="already holds an embedding store") as caught:
        random_store(tmp_path / "store")
    assert type(caught.value) is StoreError


def test_a_damaged_store_is_a_store_damaged_error(tmp_path):
    store, floats = random_store(tmp_path / "store")
    data = bytearray(floats.read_bytes())
    data[-1] ^= 0xFF  # same size: only the checksum can tell
    floats.write_bytes(bytes(data))
    with pytest.raises(OSError, match="1 store files differ from what was committed") as caught:
        EmbeddingStore.open(store.path).verify()
    assert type(caught.value) is StoreDamagedError

    floats.write_bytes(bytes(data[:-4]))
    with pytest.raises(OSError, match=r"float32\.npy has \d+ bytes, but \d+ were committed") as caught:
        EmbeddingStore.open(store.path)
    assert type(caught.value) is StoreDamagedError

    (store.path / "manifest.json").write_text("{", encoding="utf-8")
    with pytest.raises(OSError, match=r"manifest\.json is not valid JSON") as caught:
        EmbeddingStore.open(store.path)
    assert type(caught.value) is StoreDamagedError


def test_a_cache_path_that_is_a_folder_is_a_cache_error(tmp_path):
    with pytest.raises(OSError, match="is a folder") as caught:
        EmbeddingCache(tmp_path)
    assert type(caught.value) is CacheError


def test_a_tampered_cache_entry_is_a_cache_damaged_error(tmp_path):
    path, key = tmp_path / "cache.db", b"k" * 32
    with EmbeddingCache(path) as cache:
        cache.put_many([key], [torch.ones(4)])
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("UPDATE entries SET data = substr(data, 1, 3)")
    connection.close()
    with EmbeddingCache(path) as cache, pytest.raises(OSError, match="holds a damaged entry") as caught:
        cache.get_many([key])
    assert type(caught.value) is CacheDamagedError

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(OSError, match="garbage.db is damaged or is not a sentembed embedding cache") as caught:
        EmbeddingCache(garbage)
    assert type(caught.value) is CacheDamagedError


def test_a_taken_port_is_a_server_error():
    pytest.importorskip("fastapi")
    from sentembed.server import ServerError
    from sentembed.server._workers import bind_socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}") as caught:
            bind_socket("127.0.0.1", port)
    assert type(caught.value) is ServerError


def test_a_refused_request_is_an_api_error_of_the_family():
    pytest.importorskip("fastapi")
    from sentembed.server import ApiError
    from sentembed.server._state import check_inputs

    with pytest.raises(SentembedError, match="input is an empty list") as caught:
        check_inputs([], "input", 10)
    assert type(caught.value) is ApiError and caught.value.status == 422


def test_a_server_worker_that_dies_is_a_worker_error(tmp_path):
    pytest.importorskip("uvicorn")
    from sentembed.server import serve

    not_a_model = tmp_path / "empty"
    not_a_model.mkdir()
    with pytest.raises(RuntimeError, match=r"server worker sentembed-worker-\d exited with status 1") as caught:
        serve(str(not_a_model), host="127.0.0.1", port=0, workers=2)
    assert type(caught.value) is WorkerError


def test_a_stopped_pool_is_a_worker_error(minilm_l3):
    pool = minilm_l3.start_multi_process_pool(["cpu"])
    SentenceTransformer.stop_multi_process_pool(pool)
    with pytest.raises(RuntimeError, match="no live workers") as caught:
        minilm_l3.encode(["a text"], pool=pool)
    assert type(caught.value) is WorkerError


def test_a_ray_workers_error_that_is_not_built_in_is_a_worker_error():
    with pytest.raises(RuntimeError, match="OperationalError: database is locked") as caught:
        raise_worker_error(describe_error(sqlite3.OperationalError("database is locked")))
    assert type(caught.value) is WorkerError
    assert "(raised in a Ray worker)" in caught.value.__notes__
