"""A real server for the tests: uvicorn on a free loopback port, in a thread of the test process."""

from __future__ import annotations

import re
import socket
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
from tests.conftest import CROSS_ENCODER, minilm_l6_folder  # noqa: E402

START_TIMEOUT_S = 60
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
    app = create_app(model, reranker, settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
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
