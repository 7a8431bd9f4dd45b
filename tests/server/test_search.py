"""`POST /search` over a store served with `--store`: the store's own answers, its filters and modes, the
server's errors and key, and a store built with another model refused at start."""

from __future__ import annotations

import httpx
import pytest

from sentembed.server import ServeSettings, create_app
from sentembed.store import EmbeddingStore
from tests.support.paths import MINILM_L3
from tests.support.server import live_server

pytest.importorskip("bm25s")


@pytest.fixture(scope="module")
def store_folder(embedding_model, sts_sentences, tmp_path_factory) -> str:
    """60 STSb test sentences, ids s0..s59, a year per row, with a BM25 index."""
    texts = sts_sentences[:60]
    folder = tmp_path_factory.mktemp("search") / "store"
    EmbeddingStore.build(
        folder,
        embedding_model,
        texts,
        ids=[f"s{i}" for i in range(60)],
        metadata=[{"year": 2000 + i % 20} for i in range(60)],
        lexical=True,
        show_progress_bar=False,
    )
    return str(folder)


@pytest.fixture(scope="module")
def search_url(embedding_model, store_folder):
    with live_server(embedding_model, store_path=store_folder, api_key="k") as url:
        yield url


def post(url: str, body: dict | str, key: str | None = "k") -> httpx.Response:
    """POST a JSON body (a str is sent as it is, for JSON that Python cannot encode, like a lone surrogate)."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"} if key else {}
    if isinstance(body, str):
        return httpx.post(f"{url}/search", content=body.encode(), headers=headers, timeout=120)
    return httpx.post(f"{url}/search", json=body, headers=headers, timeout=120)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"top_k": 3, "mode": "hybrid"},
        {"top_k": 5, "mode": "lexical", "return_texts": True},
        {"top_k": 4, "filter": {"year": {"$gte": 2015}}},
    ],
)
def test_search_answers_what_the_store_answers(search_url, embedding_model, store_folder, sts_sentences, options):
    queries = [sts_sentences[3], "a man is playing the guitar"]
    answer = post(search_url, {"query": queries, **options})
    assert answer.status_code == 200, answer.text
    expected = EmbeddingStore.open(store_folder).search(queries, model=embedding_model, **options)
    assert [[hit["corpus_id"] for hit in row] for row in answer.json()] == [
        [hit["corpus_id"] for hit in row] for row in expected
    ]
    for got, want in zip(answer.json(), expected, strict=True):
        assert [hit["score"] for hit in got] == pytest.approx([hit["score"] for hit in want], abs=1e-6)
    if "filter" in options:
        assert all(int(hit["corpus_id"][1:]) % 20 >= 15 for row in answer.json() for hit in row)


def test_a_single_query_gets_one_list_of_hits(search_url, sts_sentences):
    hits = post(search_url, {"query": sts_sentences[7], "top_k": 1}).json()
    assert hits[0]["corpus_id"] == "s7" and hits[0]["score"] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"query": "x", "filter": {"year": {"$near": 3}}}, 422, "filter"),
        ({"query": "x", "mode": "fuzzy"}, 422, None),
        ({"query": "x", "top_k": 0}, 422, None),
        ({"query": []}, 422, "query"),
        ('{"query": "a\\ud800b"}', 422, "query"),
    ],
)
def test_bad_searches_are_json_4xx(search_url, body, status, param):
    answer = post(search_url, body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param


def test_search_needs_the_key_and_a_store(search_url, embedding_model):
    assert post(search_url, {"query": "x"}, key=None).status_code == 401
    with live_server(embedding_model) as url:
        answer = post(url, {"query": "x"}, key=None)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "no_store"


def test_a_store_of_another_model_is_refused_at_start(store_folder):
    from sentembed import SentenceTransformer

    with pytest.raises(ValueError, match="differ|another|not the model|match"):
        create_app(SentenceTransformer(str(MINILM_L3)), settings=ServeSettings(store_path=store_folder))
