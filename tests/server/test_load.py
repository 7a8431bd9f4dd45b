"""What serving under load needs: the model names clients send (`served_model_names`), the embedding cache
(`cache_path`: answers from it equal `encode`, and repeated texts skip the model), and the httptools
connections' header deadline and bound with pipelined requests."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import threading
import time

import httpx
import numpy as np
import pytest

from sentembed.cache import EmbeddingCache
from tests.support.data import read_beir, read_sts
from tests.support.server import (
    MODEL_NAME,
    PROCESS_START_TIMEOUT_S,
    free_port,
    live_server,
    metric,
    start_server,
    wait_for_health,
    wait_until,
)

openai = pytest.importorskip("openai")
ALIASES = ("text-embedding-3-small", "local-minilm")


def test_served_model_names_are_accepted_beside_the_models_own(embedding_model, minilm_l6):
    texts = ["A man is eating food.", "A plane is taking off."]
    expected = minilm_l6.encode(texts, normalize_embeddings=True)
    with live_server(embedding_model, served_model_names=ALIASES) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=120)
        for name in (*ALIASES, MODEL_NAME):
            response = client.embeddings.create(model=name, input=texts)
            assert response.model == name
            np.testing.assert_allclose([item.embedding for item in response.data], expected, atol=1e-6)
        unknown = httpx.post(f"{url}/v1/embeddings", json={"input": texts, "model": "gpt-4o"})
        models = httpx.get(f"{url}/v1/models").json()
        info = httpx.get(f"{url}/info").json()
    assert unknown.status_code == 404
    error = unknown.json()["error"]
    assert error["code"] == "model_not_found" and error["param"] == "model" and ALIASES[0] in error["message"]
    assert [item["id"] for item in models["data"]] == [*ALIASES, MODEL_NAME]
    assert info["model_id"] == ALIASES[0] and info["model_names"] == [*ALIASES, MODEL_NAME]


@pytest.mark.parametrize("names", ["text-embedding", ("ok", "")])
def test_bad_served_model_names_are_refused(names):
    from sentembed.server import ServeSettings

    with pytest.raises(TypeError, match="served_model_names"):
        ServeSettings(served_model_names=names)


def embeddings(url: str, texts: list[str]) -> np.ndarray:
    response = httpx.post(f"{url}/v1/embeddings", json={"input": texts}, timeout=120)
    assert response.status_code == 200, response.text
    return np.array([item["embedding"] for item in response.json()["data"]])


def test_the_cache_answers_repeated_texts_without_the_model(embedding_model, minilm_l6, tmp_path):
    first, second, _ = read_sts("test")
    seen, fresh = first[:6], second[:6]
    path = tmp_path / "server.db"
    with live_server(embedding_model, cache_path=str(path)) as url:
        np.testing.assert_allclose(embeddings(url, seen), minilm_l6.encode(seen, normalize_embeddings=True), atol=1e-6)
        mixed = [seen[0], fresh[0], seen[1], fresh[1], fresh[1], *seen[2:], *fresh[2:]]
        got = embeddings(url, mixed)
        text = httpx.get(f"{url}/metrics").text
    np.testing.assert_allclose(got, minilm_l6.encode(mixed, normalize_embeddings=True), atol=1e-6)
    assert metric(text, "sentembed_cache_hits_total") == len(seen)
    assert metric(text, "sentembed_cache_misses_total") == len(seen) + len(fresh) + 1
    with EmbeddingCache(path) as cache:
        assert cache.stats()["entries"] == len(seen) + len(fresh)


def test_the_server_and_encode_share_one_cache_file(embedding_model, minilm_l6, tmp_path):
    texts = read_sts("test")[0][10:14]
    path = tmp_path / "shared.db"
    with EmbeddingCache(path) as cache:
        expected = minilm_l6.encode(texts, normalize_embeddings=True, cache=cache)
    with live_server(embedding_model, cache_path=str(path)) as url:
        got = embeddings(url, texts)
        text = httpx.get(f"{url}/metrics").text
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert metric(text, "sentembed_cache_hits_total") == len(texts)
    assert metric(text, "sentembed_cache_misses_total") == 0


def test_a_damaged_cache_file_is_refused_at_start(embedding_model, tmp_path):
    from sentembed.server import ServeSettings, create_app

    path = tmp_path / "damaged.db"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(OSError, match="damaged.db"):
        create_app(embedding_model, settings=ServeSettings(cache_path=str(path)))


def read_responses(connection: socket.socket, count: int, seconds: float) -> bytes:
    """What the server sends on `connection` until `count` responses have ended, it closes, or time is up."""
    received, deadline = b"", time.monotonic() + seconds
    while received.count(b"HTTP/1.1 ") < count or not received.endswith((b"]", b"}")):
        assert time.monotonic() < deadline, f"timed out after {received[:200]!r}"
        data = connection.recv(65536)
        if not data:
            break
        received += data
    return received


def post(path: str, body: bytes) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
    return head.encode() + b"\r\n\r\n" + body


def test_pipelined_requests_outlive_the_header_deadline(embedding_model):
    """The second request's headers are in before the first is answered: its deadline has ended, and a model
    run longer than the header timeout does not close the connection."""
    _, corpus, _ = read_beir("scifact_1k")
    long_body = json.dumps({"inputs": list(corpus.values())[:32]}).encode()
    with live_server(embedding_model, header_timeout=0.2) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=60) as connection:
            connection.sendall(post("/embed", long_body) + post("/embed", b'{"inputs": "short"}'))
            received = read_responses(connection, 2, 120)
    assert received.count(b"HTTP/1.1 200") == 2


def test_a_large_body_before_pipelined_headers_is_not_counted_as_headers(embedding_model):
    text = "word " * 6_000  # a 30 kB body, far over the 16 KiB header bound
    with live_server(embedding_model) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=60) as connection:
            body = json.dumps({"inputs": text}).encode()
            connection.sendall(post("/tokenize", body) + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            received = read_responses(connection, 2, 120)
    assert received.count(b"HTTP/1.1 200") == 2 and b"HTTP/1.1 400" not in received


RUN_S = 0.5
WORKER_METRIC = r'^sentembed_worker\{index="(\d+)",pid="(\d+)"\} 1'


def test_batching_adapts_a_lone_request_runs_at_once_and_under_load_runs_wait_for_company():
    """A fake model taking RUN_S per run. Two jobs run together; a third queues while they run, so the server
    is loaded: the next run waits for a fourth that comes 50 ms later. A job that then finds the model idle
    runs at once. Lingering is up to half the last run's time (here capped at 2 s, to be seen)."""
    from sentembed.server._batcher import Batcher, Job
    from sentembed.server._metrics import Metrics

    runs: list[list[str]] = []
    started: list[float] = []
    first_run_over = threading.Event()

    def runner(key, jobs):
        started.append(time.monotonic())
        time.sleep(RUN_S)
        names = [chr(job.rows[0]["input_ids"][0]) for job in jobs]
        runs.append(names)
        if len(runs) == 1:
            first_run_over.set()
        return names

    batcher = Batcher(runner, max_batch_tokens=1_000, metrics=Metrics(), max_linger_s=2.0)

    def job(name: str) -> Job:
        return Job(("embed", None), [{"input_ids": [ord(name)]}], 1)

    async def scenario() -> float:
        together = [asyncio.ensure_future(batcher.run(job(name))) for name in ("a", "b")]
        await asyncio.sleep(RUN_S / 5)
        late = [asyncio.ensure_future(batcher.run(job("c")))]
        await asyncio.to_thread(first_run_over.wait, 30)
        await asyncio.sleep(0.05)
        late.append(asyncio.ensure_future(batcher.run(job("d"))))
        await asyncio.wait_for(asyncio.gather(*together, *late), 30)
        submitted = time.monotonic()
        assert await asyncio.wait_for(batcher.run(job("e")), 30) == "e"
        return submitted

    batcher.start()
    try:
        submitted = asyncio.run(scenario())
    finally:
        batcher.stop()
    assert runs == [["a", "b"], ["c", "d"], ["e"]]
    assert started[2] - submitted < RUN_S / 2, "a lone request on an idle model should not wait"


