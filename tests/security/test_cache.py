"""What the embedding cache cannot be made to do: return vectors of a pipeline that changed in memory since they
were stored, or return entries whose shape, dtype or values were tampered with."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
import torch

from sentembed import SentenceTransformer
from sentembed.cache import EmbeddingCache
from sentembed.models import Normalize, Pooling
from tests.support.paths import MINILM_L3


@pytest.fixture()
def model() -> SentenceTransformer:
    """paraphrase-MiniLM-L3-v2, loaded for this test alone: the tests change it in memory."""
    return SentenceTransformer(str(MINILM_L3), device="cpu")


@pytest.fixture()
def cache(tmp_path) -> EmbeddingCache:
    with EmbeddingCache(tmp_path / "cache.db") as opened:
        yield opened


def word_embeddings(model: SentenceTransformer) -> torch.nn.Parameter:
    return model[0].auto_model.embeddings.word_embeddings.weight


CHANGES = {
    "cls pooling": lambda model: model.__setitem__(1, Pooling(384, pooling_mode="cls")),
    "pooling mode changed in place": lambda model: setattr(model[1], "modes", ["max"]),
    "appended Normalize": lambda model: model.append(Normalize()),
    "weight edited through .data": lambda model: word_embeddings(model).data.mul_(1.5),
    "weight edited through numpy": lambda model: np.multiply(
        word_embeddings(model).detach().numpy(), 1.5, out=word_embeddings(model).detach().numpy()
    ),
    "weight replaced": lambda model: setattr(word_embeddings(model), "data", word_embeddings(model).data * 1.5),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_the_cache_follows_a_pipeline_changed_in_memory(model, cache, sts_sentences, change):
    texts = sts_sentences[:8]
    before = model.encode(texts, cache=cache)
    CHANGES[change](model)
    expected = model.encode(texts)
    assert not np.allclose(expected, before, atol=1e-4)
    hits = cache.stats()["hits"]
    np.testing.assert_array_equal(model.encode(texts, cache=cache), expected)
    assert cache.stats()["hits"] == hits


def test_a_module_the_fingerprint_cannot_follow_is_refused(model, cache, sts_sentences):
    class Shift(torch.nn.Module):
        """Adds a plain attribute to the embedding: nothing the fingerprint could see."""

        def __init__(self) -> None:
            super().__init__()
            self.amount = 1.0

        def forward(self, features):
            return {**features, "sentence_embedding": features["sentence_embedding"] + self.amount}

    model.append(Shift())
    with pytest.raises(ValueError, match=r"cannot follow module 2 \(Shift\).*encode without cache="):
        model.encode(sts_sentences[:2], cache=cache)
    assert model.encode(sts_sentences[:2]).shape == (2, 384)


TAMPERING = {
    "shape": ("UPDATE entries SET shape = '[2, 192]'", r"has shape \[2, 192\]"),
    "dtype": ("UPDATE entries SET dtype = 'float16', shape = '[768]'", r"holds float16 values"),
    "NaN": ("UPDATE entries SET data = nan_first(data)", r"holds NaN or inf"),
}


def nan_first(data: bytes) -> bytes:
    """An entry's bytes with its first float32 value turned into NaN."""
    return np.float32(np.nan).tobytes() + data[4:]


@pytest.mark.parametrize("tampering", list(TAMPERING))
@pytest.mark.parametrize("fresh", [False, True], ids=["all cached", "with fresh texts"])
def test_tampered_entries_are_never_returned(model, tmp_path, sts_sentences, tampering, fresh):
    statement, message = TAMPERING[tampering]
    path = tmp_path / "cache.db"
    with EmbeddingCache(path) as cache:
        model.encode(sts_sentences[:4], cache=cache)
    with sqlite3.connect(path) as connection:
        connection.create_function("nan_first", 1, nan_first)
        connection.execute(statement)
    texts = sts_sentences[:6] if fresh else sts_sentences[:4]
    with EmbeddingCache(path) as cache, pytest.raises(OSError, match=rf"cache.db: an entry {message}.*clear the cache"):
        model.encode(texts, cache=cache)


def test_vectors_with_nan_are_returned_but_not_cached(model, cache):
    token = model.tokenizer.convert_tokens_to_ids("zebra")
    with torch.no_grad():
        word_embeddings(model)[token] = float("nan")
    vectors = model.encode(["a zebra", "a horse"], cache=cache)
    assert np.isnan(vectors[0]).all() and np.isfinite(vectors[1]).all()
    assert cache.stats()["entries"] == 1
