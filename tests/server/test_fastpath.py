"""The direct way to the embedding routes: valid JSON bodies skip the router and get what the router gives;
everything else still goes through FastAPI, so errors keep their one source."""

from __future__ import annotations

import base64

import httpx
import numpy as np
import pytest

from sentembed.server import ServeSettings, create_app
from sentembed.server._fastpath import DirectRoutes
from tests.support.server import MODEL_NAME, live_app

TEXTS = ["A man is playing a flute.", "Two dogs run on the beach."]


def direct_layer(app) -> DirectRoutes:
    """The app's DirectRoutes layer (the middleware stack is built on first use)."""
    layer = app.middleware_stack or app.build_middleware_stack()
    app.middleware_stack = layer
    while not isinstance(layer, DirectRoutes):
        layer = layer.app
    return layer


@pytest.fixture(scope="module")
def routed(embedding_model):
    """A live server whose FastAPI app records the paths it is asked for (what the direct way left to it)."""
    app = create_app(embedding_model, settings=ServeSettings(model_name=MODEL_NAME))
    layer = direct_layer(app)
    reached: list[str] = []
    router = layer.app

    async def recording(scope, receive, send):
        if scope["type"] == "http":
            reached.append(scope["path"])
        await router(scope, receive, send)

    layer.app = recording
    with live_app(app) as url, httpx.Client(base_url=url, timeout=120) as client:
        yield client, reached


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/embeddings", {"input": TEXTS, "model": MODEL_NAME}),
        ("/v1/embeddings", {"input": TEXTS[0], "encoding_format": "base64", "dimensions": 64}),
        ("/embed", {"inputs": TEXTS, "normalize": False}),
    ],
)
def test_valid_bodies_skip_the_router_and_equal_encode(routed, minilm_l6, path, body):
    client, reached = routed
    reached.clear()
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    assert reached == []
    if path == "/embed":
        np.testing.assert_allclose(response.json(), minilm_l6.encode(TEXTS), atol=1e-6)
    elif body.get("encoding_format") != "base64":
        vectors = [item["embedding"] for item in response.json()["data"]]
        np.testing.assert_allclose(vectors, minilm_l6.encode(TEXTS, normalize_embeddings=True), atol=1e-6)
    else:
        vector = np.frombuffer(base64.b64decode(response.json()["data"][0]["embedding"]), dtype="<f4")
        expected = minilm_l6.encode(TEXTS[:1], truncate_dim=64, normalize_embeddings=True)[0]
        np.testing.assert_allclose(vector, expected, atol=1e-6)


@pytest.mark.parametrize(
    ("content", "headers", "status", "param"),
    [
        (b'{"input": 3}', {"Content-Type": "application/json"}, 422, "input"),
        (b'{"input": ["a", 3]}', {"Content-Type": "application/json"}, 422, "input"),
        (b'{"input": ', {"Content-Type": "application/json"}, 422, None),
        (b'{"input": "\\ud800"}', {"Content-Type": "application/json"}, 422, "input"),
        (b'{"input": "a"}', {"Content-Type": "text/plain"}, 422, None),
        (b"[1, 2]", {"Content-Type": "application/json"}, 422, None),
    ],
)
def test_bodies_the_schema_refuses_go_through_the_router(routed, content, headers, status, param):
    client, reached = routed
    reached.clear()
    response = client.post("/v1/embeddings", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert reached == ["/v1/embeddings"]


def test_errors_of_the_handler_keep_their_json_shape(routed):
    client, reached = routed
    reached.clear()
    unknown = client.post("/v1/embeddings", json={"input": "a", "model": "text-embedding-3-small"})
    too_wide = client.post("/embed", json={"inputs": "a", "dimensions": 4096})
    empty = client.post("/embed", json={"inputs": [""]})
    assert reached == []
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    assert too_wide.status_code == 422 and too_wide.json()["error"]["param"] == "dimensions"
    assert empty.status_code == 422 and empty.json()["error"]["param"] == "inputs[0]"
