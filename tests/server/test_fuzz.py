"""A property-based fuzz of the server's OpenAPI schema (schemathesis strategies driven by hypothesis):
no generated request, valid or not, gets a 5xx."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests.support.server import live_server  # noqa: E402

EXAMPLES_PER_ROUTE = 25
ROUTES = [
    ("POST", "/v1/embeddings"), ("POST", "/embed"), ("POST", "/rerank"), ("POST", "/v1/rerank"),
    ("POST", "/similarity"), ("POST", "/tokenize"), ("GET", "/health"), ("GET", "/info"), ("GET", "/v1/models"),
]  # fmt: skip


@pytest.fixture(scope="module")
def api_schema(embedding_model, reranker_model):
    with live_server(embedding_model, reranker_model) as url:
        yield schemathesis.openapi.from_url(f"{url}/openapi.json")


# Valid requests on every route; invalid ones (wrong types, missing fields) where there is a body to get wrong.
CASES = [(*route, "positive") for route in ROUTES] + [(*route, "negative") for route in ROUTES if route[0] == "POST"]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_no_generated_request_gets_a_server_error(api_schema, method, path, mode):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(schemathesis.GenerationMode(mode)))
    @settings(max_examples=EXAMPLES_PER_ROUTE, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case) -> None:
        response = case.call(timeout=60)
        assert response.status_code < 500, f"{method} {path} {case.body!r} -> {response.status_code}"

    check()
