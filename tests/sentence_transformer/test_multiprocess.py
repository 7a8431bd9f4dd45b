"""The multi-process pool: same results in the same order, and no hang when a worker dies."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
import torch

from sentembed import SentenceTransformer
from sentembed.backend import available_cores
from sentembed.quantization import quantize_embeddings
from sentembed.sentence_transformer._multiprocess import check_devices, threads_per_cpu_worker

CLOSE = 1e-5


@pytest.fixture(scope="module")
def pool(minilm_l3):
    with minilm_l3.start_multi_process_pool(["cpu", "cpu"]) as started:
        yield started


@pytest.fixture(scope="module")
def texts(sts_sentences) -> list[str]:
    """Distinct sentences plus repeats, so that order and deduplication are both exercised."""
    return sts_sentences[:240] + sts_sentences[:30]


def test_pool_matches_single_process_in_order(minilm_l3, pool, texts):
    single = minilm_l3.encode(texts)
    pooled = minilm_l3.encode(texts, pool=pool, chunk_size=25)
    assert pooled.shape == single.shape
    assert np.abs(pooled - single).max() <= CLOSE


def test_the_pool_answers_the_references_dict_keys(pool):
    processes = pool["processes"]
    assert len(processes) == 2 and all(process.is_alive() for process in processes)
    assert len(pool["input"]) == len(pool["output"]) == 2
    assert "processes" in pool and sorted(pool.keys()) == ["input", "output", "processes"]
    with pytest.raises(KeyError, match="processes"):
        pool["workers"]


def test_precision_is_applied_after_merging_chunks(minilm_l3, pool, texts):
    floats = minilm_l3.encode(texts, pool=pool, chunk_size=25)
    pooled = minilm_l3.encode(texts, pool=pool, chunk_size=25, precision="int8")
    np.testing.assert_array_equal(pooled, quantize_embeddings(floats, "int8"))


def test_every_output_option_works_in_the_pool(minilm_l3, pool, texts):
    options = {"normalize_embeddings": True, "truncate_dim": 64, "prompt": "query: ", "convert_to_tensor": True}
    pooled = minilm_l3.encode(texts[:50], pool=pool, **options)
    single = minilm_l3.encode(texts[:50], **options)
    assert isinstance(pooled, torch.Tensor) and pooled.shape == (50, 64)
    assert (pooled - single).abs().max() <= CLOSE
    tokens = minilm_l3.encode(texts[:10], pool=pool, output_value="token_embeddings")
    expected = minilm_l3.encode(texts[:10], output_value="token_embeddings")
    assert [t.shape for t in tokens] == [t.shape for t in expected]
    assert max((a - b).abs().max().item() for a, b in zip(tokens, expected, strict=True)) <= CLOSE
    one = minilm_l3.encode_multi_process(["just one"], pool)
    assert np.abs(one - minilm_l3.encode(["just one"])).max() <= CLOSE


def test_device_list_starts_and_stops_a_pool_for_the_call(minilm_l3, texts):
    pooled = minilm_l3.encode(texts[:40], device=["cpu", "cpu"])
    assert np.abs(pooled - minilm_l3.encode(texts[:40])).max() <= CLOSE


class _KillAfterFirstSend:
    """Wraps a worker's pipe: the worker is killed right after it is handed its first chunk."""

    def __init__(self, connection, pid: int) -> None:
        self._connection, self._pid, self.killed = connection, pid, False

    def send(self, message) -> None:
        self._connection.send(message)
        if message is not None and not self.killed:
            self.killed = True
            os.kill(self._pid, signal.SIGKILL)

    def __getattr__(self, name):
        return getattr(self._connection, name)


def test_a_worker_killed_mid_chunk_leaves_the_rest_to_finish(minilm_l3, texts):
    single = minilm_l3.encode(texts)
    with minilm_l3.start_multi_process_pool(["cpu", "cpu"]) as pool:
        victim = pool.workers[0]
        victim.connection = _KillAfterFirstSend(victim.connection, victim.process.pid)
        started = time.monotonic()
        pooled = minilm_l3.encode(texts, pool=pool, chunk_size=40)
        assert victim.connection.killed
        assert [worker.alive for worker in pool.workers] == [False, True]
        assert np.abs(pooled - single).max() <= CLOSE
        assert time.monotonic() - started < 60
        # with the last worker killed mid-chunk too, the call fails at once instead of waiting
        last = pool.workers[1]
        last.connection = _KillAfterFirstSend(last.connection, last.process.pid)
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="every worker of the multi-process pool has died"):
            minilm_l3.encode(texts, pool=pool, chunk_size=40)
        SentenceTransformer.stop_multi_process_pool(pool)
        assert time.monotonic() - started < 10
    assert not any(worker.process.is_alive() for worker in pool.workers)
    with pytest.raises(RuntimeError, match="no live workers"):
        minilm_l3.encode(texts, pool=pool)


@pytest.mark.slow
def test_onnx_model_runs_in_a_pool(tmp_path, minilm_l3):
    import shutil

    from tests.support.paths import MINILM_L3

    shutil.copytree(MINILM_L3, tmp_path / "l3")
    model = SentenceTransformer(str(tmp_path / "l3"), device="cpu", backend="onnx")
    with model.start_multi_process_pool(["cpu"]) as pool:
        pooled = model.encode(["in a pool", "on onnxruntime"], pool=pool)
    assert np.abs(pooled - minilm_l3.encode(["in a pool", "on onnxruntime"])).max() <= 1e-4


def test_cpu_workers_split_the_cores():
    assert threads_per_cpu_worker(["cpu"]) == available_cores()
    assert threads_per_cpu_worker(["cpu"] * available_cores()) == 1
    assert threads_per_cpu_worker(["cpu"] * (available_cores() * 2)) == 1


@pytest.mark.parametrize(
    ("devices", "error", "match"),
    [
        ([], ValueError, "empty"),
        ("cpu", TypeError, "list of device names"),
        (["cpu", 3], TypeError, r"target_devices\[1\]"),
        (["cpu", "toaster"], ValueError, r"target_devices\[1\] = 'toaster'"),
    ],
)
def test_bad_devices_are_refused(devices, error, match):
    with pytest.raises(error, match=match):
        check_devices(devices)


def test_a_pool_is_bound_to_its_model(minilm_l6, pool):
    with pytest.raises(ValueError, match="another model"):
        minilm_l6.encode(["x"], pool=pool)
    with pytest.raises(TypeError, match="start_multi_process_pool"):
        minilm_l6.encode(["x"], pool=object())


def test_bad_chunk_size_is_refused_before_any_worker_starts(minilm_l3):
    with pytest.raises(ValueError, match="chunk_size"):
        minilm_l3.encode(["x"], device=["cpu"], chunk_size=0)
