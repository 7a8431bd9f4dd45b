"""Bad requests get the documented status and a JSON error naming what is wrong; never a 5xx."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.server import live_server


def error_of(response: httpx.Response) -> dict:
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


@pytest.mark.parametrize(
    ("path", "body", "status", "param"),
    [
        ("/v1/embeddings", {"input": []}, 422, "input"),
        ("/v1/embeddings", {"input": ["a", "", "c"]}, 422, "input[1]"),
        ("/v1/embeddings", {"input": ""}, 422, "input"),
        ("/v1/embeddings", {"input": [1, "a"]}, 422, "input"),
        ("/v1/embeddings", {"input": 12}, 422, "input"),
        ("/v1/embeddings", {}, 422, "input"),
        ("/v1/embeddings", {"input": "a", "encoding_format": "hex"}, 422, "encoding_format"),
        ("/v1/embeddings", {"input": "a", "dimensions": 0}, 422, "dimensions"),
        ("/v1/embeddings", {"input": "a", "dimensions": 385}, 422, "dimensions"),
        ("/v1/embeddings", {"input": [[1, 2], [10**9]]}, 422, "input[1]"),
        ("/v1/embeddings", {"input": [[]]}, 422, "input[0]"),
        ("/v1/embeddings", {"input": "a", "model": "text-embedding-3-small"}, 404, "model"),
        ("/v1/embeddings", {"input": ["a"] * 2049}, 413, "input"),
        ("/embed", {"inputs": ["a"] * 33}, 413, "inputs"),
        ("/embed", {"inputs": "a", "normalize": "yes"}, 422, "normalize"),
        ("/embed", {"inputs": "word " * 400, "truncate": False}, 422, "inputs[0]"),
        ("/rerank", {"query": "q", "texts": []}, 422, "texts"),
        ("/rerank", {"query": "", "texts": ["a"]}, 422, "query"),
        ("/rerank", {"query": "q", "texts": ["a", "word " * 200], "truncate": False}, 422, "texts[1]"),
        ("/v1/rerank", {"query": "q", "documents": ["a"], "model": "rerank-v3"}, 404, "model"),
        ("/v1/rerank", {"query": "q", "documents": ["a"], "top_n": 0}, 422, "top_n"),
        ("/v1/rerank", {"query": "q", "documents": [{"title": "no text"}]}, 422, "documents[0]"),
        ("/similarity", {"inputs": {"source_sentence": "a"}}, 422, "inputs.sentences"),
        ("/tokenize", {"inputs": []}, 422, "inputs"),
    ],
)
def test_bad_requests_get_their_status_and_name_the_parameter(client, path, body, status, param):
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    assert error_of(response)["param"] == param


def test_invalid_json_is_a_422(client):
    response = client.post("/embed", content=b'{"inputs": ["a",', headers={"content-type": "application/json"})
    assert response.status_code == 422 and error_of(response)["code"] == "invalid_json"


def test_unknown_routes_and_methods(client):
    assert client.post("/v2/embeddings", json={}).status_code == 404
    assert error_of(client.get("/nowhere"))["type"] == "not_found_error"
    assert client.get("/embed").status_code == 405


def test_payload_limit_by_length_and_by_stream(embedding_model):
    with live_server(embedding_model, payload_limit=1000) as url:
        declared = httpx.post(f"{url}/embed", json={"inputs": ["x" * 600, "y" * 600]})
        assert declared.status_code == 413 and error_of(declared)["code"] == "payload_too_large"

        def chunks():  # no Content-Length: the limit is found while the body streams in
            yield b'{"inputs": ["'
            for _ in range(20):
                yield b"z" * 100
            yield b'"]}'

        streamed = httpx.post(f"{url}/embed", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert httpx.post(f"{url}/embed", json={"inputs": "small"}).status_code == 200


def test_an_api_key_guards_every_route_but_health(embedding_model):
    with live_server(embedding_model, api_key="s3cret") as url:
        assert httpx.get(f"{url}/health").status_code == 200
        guarded = [("POST", "/v1/embeddings"), ("GET", "/info"), ("GET", "/metrics"), ("GET", "/openapi.json")]
        for method, path in guarded:
            response = httpx.request(method, f"{url}{path}", json={"input": "a"})
            assert response.status_code == 401 and error_of(response)["type"] == "authentication_error"
        wrong = httpx.post(f"{url}/v1/embeddings", json={"input": "a"}, headers={"Authorization": "Bearer guess"})
        assert wrong.status_code == 401
        right = httpx.post(f"{url}/v1/embeddings", json={"input": "a"}, headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200


def test_no_cors_unless_asked(embedding_model):
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    with live_server(embedding_model) as url:
        assert "access-control-allow-origin" not in httpx.options(f"{url}/embed", headers=preflight).headers
    with live_server(embedding_model, cors_origins=("https://app.example",)) as url:
        allowed = httpx.options(f"{url}/embed", headers=preflight).headers
        assert allowed["access-control-allow-origin"] == "https://app.example"


def test_overload_gives_429_with_retry_after_never_5xx(embedding_model):
    long_texts = ["a sentence that takes the model a while to read " * 20] * 16
    with live_server(embedding_model, max_concurrent_requests=2) as url:
        with httpx.Client(timeout=120) as session, ThreadPoolExecutor(12) as pool:
            responses = list(pool.map(lambda _: session.post(f"{url}/embed", json={"inputs": long_texts}), range(12)))
        statuses = [response.status_code for response in responses]
        assert set(statuses) <= {200, 429} and statuses.count(200) >= 2 and 429 in statuses
        refused = next(response for response in responses if response.status_code == 429)
        assert refused.headers["retry-after"] == "1" and error_of(refused)["type"] == "rate_limit_error"
        assert httpx.get(f"{url}/health").status_code == 200


def test_a_raw_socket_with_garbage_does_not_hurt_the_server(server_url, client):
    host, port = server_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n\xff\xfe\x00{[")
        assert raw.recv(4096).split(b" ")[1] == b"422"
    assert client.post("/embed", json={"inputs": "still fine"}).status_code == 200


def test_a_model_failure_is_a_json_500_and_the_server_carries_on(embedding_model, monkeypatch):
    with live_server(embedding_model) as url:
        with monkeypatch.context() as patch:

            def fail(*args, **kwargs):
                raise RuntimeError("out of memory")

            patch.setattr(embedding_model, "embed_rows", fail)
            failed = httpx.post(f"{url}/embed", json={"inputs": "a"}, timeout=60)
        assert failed.status_code == 500 and "out of memory" in error_of(failed)["message"]
        assert httpx.post(f"{url}/embed", json={"inputs": "a"}, timeout=60).status_code == 200
        assert httpx.get(f"{url}/health").status_code == 200


def test_a_body_that_is_not_utf8_is_an_invalid_request(client):
    response = client.post("/embed", content=b'{"inputs": "\xff"}', headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500 and error_of(response)["type"] == "invalid_request_error"


class PanicException(BaseException):
    """What a Rust panic inside `tokenizers` raises (pyo3's PanicException derives from BaseException)."""


def panic(*args, **kwargs):
    raise PanicException("called `Option::unwrap()` on a `None` value")


@pytest.mark.parametrize("where", ["tokenize_unpadded", "embed_rows"])
def test_a_panic_is_a_json_500_and_the_server_carries_on(embedding_model, monkeypatch, where):
    owner = embedding_model.input_module if where == "tokenize_unpadded" else embedding_model
    with live_server(embedding_model) as url:
        with monkeypatch.context() as patch:
            patch.setattr(owner, where, panic)
            failed = httpx.post(f"{url}/embed", json={"inputs": "a"}, timeout=30)
        assert failed.status_code == 500 and "PanicException" in error_of(failed)["message"]
        assert error_of(failed)["type"] == "server_error"
        assert httpx.post(f"{url}/embed", json={"inputs": "a"}, timeout=30).status_code == 200


@pytest.mark.parametrize("name", ["header_timeout", "body_timeout"])
@pytest.mark.parametrize("value", [0, -1.5, float("inf"), float("nan"), True, "10"])
def test_timeouts_must_be_positive_seconds(name, value):
    from sentembed.server import ServeSettings

    with pytest.raises(ValueError, match=rf"{name} \(seconds\) must be a positive finite number"):
        ServeSettings(**{name: value})
