"""Attacks on the HTTP server: slow, huge and malformed clients are refused, each within a stated bound,
while the server keeps answering its other clients. Servers bind 127.0.0.1 only; every loop is bounded."""

from __future__ import annotations

import json
import random
import select
import socket
import string
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

pytest.importorskip("uvicorn")

from tests.support.server import free_port, live_server, start_server, wait_for_health  # noqa: E402

HEADER_TIMEOUT_S = 1
BODY_TIMEOUT_S = 2
# How late past its deadline a slow client may be cut off, on a loaded test machine.
GRACE_S = 4
DRIP_INTERVAL_S = 0.2
SLOW_CLIENTS = 16


class GuardedServer:
    """`sentembed serve` with two request slots and short header and body deadlines."""

    def __init__(self, process: subprocess.Popen, port: int) -> None:
        self.process = process
        self.address = ("127.0.0.1", port)
        self.url = f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def guarded() -> Iterator[GuardedServer]:
    port = free_port()
    options = ["--max-concurrent-requests", "2", "--header-timeout", str(HEADER_TIMEOUT_S),
               "--body-timeout", str(BODY_TIMEOUT_S)]  # fmt: skip
    process = start_server(port, *options)
    try:
        wait_for_health(f"http://127.0.0.1:{port}", process)
        yield GuardedServer(process, port)
    finally:
        process.kill()
        process.wait(30)


def open_connections(address: tuple[str, int], opening: bytes, count: int) -> list[socket.socket]:
    connections = []
    for _ in range(count):
        connection = socket.create_connection(address, timeout=10)
        connection.sendall(opening)
        connections.append(connection)
    return connections


def drip(connections: list[socket.socket], chunk: bytes, seconds: float) -> dict[socket.socket, tuple[float, bytes]]:
    """Send `chunk` on each connection every DRIP_INTERVAL_S for at most `seconds`. For each connection the
    server closed: after how many seconds, and what it answered first."""
    started = time.monotonic()
    replies = {connection: b"" for connection in connections}
    closed: dict[socket.socket, tuple[float, bytes]] = {}
    while len(closed) < len(connections) and time.monotonic() - started < seconds:
        open_ones = [connection for connection in connections if connection not in closed]
        for connection in open_ones:
            try:
                connection.sendall(chunk)
            except OSError:
                closed[connection] = (time.monotonic() - started, replies[connection])
        readable, _, _ = select.select([c for c in open_ones if c not in closed], [], [], DRIP_INTERVAL_S)
        for connection in readable:
            try:
                data = connection.recv(65536)
            except OSError:
                data = b""
            if data:
                replies[connection] += data
            else:
                closed[connection] = (time.monotonic() - started, replies[connection])
    for connection in connections:
        connection.close()
    return closed


def embed_until_answered(url: str, seconds: float) -> tuple[int, float]:
    """POST /embed, retrying after each 429, for at most `seconds`: the last status and the time it took."""
    started = time.monotonic()
    status = 0
    with httpx.Client(timeout=seconds) as session:
        while time.monotonic() - started < seconds:
            status = session.post(f"{url}/embed", json={"inputs": "a normal client"}).status_code
            if status != 429:
                break
            time.sleep(0.1)
    return status, time.monotonic() - started


def test_slow_headers_are_cut_off_while_others_are_answered(guarded):
    slow = open_connections(guarded.address, b"POST /embed HTTP/1.1\r\nHost: x\r\n", SLOW_CLIENTS)
    with ThreadPoolExecutor(1) as pool:
        dripping = pool.submit(drip, slow, b"X-Drip: 1\r\n", HEADER_TIMEOUT_S + 2 * GRACE_S)
        status, seconds = embed_until_answered(guarded.url, GRACE_S)
        closed = dripping.result()
    assert status == 200 and seconds < GRACE_S
    assert len(closed) == SLOW_CLIENTS, f"{SLOW_CLIENTS - len(closed)} slow clients still connected"
    assert max(after for after, _ in closed.values()) < HEADER_TIMEOUT_S + GRACE_S


def test_unfinished_headers_over_16_kib_are_refused(guarded):
    with socket.create_connection(guarded.address, timeout=10) as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20_000)  # no end of headers
        assert connection.recv(4096).startswith(b"HTTP/1.1 400")


def test_slow_bodies_are_cut_off_and_free_their_slots(guarded):
    opening = b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
    slow = open_connections(guarded.address, opening, 2)  # both of the server's request slots
    with ThreadPoolExecutor(1) as pool:
        dripping = pool.submit(drip, slow, b" ", BODY_TIMEOUT_S + 2 * GRACE_S)
        time.sleep(0.5)
        status, seconds = embed_until_answered(guarded.url, BODY_TIMEOUT_S + GRACE_S)
        closed = dripping.result()
    assert status == 200 and seconds < BODY_TIMEOUT_S + GRACE_S
    assert len(closed) == 2, "a slow body still holds its connection"
    for after, reply in closed.values():
        assert after < BODY_TIMEOUT_S + GRACE_S
        assert reply.startswith(b"HTTP/1.1 408") and b'"type":"invalid_request_error"' in reply


