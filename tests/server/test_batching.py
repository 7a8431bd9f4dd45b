"""Dynamic batching under concurrent load: every answer equals `encode`, requests share model runs, the
event loop stays free during a long batch, and a client that leaves has its queued work dropped."""

from __future__ import annotations

import asyncio
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import torch

from sentembed.server._engine import SharedThreads, mark_lane_thread, per_thread_counts
from tests.support.data import read_beir, read_sts
from tests.support.server import live_server, metric, wait_until

WAIT_S = 60


@pytest.fixture(scope="module")
def request_texts() -> list[list[str]]:
    """64 requests of 1 to 8 texts, STSb sentences and SciFact abstracts mixed."""
    first, second, _ = read_sts("test")
    _, corpus, _ = read_beir("scifact_1k")
    pool = first[:200] + second[:200] + list(corpus.values())[:60]
    rng = np.random.default_rng(0)
    return [[pool[i] for i in rng.choice(len(pool), size=rng.integers(1, 9), replace=False)] for _ in range(64)]


@pytest.fixture(scope="module", params=[None, 2], ids=["one lane", "two lanes"])
def lanes_url(request, embedding_model, reranker_model):
    """The server with one run at a time, and with two lanes (a run's batches computed on two threads at once,
    two runs under way)."""
    with live_server(embedding_model, reranker_model, lanes=request.param, batch_size=2) as url:
        yield url


def test_64_concurrent_clients_get_their_own_results_in_order(lanes_url, minilm_l6, request_texts):
    server_url = lanes_url
    expected = [minilm_l6.encode(texts, normalize_embeddings=True) for texts in request_texts]
    before = metric(httpx.get(f"{server_url}/metrics").text, "sentembed_batch_requests_count")

    async def call(client: httpx.AsyncClient, texts: list[str]) -> list:
        response = await client.post("/v1/embeddings", json={"input": texts})
        assert response.status_code == 200, response.text
        return [item["embedding"] for item in sorted(response.json()["data"], key=lambda item: item["index"])]

    async def everyone() -> list:
        async with httpx.AsyncClient(base_url=server_url, timeout=WAIT_S * 2) as client:
            return await asyncio.wait_for(asyncio.gather(*(call(client, texts) for texts in request_texts)), WAIT_S * 2)

    results = asyncio.run(everyone())
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_allclose(np.array(got), want, atol=1e-6)
    runs = metric(httpx.get(f"{server_url}/metrics").text, "sentembed_batch_requests_count") - before
    assert runs < len(request_texts), "concurrent requests should share model runs"


def test_concurrent_rerank_requests_get_the_cross_encoders_scores(lanes_url, reranker_model, request_texts):
    queries = ["what causes inflammation?", "a man is playing a guitar", "how do vaccines work?"] * 4

    def call(query: str, texts: list[str]) -> list[float]:
        response = httpx.post(f"{lanes_url}/rerank", json={"query": query, "texts": texts}, timeout=WAIT_S)
        assert response.status_code == 200, response.text
        return [item["score"] for item in sorted(response.json(), key=lambda item: item["index"])]

    pairs = list(zip(queries, request_texts, strict=False))
    with ThreadPoolExecutor(len(pairs)) as pool:
        results = list(pool.map(lambda pair: call(*pair), pairs))
    for (query, texts), got in zip(pairs, results, strict=True):
        np.testing.assert_allclose(got, reranker_model.predict([(query, text) for text in texts]), atol=1e-5)


def long_request(url: str, texts: list[str], done: dict) -> None:
    done["response"] = httpx.post(f"{url}/embed", json={"inputs": texts}, timeout=WAIT_S * 4)


