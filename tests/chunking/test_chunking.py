"""Long documents in chunks: token windows with character offsets, per-document vectors pooled from chunks,
and chunked stores whose search returns documents."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sentembed.chunking import Chunking, chunk_text, chunk_texts
from sentembed.cli.main import main
from sentembed.store import EmbeddingStore
from sentembed.util import cos_sim
from tests.support.paths import MINILM_L3


@pytest.fixture(scope="module")
def documents(sts_sentences) -> list[str]:
    """Twenty documents of 30 STSb sentences each (about 400 tokens: longer than the model's 128)."""
    return [" ".join(sts_sentences[start : start + 30]) for start in range(0, 600, 30)]


def test_chunks_are_token_windows_with_offsets(minilm_l3, documents):
    text = documents[0]
    tokens = minilm_l3.tokenizer(text, add_special_tokens=False)["input_ids"]
    chunks = chunk_text(text, minilm_l3.tokenizer, chunk_tokens=50, overlap=10)
    assert all(text[chunk.start : chunk.end] == chunk.text for chunk in chunks)
    assert all(0 < chunk.tokens <= 50 for chunk in chunks)
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    assert (
        sum(chunk.tokens for chunk in chunks) - 10 * (len(chunks) - 1) <= len(tokens) <= sum(c.tokens for c in chunks)
    )
    for previous, following in zip(chunks, chunks[1:], strict=False):
        assert following.start < previous.end  # they overlap
        assert len(minilm_l3.tokenizer(following.text, add_special_tokens=False)["input_ids"]) == following.tokens


def test_sentence_chunks_end_at_sentence_ends(minilm_l3, documents):
    chunks = chunk_text(documents[1], minilm_l3.tokenizer, chunk_tokens=60, by_sentence=True)
    assert len(chunks) > 3
    assert all(chunk.text.rstrip()[-1] in ".!?\"')" for chunk in chunks[:-1])
    assert all(chunk.tokens <= 60 for chunk in chunks)


def test_an_empty_text_is_one_empty_chunk(minilm_l3):
    assert chunk_texts(["", "short"], minilm_l3)[0][0].text == ""


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"chunk_tokens": 7}, "chunk_tokens must be between 8 and 126"),
        ({"chunk_tokens": 127}, "chunk_tokens must be between 8 and 126"),
        ({"chunk_tokens": 32, "overlap": 32}, "overlap must be an integer from 0 to chunk_tokens - 1"),
        ({"chunk_tokens": 32, "pooling": "median"}, "unknown chunk pooling"),
    ],
)
def test_bad_chunk_settings_are_value_errors(minilm_l3, settings, message):
    with pytest.raises(ValueError, match=message):
        Chunking(**settings).for_model(minilm_l3)


