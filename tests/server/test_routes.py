"""Every route against a live server: results equal the library's own calls, in each API's shape."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from tests.support.data import read_beir, read_sts
from tests.support.server import MODEL_NAME, RERANKER_NAME

openai = pytest.importorskip("openai")


@pytest.fixture(scope="module")
def mixed_texts() -> list[str]:
    """STSb sentences and SciFact abstracts, short and long (some over the model's 256 tokens)."""
    first, _, _ = read_sts("test")
    _, corpus, _ = read_beir("scifact_1k")
    return first[:20] + list(corpus.values())[:12]


def openai_client(server_url: str):
    return openai.OpenAI(base_url=f"{server_url}/v1", api_key="unused", max_retries=0, timeout=120)


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
def test_the_openai_client_gets_what_encode_gives(server_url, minilm_l6, mixed_texts, encoding_format):
    expected = minilm_l6.encode(mixed_texts, normalize_embeddings=True)
    response = openai_client(server_url).embeddings.create(
        model=MODEL_NAME, input=mixed_texts, encoding_format=encoding_format
    )
    if encoding_format == "base64":  # asked for explicitly, the client hands the string over as it came
        got = np.array([np.frombuffer(base64.b64decode(item.embedding), dtype="<f4") for item in response.data])
    else:
        got = np.array([item.embedding for item in response.data], dtype=np.float32)
    assert [item.index for item in response.data] == list(range(len(mixed_texts)))
    np.testing.assert_allclose(got, expected, atol=1e-6)
    tokens = int(minilm_l6.tokenize(mixed_texts)["attention_mask"].sum())
    assert response.usage.prompt_tokens == response.usage.total_tokens == tokens
    assert response.model == MODEL_NAME


def test_the_openai_client_default_format_is_decoded(server_url, minilm_l6):
    # the official client asks for base64 when no format is given, and decodes it itself
    response = openai_client(server_url).embeddings.create(model=MODEL_NAME, input="A man is playing a flute.")
    expected = minilm_l6.encode("A man is playing a flute.", normalize_embeddings=True)
    np.testing.assert_allclose(np.array(response.data[0].embedding), expected, atol=1e-6)


def test_base64_is_little_endian_float32(client, minilm_l6):
    body = client.post("/v1/embeddings", json={"input": ["a cat"], "encoding_format": "base64"}).json()
    vector = np.frombuffer(base64.b64decode(body["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(vector, minilm_l6.encode("a cat", normalize_embeddings=True), atol=1e-6)


def test_dimensions_truncate_then_normalise(client, minilm_l6):
    body = client.post("/v1/embeddings", json={"input": ["a cat", "a dog"], "dimensions": 64}).json()
    got = np.array([item["embedding"] for item in body["data"]])
    expected = minilm_l6.encode(["a cat", "a dog"], truncate_dim=64, normalize_embeddings=True)
    assert got.shape == (2, 64)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_token_id_inputs_embed_as_their_text(client, minilm_l6):
    ids = minilm_l6.tokenizer("a cat sat on the mat", add_special_tokens=False)["input_ids"]
    single = client.post("/v1/embeddings", json={"input": ids}).json()
    several = client.post("/v1/embeddings", json={"input": [ids, ids[:2]]}).json()
    expected = minilm_l6.encode(["a cat sat on the mat", "a cat"], normalize_embeddings=True)
    np.testing.assert_allclose(single["data"][0]["embedding"], expected[0], atol=1e-6)
    np.testing.assert_allclose([item["embedding"] for item in several["data"]], expected, atol=1e-6)


def test_token_ids_that_hold_the_special_tokens_get_no_second_pair(client, minilm_l6):
    ids = minilm_l6.tokenizer("a cat sat on the mat")["input_ids"]  # [CLS] ... [SEP], as the tokenizer gives them
    body = client.post("/v1/embeddings", json={"input": [ids, ids[1:], ids[:-1]]}).json()
    expected = minilm_l6.encode("a cat sat on the mat", normalize_embeddings=True)
    for item in body["data"]:
        np.testing.assert_allclose(item["embedding"], expected, atol=1e-6)
    assert body["usage"]["prompt_tokens"] == 3 * len(ids)


def test_tei_embed_keeps_raw_vectors_when_asked(client, minilm_l6, mixed_texts):
    texts = mixed_texts[:8]
    raw = np.array(client.post("/embed", json={"inputs": texts, "normalize": False}).json())
    normalised = np.array(client.post("/embed", json={"inputs": texts}).json())
    np.testing.assert_allclose(raw, minilm_l6.encode(texts), atol=1e-6)
    np.testing.assert_allclose(normalised, minilm_l6.encode(texts, normalize_embeddings=True), atol=1e-6)
    single = client.post("/embed", json={"inputs": texts[0], "dimensions": 32, "normalize": False}).json()
    np.testing.assert_allclose(single[0], minilm_l6.encode(texts[0])[:32], atol=1e-6)


def test_truncated_inputs_are_counted_in_a_header(client, minilm_l6, mixed_texts):
    response = client.post("/embed", json={"inputs": mixed_texts})
    long_ones = sum(len(ids) > 256 for ids in minilm_l6.tokenizer(mixed_texts, truncation=False)["input_ids"])
    assert long_ones > 0
    assert response.headers["x-sentembed-truncated"] == str(long_ones)
    assert client.post("/embed", json={"inputs": "a cat"}).headers["x-sentembed-truncated"] == "0"


def test_prompts_are_applied_by_name(embedding_model, minilm_l6):
    from tests.support.server import live_server

    embedding_model.prompts = {"query": "query: ", "document": ""}
    try:
        with live_server(embedding_model) as url:
            import httpx

            body = httpx.post(f"{url}/v1/embeddings", json={"input": ["a cat"], "prompt_name": "query"}).json()
            unknown = httpx.post(f"{url}/embed", json={"inputs": "a cat", "prompt_name": "nope"})
    finally:
        embedding_model.prompts = {}
    expected = minilm_l6.encode(["a cat"], prompt="query: ", normalize_embeddings=True)
    np.testing.assert_allclose(body["data"][0]["embedding"], expected[0], atol=1e-6)
    assert unknown.status_code == 422 and unknown.json()["error"]["param"] == "prompt_name"


def test_tei_rerank_orders_by_the_cross_encoders_scores(client, reranker_model):
    query = "how are glacier caves formed?"
    texts = [
        "A partly submerged glacier cave on Perito Moreno Glacier.",
        "A glacier cave is a cave formed within the ice of a glacier.",
        "The ice facade is approximately 60 m high.",
    ]
    expected = reranker_model.predict([(query, text) for text in texts])
    ranked = client.post("/rerank", json={"query": query, "texts": texts, "return_text": True}).json()
    assert [item["index"] for item in ranked] == list(np.argsort(-expected))
    np.testing.assert_allclose([item["score"] for item in ranked], np.sort(expected)[::-1], atol=1e-6)
    assert [item["text"] for item in ranked] == [texts[item["index"]] for item in ranked]
    raw = client.post("/rerank", json={"query": query, "texts": texts, "raw_scores": True}).json()
    logits = reranker_model.predict([(query, text) for text in texts], activation_fn=lambda x: x)
    np.testing.assert_allclose(sorted(item["score"] for item in raw), sorted(logits), atol=1e-5)


def test_cohere_rerank_gives_top_n_with_documents(client, reranker_model):
    query = "how are glacier caves formed?"
    documents = ["The ice facade is 60 m high.", {"text": "A glacier cave is a cave formed within the ice."}, "Cats."]
    texts = [item if isinstance(item, str) else item["text"] for item in documents]
    scores = reranker_model.predict([(query, text) for text in texts])
    body = client.post(
        "/v1/rerank",
        json={"model": RERANKER_NAME, "query": query, "documents": documents, "top_n": 2, "return_documents": True},
    ).json()
    assert [item["index"] for item in body["results"]] == list(np.argsort(-scores)[:2])
    got = [item["relevance_score"] for item in body["results"]]
    np.testing.assert_allclose(got, np.sort(scores)[::-1][:2], atol=1e-6)
    assert body["results"][0]["document"] == {"text": texts[body["results"][0]["index"]]}
    assert body["model"] == RERANKER_NAME and body["usage"]["total_tokens"] > 0


def test_similarity_scores_the_source_against_each_sentence(client, minilm_l6):
    sentences = ["A man is playing a guitar.", "A woman slices an onion.", "Someone plays an instrument."]
    inputs = {"source_sentence": "A man plays music.", "sentences": sentences}
    body = client.post("/similarity", json={"inputs": inputs})
    expected = minilm_l6.similarity(minilm_l6.encode(["A man plays music."]), minilm_l6.encode(sentences))[0]
    np.testing.assert_allclose(body.json(), expected.numpy(), atol=1e-6)


def test_tokenize_gives_ids_with_character_offsets(client, minilm_l6):
    text = "Glacier caves melt"
    tokens = client.post("/tokenize", json={"inputs": [text]}).json()[0]
    assert [token["id"] for token in tokens] == minilm_l6.tokenizer(text)["input_ids"]
    assert tokens[0]["special"] and tokens[-1]["special"] and tokens[0]["start"] is None
    words = [token for token in tokens if not token["special"]]
    assert "".join(text[token["start"] : token["stop"]] for token in words).lower() == "glaciercavesmelt"
    plain = client.post("/tokenize", json={"inputs": text, "add_special_tokens": False}).json()[0]
    assert [token["id"] for token in plain] == [token["id"] for token in words]


def test_tokenize_cuts_at_the_models_length_unless_told_not_to(client, minilm_l6, mixed_texts):
    long = max(mixed_texts, key=len)
    cut = client.post("/tokenize", json={"inputs": [long, "a cat"]}).json()
    assert [token["id"] for token in cut[0]] == minilm_l6.tokenize([long])["input_ids"][0].tolist()
    assert [token["id"] for token in cut[1]] == minilm_l6.tokenizer("a cat")["input_ids"]
    whole = client.post("/tokenize", json={"inputs": [long], "truncate": False}).json()[0]
    assert [token["id"] for token in whole] == minilm_l6.tokenizer(long)["input_ids"] and len(whole) > 256


def test_tokenize_on_a_fresh_server_adds_no_padding():
    import httpx

    from sentembed import SentenceTransformer
    from tests.support.paths import minilm_l6_folder
    from tests.support.server import live_server

    fresh = SentenceTransformer(str(minilm_l6_folder()))  # its tokenizer.json asks for padding to 128
    with live_server(fresh) as url:
        tokens = httpx.post(f"{url}/tokenize", json={"inputs": "a cat"}, timeout=60).json()[0]
    assert [token["id"] for token in tokens] == fresh.tokenizer("a cat")["input_ids"]


def test_health_info_models_and_openapi(client):
    assert client.get("/health").json() == {"status": "ok"}
    info = client.get("/info").json()
    assert info["model_id"] == MODEL_NAME and info["embedding_dimension"] == 384 and info["max_input_length"] == 256
    assert info["max_concurrent_requests"] == 512 and info["max_batch_tokens"] == 16384
    assert info["max_client_batch_size"] == 32 and info["payload_limit"] == 2_000_000
    assert info["batch_size"] == 8  # an app from create_app alone, whatever its backend
    assert info["header_timeout"] == 10 and info["body_timeout"] == 30
    models = client.get("/v1/models").json()
    assert [item["id"] for item in models["data"]] == [MODEL_NAME, RERANKER_NAME]
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/embeddings", "/embed", "/rerank", "/v1/rerank", "/similarity", "/tokenize", "/health"):
        assert path in paths


def test_metrics_count_requests_inputs_and_batches(client):
    client.post("/embed", json={"inputs": ["one", "two", "three"]})
    text = client.get("/metrics").text
    names = ["sentembed_requests_total", "sentembed_inputs_total", "sentembed_tokens_total", "sentembed_queue_inputs"]
    for name in [*names, "sentembed_batch_inputs_bucket", "sentembed_request_seconds_bucket"]:
        assert name in text
    assert 'sentembed_requests_total{route="/embed",status="200"}' in text


def test_the_onnx_backend_serves_what_it_encodes(tmp_path):
    import shutil

    import httpx

    from sentembed.server import load_models
    from tests.support.paths import MINILM_L3
    from tests.support.server import live_server

    folder = shutil.copytree(MINILM_L3, tmp_path / "model", ignore=shutil.ignore_patterns("onnx"))
    model, _ = load_models(str(folder), backend="onnx", device="cpu")
    texts = ["A man is eating food.", "A glacier cave is formed within the ice of a glacier."]
    expected = model.encode(texts)
    with live_server(model) as url:
        got = httpx.post(f"{url}/embed", json={"inputs": texts, "normalize": False}).json()
    assert type(model.input_module).__name__ == "OnnxTransformer"
    np.testing.assert_allclose(got, expected, atol=1e-6)