def test_health_answers_during_a_long_batch_and_a_departed_clients_work_is_dropped(embedding_model):
    _, corpus, _ = read_beir("scifact_1k")
    long_texts = list(corpus.values())[:32]
    with live_server(embedding_model, max_batch_tokens=256) as url:
        first: dict = {}
        worker = threading.Thread(target=long_request, args=(url, long_texts, first))
        worker.start()
        wait_until(lambda: metric(httpx.get(f"{url}/metrics").text, "sentembed_batch_inputs_count") >= 1)
        health = httpx.get(f"{url}/health", timeout=10)
        assert health.status_code == 200 and "response" not in first, "the batch should still be running"

        # a second client queues work behind the long batch, then leaves before it runs
        host, port = url.removeprefix("http://").split(":")
        body = b'{"inputs": ["' + b"a queued text " * 20 + b'"]}'
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            head = f"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
            raw.sendall(head.encode() + b"\r\n\r\n" + body)
            wait_until(lambda: metric(httpx.get(f"{url}/metrics").text, "sentembed_queue_inputs") >= 1)
        wait_until(lambda: metric(httpx.get(f"{url}/metrics").text, "sentembed_dropped_inputs_total") == 1)
        worker.join(WAIT_S * 4)
        assert first["response"].status_code == 200 and len(first["response"].json()) == 32


def test_serve_takes_a_lane_per_core_up_to_two_and_batches_of_4_on_graph_backends_and_of_8_on_torch():
    from sentembed.server import ServeSettings
    from sentembed.server._workers import torch_threads, with_backend_defaults

    assert with_backend_defaults(ServeSettings(), 2, "onnx").lanes == 2
    assert with_backend_defaults(ServeSettings(), 16, "openvino").lanes == 2
    assert with_backend_defaults(ServeSettings(), 1, "onnx").lanes == 1
    assert with_backend_defaults(ServeSettings(), 2, "torch").lanes == 2  # torch with packed weights
    assert with_backend_defaults(ServeSettings(packed_weights=False), 2, "torch").lanes == 1
    assert with_backend_defaults(ServeSettings(packed_weights=False), 2, "onnx").lanes == 2
    assert with_backend_defaults(ServeSettings(lanes=3), 6, "torch").lanes == 3
    assert with_backend_defaults(ServeSettings(), 2, "onnx").batch_size == 4
    assert with_backend_defaults(ServeSettings(), 2, "torch").batch_size == 8
    assert with_backend_defaults(ServeSettings(batch_size=16), 2, "onnx").batch_size == 16
    # torch's lanes share torch's threads (batch by batch where torch counts threads per thread); a graph
    # backend's main session keeps them all (lanes get sessions)
    assert (torch_threads("torch", 6, 3, False), torch_threads("torch", 6, 3, True)) == (2, 6)
    assert (torch_threads("onnx", 6, 3, False), torch_threads("torch", 2, 4, False)) == (6, 1)
    with pytest.raises(ValueError, match="lanes must be a positive integer"):
        ServeSettings(lanes=0)
    with pytest.raises(TypeError, match="packed_weights must be True or False"):
        ServeSettings(packed_weights="yes")


@pytest.mark.skipif(not per_thread_counts(), reason="this torch keeps one thread count for the process")
def test_torch_lanes_give_a_lone_batch_every_thread_and_a_batch_beside_another_its_share():
    shared = SharedThreads(threads=2, share=1)
    seen: dict[str, int] = {}
    first_started, second_done = threading.Event(), threading.Event()

    class Probe(torch.nn.Module):
        def forward(self, name: str) -> None:
            seen[name] = torch.get_num_threads()
            if name == "first of two":
                first_started.set()
                assert second_done.wait(WAIT_S)

    probe = Probe()
    shared.attach(probe)
    probe("alone")
    with ThreadPoolExecutor(1, initializer=mark_lane_thread) as lane:
        lane.submit(probe, "on a lane").result()
    first = threading.Thread(target=probe, args=("first of two",))
    first.start()
    assert first_started.wait(WAIT_S)
    probe("second of two")
    second_done.set()
    first.join(WAIT_S)
    assert seen == {"alone": 2, "on a lane": 1, "first of two": 2, "second of two": 1}
    probe("alone again")  # the count of batches in flight went back to 0, even after a call that raised
    with pytest.raises(TypeError):
        probe()
    probe("after an error")
    assert (seen["alone again"], seen["after an error"]) == (2, 2)

    class Batch(torch.nn.Module):
        def forward(self, features: dict) -> None:
            seen[f"{features['input_ids'].numel()} tokens"] = torch.get_num_threads()

    batch = Batch()
    shared.attach(batch)
    batch({"input_ids": torch.zeros(1, 12)})  # one sentence alone: faster on one thread
    batch({"input_ids": torch.zeros(8, 30)})
    assert (seen["12 tokens"], seen["240 tokens"]) == (1, 2)