def test_encode_pools_a_texts_chunk_vectors(minilm_l3, documents, caplog):
    short = "A man is playing a guitar."
    with caplog.at_level("WARNING"):
        pooled = minilm_l3.encode([documents[2], short], chunking={"chunk_tokens": 64, "overlap": 16})
    assert "truncated" not in caplog.text  # every chunk fits the model
    chunks = [chunk.text for chunk in chunk_text(documents[2], minilm_l3.tokenizer, 64, 16)]
    np.testing.assert_allclose(pooled[0], minilm_l3.encode(chunks).mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(pooled[1], minilm_l3.encode(short), atol=1e-6)
    maximum = minilm_l3.encode(documents[2], chunking={"chunk_tokens": 64, "pooling": "max"}, convert_to_tensor=True)
    chunk_vectors = minilm_l3.encode(
        [c.text for c in chunk_text(documents[2], minilm_l3.tokenizer, 64)], convert_to_tensor=True
    )
    torch.testing.assert_close(maximum, chunk_vectors.max(dim=0).values, atol=1e-6, rtol=0)
    normalized = minilm_l3.encode(documents[2], chunking=True, normalize_embeddings=True)
    assert normalized.shape == (384,) and np.linalg.norm(normalized) == pytest.approx(1, abs=1e-5)


def test_a_prompt_is_put_before_every_chunk_and_the_window_makes_room(minilm_l3, documents, caplog):
    with caplog.at_level("WARNING"):
        prompted = minilm_l3.encode(documents[3], chunking=True, prompt="query: ")
    assert "truncated" not in caplog.text
    chunks = chunk_text(documents[3], minilm_l3.tokenizer, 126 - 2)  # "query: " is two tokens
    np.testing.assert_allclose(
        prompted, minilm_l3.encode([c.text for c in chunks], prompt="query: ").mean(0), atol=1e-6
    )


def test_chunking_needs_sentence_embeddings(minilm_l3):
    with pytest.raises(ValueError, match="chunking pools chunk vectors"):
        minilm_l3.encode("text", chunking=True, output_value="token_embeddings")


def test_a_chunked_store_returns_documents_by_their_best_chunk(minilm_l3, documents, sts_sentences, tmp_path):
    ids = [f"doc-{index}" for index in range(len(documents))]
    store = EmbeddingStore.build(
        tmp_path / "store", minilm_l3, documents, ids=ids, chunk_tokens=48, chunk_overlap=8, show_progress_bar=False,
        metadata=[{"n": index} for index in range(len(documents))],
    )  # fmt: skip
    assert len(store) > 3 * len(documents) and store.manifest.chunking == {"chunk_tokens": 48, "overlap": 8}
    query = sts_sentences[65]  # a sentence of doc-2
    hits = store.search(query, top_k=5, return_texts=True)[0]
    assert [hit["corpus_id"] for hit in hits][0] == "doc-2" and len({hit["corpus_id"] for hit in hits}) == 5
    query_vector = minilm_l3.encode(query, normalize_embeddings=True)
    for hit in hits:
        rows = [row for row in range(len(store)) if store.get_metadata(row)["document"] == hit["corpus_id"]]
        best = cos_sim(query_vector, store.embeddings()[rows]).max().item()
        assert hit["score"] == pytest.approx(best, abs=1e-5)
        assert hit["text"] == documents[ids.index(hit["corpus_id"])][hit["chunk"]["start"] : hit["chunk"]["end"]]
    assert store.get_metadata(hits[0]["chunk"]["row"])["metadata"] == {"n": 2}
    rows = store.search(query, top_k=5, return_chunks=True)[0]
    assert all(isinstance(row["corpus_id"], int) for row in rows)
    again = EmbeddingStore.build(
        tmp_path / "store", minilm_l3, documents, ids=ids, chunk_tokens=48, chunk_overlap=8, show_progress_bar=False,
        metadata=[{"n": index} for index in range(len(documents))],
    )  # fmt: skip
    assert len(again) == len(store)
    with pytest.raises(ValueError, match="chunking="):
        EmbeddingStore.build(
            tmp_path / "store", minilm_l3, documents, ids=ids, chunk_tokens=64, show_progress_bar=False
        )


def test_index_chunks_on_the_command_line(documents, tmp_path, capsys):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": text}) + "\n" for i, text in enumerate(documents)))
    arguments = ["index", str(corpus), "--store", str(tmp_path / "store"), "-m", str(MINILM_L3), "--no-progress"]
    assert main([*arguments, "--chunk-tokens", "64", "--chunk-overlap", "8"]) == 0
    capsys.readouterr()
    assert main(["search", "--store", str(tmp_path / "store"), documents[4][:200], "-k", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["corpus_id"] == "d4"
    assert main([*arguments, "--chunk-tokens", "4"]) == 2


def test_a_numpy_integer_is_a_number_of_tokens(minilm_l3, documents):
    np.testing.assert_allclose(
        minilm_l3.encode(documents[2], chunking=np.int64(64)), minilm_l3.encode(documents[2], chunking=64), atol=1e-6
    )
    with pytest.raises(TypeError, match="chunking must be True, a number of tokens"):
        minilm_l3.encode(documents[2], chunking=64.0)


def test_a_prompt_that_fills_the_window_is_named(minilm_l3):
    with pytest.raises(ValueError, match=r"the prompt takes 20\d tokens of the 128 the model reads"):
        minilm_l3.encode("text", chunking=True, prompt="word " * 200)


def test_chunking_a_model_without_a_length_limit_is_refused(tmp_path):
    from tokenizers import Tokenizer

    from sentembed import SentenceTransformer
    from sentembed.models import StaticEmbedding

    tokenizer = Tokenizer.from_file(str(MINILM_L3 / "tokenizer.json"))
    static = SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_dim=8)], device="cpu")
    with pytest.raises(ValueError, match="StaticEmbedding reads texts of any length"):
        static.encode("a long text", chunking=True)
