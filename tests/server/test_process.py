"""`sentembed serve` as a real second process: it starts, answers, binds loopback, and drains on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from sentembed.common.runtime import available_cores
from tests.support.data import read_beir
from tests.support.server import free_port, metric, start_server, wait_for_health, wait_until

START_TIMEOUT_S = 120


def test_sigterm_drains_in_flight_requests_then_exits(minilm_l6, stopping):
    port = free_port()
    process = start_server(port, env={"SENTEMBED_API_KEY": "k3y"})
    stopping(process)
    url, auth = f"http://127.0.0.1:{port}", {"Authorization": "Bearer k3y"}
    wait_for_health(url, process)
    assert httpx.post(f"{url}/embed", json={"inputs": "a"}).status_code == 401
    _, corpus, _ = read_beir("scifact_1k")
    texts = list(corpus.values())[:32]
    outcome: dict = {}

    def call() -> None:
        outcome["response"] = httpx.post(f"{url}/embed", json={"inputs": texts}, headers=auth, timeout=START_TIMEOUT_S)

    caller = threading.Thread(target=call)
    caller.start()
    wait_until(lambda: metric(httpx.get(f"{url}/metrics", headers=auth).text, "sentembed_batch_inputs_count") >= 1)
    assert "response" not in outcome, "the request should be in flight"
    process.send_signal(signal.SIGTERM)
    caller.join(START_TIMEOUT_S)
    assert process.wait(START_TIMEOUT_S) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once drained
    assert "Traceback" not in process.stderr.read()
    assert outcome["response"].status_code == 200
    expected = minilm_l6.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(outcome["response"].json(), expected, atol=1e-6)


def listening_addresses(port: int) -> list[str]:
    """The local addresses (hex, as /proc/net/tcp writes them) of the sockets listening on `port`."""
    addresses = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table) as handle:
            for row in list(handle)[1:]:
                local, state = row.split()[1], row.split()[3]
                address, hex_port = local.rsplit(":", 1)
                if state == "0A" and int(hex_port, 16) == port:
                    addresses.append(address)
    return addresses


def test_the_server_binds_loopback_by_default(stopping):
    if not os.path.exists("/proc/net/tcp"):
        pytest.skip("reads the listening sockets from /proc/net/tcp (Linux)")
    port = free_port()
    process = start_server(port)
    stopping(process)
    wait_for_health(f"http://127.0.0.1:{port}", process)
    assert listening_addresses(port) == ["0100007F"]  # 127.0.0.1 only


def test_bad_limits_are_refused_before_loading():
    result = subprocess.run(
        [sys.executable, "-m", "sentembed.cli.main", "serve", "--max-batch-tokens", "0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and "max_batch_tokens" in result.stderr


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_a_port_outside_the_tcp_range_is_refused_before_loading(port):
    result = subprocess.run(
        [sys.executable, "-m", "sentembed.cli.main", "serve", "--port", port],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and "--port" in result.stderr and "0 to 65535" in result.stderr


def test_a_worker_that_cannot_load_its_model_says_why(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "sentembed.cli.main", "serve", "--model", str(tmp_path), "--port", "0",
         "--workers", "2"],
        capture_output=True, text=True, timeout=START_TIMEOUT_S,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    reason = r"sentembed serve: error: server worker sentembed-worker-\d exited with status 1: \w+Error"
    assert re.search(reason, result.stderr)
    assert str(tmp_path) in result.stderr and "Traceback" not in result.stderr


def process_table() -> dict[int, tuple[str, int]]:
    """Every process this one may see: pid -> (state letter, parent pid), from /proc."""
    table = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(entry)] = (fields[0], int(fields[1]))
    return table


def test_workers_stop_when_their_parent_is_killed(stopping):
    if not os.path.exists("/proc/self/stat"):
        pytest.skip("reads the process table from /proc (Linux)")
    port = free_port()
    process = start_server(port, "--workers", "2")
    stopping(process)
    url = f"http://127.0.0.1:{port}"
    wait_for_health(url, process)
    children = [pid for pid, (_, parent) in process_table().items() if parent == process.pid]
    assert len(children) >= 2  # the two workers (and multiprocessing's resource tracker)
    process.kill()
    process.wait(START_TIMEOUT_S)

    def all_gone() -> bool:
        table = process_table()
        return all(pid not in table or table[pid][0] == "Z" for pid in children)

    wait_until(all_gone, timeout=START_TIMEOUT_S)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health", timeout=5)


def served_with_info(stopping, *options: str) -> tuple[str, dict]:
    """`sentembed serve` of all-MiniLM-L6-v2 with `options`, once healthy: its URL and its /info."""
    port = free_port()
    process = start_server(port, *options)
    stopping(process)
    url = f"http://127.0.0.1:{port}"
    wait_for_health(url, process)
    return url, httpx.get(f"{url}/info", timeout=30).json()


def concurrent_embeddings(url: str, requests: list[list[str]]) -> list[np.ndarray]:
    """The server's /v1/embeddings answers to `requests`, all sent at once."""

    def embeddings(texts: list[str]) -> np.ndarray:
        answer = httpx.post(f"{url}/v1/embeddings", json={"input": texts}, timeout=START_TIMEOUT_S).json()
        return np.array([item["embedding"] for item in answer["data"]])

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(embeddings, requests))


def test_a_torch_server_packs_its_weights_computes_on_lanes_and_answers_as_encode(minilm_l6, stopping):
    """By name on torch, `serve` packs the linear layers (all 37 of all-MiniLM-L6-v2), takes a lane per core (at
    most two) and batches of 8, and starts torch with every thread (a lone batch keeps them all); concurrent
    answers, single sentences and several texts, equal `encode` of the plain model within 1e-6."""
    url, info = served_with_info(stopping)
    cores = available_cores()
    assert (info["lanes"], info["threads"], info["batch_size"], info["packed_layers"]) == (min(cores, 2), cores, 8, 37)
    _, corpus, _ = read_beir("scifact_1k")
    texts = list(corpus.values())[:40]
    requests = [[text[:200]] for text in texts[:24]] + [texts[start : start + 4] for start in range(24, 40, 4)]
    for batch, got in zip(requests, concurrent_embeddings(url, requests), strict=True):
        np.testing.assert_allclose(got, minilm_l6.encode(batch, normalize_embeddings=True), rtol=0, atol=1e-6)


def test_an_onnx_server_computes_on_lanes_and_answers_as_encode(minilm_l6, stopping):
    """By name on onnx, `serve` takes a lane per core (at most two) and batches of 4, and keeps every thread
    for a batch computed alone; concurrent answers equal `encode` (torch) within onnx's tolerance."""
    url, info = served_with_info(stopping, "--backend", "onnx")
    cores = available_cores()
    assert (info["lanes"], info["threads"], info["batch_size"]) == (min(cores, 2), cores, 4)
    _, corpus, _ = read_beir("scifact_1k")
    requests = [list(corpus.values())[start : start + 5] for start in range(0, 60, 5)]
    for texts, got in zip(requests, concurrent_embeddings(url, requests), strict=True):
        np.testing.assert_allclose(got, minilm_l6.encode(texts, normalize_embeddings=True), atol=1e-5)