def worker_pids(url: str, process) -> dict[str, int]:
    """Each worker index that answered a fresh connection to /metrics, with its pid, until both have
    (the second may still be loading its model when the first answers /health)."""
    seen: dict[str, int] = {}
    deadline = time.monotonic() + PROCESS_START_TIMEOUT_S
    while len(seen) < 2 and time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        text = httpx.get(f"{url}/metrics", timeout=30).text
        seen.update((index, int(pid)) for index, pid in re.findall(WORKER_METRIC, text, re.MULTILINE))
        time.sleep(0.05)
    return seen


def test_two_workers_answer_on_one_port_and_drain_on_sigterm(minilm_l6, stopping):
    port = free_port()
    process = start_server(port, "--workers", "2")
    stopping(process)
    url = f"http://127.0.0.1:{port}"
    wait_for_health(url, process)
    pids = worker_pids(url, process)
    assert sorted(pids) == ["0", "1"] and len(set(pids.values())) == 2 and process.pid not in pids.values()

    _, corpus, _ = read_beir("scifact_1k")
    texts = list(corpus.values())[:32]
    outcome: dict = {}
    caller = threading.Thread(
        target=lambda: outcome.update(response=httpx.post(f"{url}/embed", json={"inputs": texts}, timeout=120))
    )
    caller.start()
    wait_until(lambda: metric(httpx.get(f"{url}/metrics").text, "sentembed_batch_inputs_count") >= 1)
    assert "response" not in outcome, "the request should be in flight"
    process.send_signal(signal.SIGTERM)
    caller.join(120)
    assert process.wait(120) in (0, -signal.SIGTERM)
    assert "Traceback" not in process.stderr.read()
    assert outcome["response"].status_code == 200
    np.testing.assert_allclose(
        outcome["response"].json(), minilm_l6.encode(texts, normalize_embeddings=True), atol=1e-6
    )
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_workers_need_models_by_name(embedding_model):
    from sentembed.server import serve

    with pytest.raises(ValueError, match="names or folders"):
        serve(embedding_model, workers=2)
    with pytest.raises(ValueError, match="workers"):
        serve("all-MiniLM-L6-v2", workers=0)
