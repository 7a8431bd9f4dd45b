"""A real server for the tests: uvicorn on a free loopback port, in a thread of the test process, or
`sentembed serve` as a second process; and the fixtures that serve all-MiniLM-L6-v2 and the WikiQA cross-encoder
(declared by tests/server/conftest.py and tests/security/conftest.py)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

import uvicorn  # noqa: E402

from sentembed import CrossEncoder, SentenceTransformer  # noqa: E402
from sentembed.server import ServeSettings, create_app  # noqa: E402
from sentembed.server._app import uvicorn_config  # noqa: E402
from tests.support.paths import CROSS_ENCODER, minilm_l6_folder  # noqa: E402

START_TIMEOUT_S = 60
PROCESS_START_TIMEOUT_S = 120
MODEL_NAME = "all-MiniLM-L6-v2"
RERANKER_NAME = "wikiqa-MiniLM-L3-v2"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def live_server(model, reranker=None, **settings) -> Iterator[str]:
    """Serve the models on 127.0.0.1 while the block runs; yields the base URL."""
    settings = ServeSettings(**{"model_name": MODEL_NAME, "reranker_name": RERANKER_NAME, **settings})
    with live_app(create_app(model, reranker, settings)) as url:
        yield url


@contextmanager
def live_app(app) -> Iterator[str]:
    """Serve an app from `create_app` on 127.0.0.1 while the block runs; yields the base URL."""
    settings = app.state.server.settings
    port = free_port()
    server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, settings, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT_S)


@pytest.fixture(scope="session")
def embedding_model() -> SentenceTransformer:
    return SentenceTransformer(str(minilm_l6_folder()))


@pytest.fixture(scope="session")
def reranker_model() -> CrossEncoder:
    return CrossEncoder(str(CROSS_ENCODER))


@pytest.fixture(scope="module")
def server_url(embedding_model, reranker_model) -> Iterator[str]:
    with live_server(embedding_model, reranker_model) as url:
        yield url


@pytest.fixture()
def client(server_url) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=120) as session:
        yield session


def metric(text: str, name: str) -> float:
    """The value of an unlabelled metric, or the sum of a labelled one, in Prometheus text."""
    values = re.findall(rf"^{re.escape(name)}(?:{{[^}}]*}})? ([0-9.e+-]+)$", text, flags=re.MULTILINE)
    return sum(float(value) for value in values)


def wait_until(condition, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def start_server(port: int, *options: str, env: dict | None = None) -> subprocess.Popen:
    """`sentembed serve` of all-MiniLM-L6-v2 on 127.0.0.1:`port`, as a second process."""
    command = [sys.executable, "-m", "sentembed.cli.main", "serve", "--model", str(minilm_l6_folder()),
               "--port", str(port), "--log-level", "warning", *options]  # fmt: skip
    return subprocess.Popen(command, env={**os.environ, **(env or {})}, stderr=subprocess.PIPE, text=True)


def wait_for_health(url: str, process: subprocess.Popen, headers: dict | None = None) -> None:
    deadline = time.monotonic() + PROCESS_START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        try:
            if httpx.get(f"{url}/health", timeout=2, headers=headers).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not become healthy")


@pytest.fixture()
def stopping() -> Iterator:
    """Call with a server process: it is killed after the test if it still runs."""
    processes: list[subprocess.Popen] = []
    yield processes.append
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(30)