def peak_memory_reset(pid: int) -> bool:
    """Reset the process's peak resident size (VmHWM); False where the kernel does not allow it."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def peak_memory(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        line = next(line for line in handle if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


TOKENIZE_RESPONSE_BOUND = 32 * 256 * 100  # max_client_batch_size × max_seq_length tokens × 100 bytes each
TOKENIZE_MEMORY_BOUND = 200 * 2**20


def test_a_huge_tokenize_request_gets_a_bounded_answer(guarded):
    text = "tokenize " * 220_000  # 1.98 MB, just under the 2 MB payload limit
    if not peak_memory_reset(guarded.process.pid):
        pytest.skip("needs /proc/PID/clear_refs to measure the server's peak memory")
    before = peak_memory(guarded.process.pid)
    with httpx.Client(base_url=guarded.url, timeout=60) as session:
        cut = session.post("/tokenize", json={"inputs": [text]})
        whole = session.post("/tokenize", json={"inputs": [text], "truncate": False})
    rise = peak_memory(guarded.process.pid) - before
    assert cut.status_code == 200 and len(cut.json()[0]) == 256
    assert len(cut.content) < TOKENIZE_RESPONSE_BOUND
    assert whole.status_code == 413 and whole.json()["error"]["param"] == "inputs"
    assert rise < TOKENIZE_MEMORY_BOUND, f"the server's peak memory rose by {rise / 2**20:.0f} MiB"


@pytest.fixture(scope="module")
def metered_url(embedding_model) -> Iterator[str]:
    with live_server(embedding_model, api_key="k3y", payload_limit=1000) as url:
        yield url


METRICS_BOUND = 64_000


def test_made_up_paths_do_not_grow_the_metrics(metered_url):
    auth = {"Authorization": "Bearer k3y"}
    letters = random.Random(0)
    statuses = set()
    with httpx.Client(base_url=metered_url, timeout=30) as session:
        for index in range(2000):
            path = "/" + "".join(letters.choices(string.ascii_lowercase, k=12))
            kind = index % 4
            if kind == 0:
                response = session.get(path)  # 401: no key
            elif kind == 1:
                response = session.get(path, headers=auth)  # 404
            elif kind == 2:
                response = session.post(path, content=b"x" * 2000, headers=auth)  # 413
            else:
                response = session.put("/embed" + path, headers=auth)  # 404 under a real route's prefix
            statuses.add(response.status_code)
        exposition = session.get("/metrics", headers=auth).text
    assert statuses == {401, 404, 413}
    assert len(exposition) < METRICS_BOUND, f"/metrics is {len(exposition)} bytes after 2,000 made-up paths"
    assert 'route="unmatched"' in exposition


REQUEST_TIME_BOUND_S = 2


def test_a_long_rerank_query_is_refused_in_bounded_time(server_url):
    query = "relevance " * 57_000  # 0.57 MB
    texts = [f"document number {index}" for index in range(32)]
    started = time.monotonic()
    response = httpx.post(f"{server_url}/rerank", json={"query": query, "texts": texts, "truncate": False}, timeout=120)
    assert time.monotonic() - started < REQUEST_TIME_BOUND_S
    assert response.status_code == 422 and response.json()["error"]["param"] == "query"


def test_a_long_text_with_truncate_false_is_refused_in_bounded_time(server_url):
    texts = ["short", "embedding " * 190_000]  # 1.9 MB
    started = time.monotonic()
    response = httpx.post(f"{server_url}/embed", json={"inputs": texts, "truncate": False}, timeout=120)
    assert time.monotonic() - started < REQUEST_TIME_BOUND_S
    assert response.status_code == 422 and response.json()["error"]["param"] == "inputs[1]"


LONE = "caf\ud800"


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/embeddings", {"input": ["fine", LONE]}, "input[1]"),
        ("/v1/embeddings", {"input": LONE}, "input"),
        ("/embed", {"inputs": [LONE]}, "inputs[0]"),
        ("/similarity", {"inputs": {"source_sentence": LONE, "sentences": ["a"]}}, "inputs.source_sentence"),
        ("/similarity", {"inputs": {"source_sentence": "a", "sentences": ["b", LONE]}}, "inputs.sentences[1]"),
        ("/rerank", {"query": LONE, "texts": ["a"]}, "query"),
        ("/rerank", {"query": "q", "texts": ["a", LONE]}, "texts[1]"),
        ("/v1/rerank", {"query": "q", "documents": [{"text": LONE}]}, "documents[0]"),
        ("/tokenize", {"inputs": LONE}, "inputs"),
    ],
)
def test_a_lone_surrogate_is_a_422_naming_the_item(client, path, body, param):
    response = client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["param"] == param and "surrogate" in error["message"]
    assert error["type"] == "invalid_request_error"


def test_the_server_answers_others_while_a_huge_request_runs(server_url):
    outcome: dict = {}

    def huge() -> None:
        outcome["huge"] = httpx.post(
            f"{server_url}/tokenize", json={"inputs": ["word " * 390_000], "truncate": False}, timeout=120
        )

    worker = threading.Thread(target=huge)
    worker.start()
    small = httpx.post(f"{server_url}/embed", json={"inputs": "a small request"}, timeout=REQUEST_TIME_BOUND_S)
    worker.join(120)
    assert small.status_code == 200 and outcome["huge"].status_code == 413
