"""EmbeddingCache: results equal uncached encoding exactly, keys keep apart what differs, several processes
share one file, eviction, and damaged files."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import numpy as np
import pytest
import torch

from sentembed import SentenceTransformer
from sentembed.cache import EmbeddingCache, model_fingerprint
from sentembed.cli.main import main
from sentembed.store import EmbeddingStore
from tests.support.paths import MINILM_L3, REPO

ENTRY_BYTES = 384 * 4


@pytest.fixture()
def cache(tmp_path) -> EmbeddingCache:
    with EmbeddingCache(tmp_path / "cache.db") as opened:
        yield opened


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"normalize_embeddings": True},
        {"truncate_dim": 64},
        {"precision": "int8"},
        {"precision": "ubinary", "truncate_dim": 128},
        {"convert_to_tensor": True},
    ],
)
def test_cached_results_equal_uncached_exactly(minilm_l3, sts_sentences, cache, options):
    texts = sts_sentences[:150]
    expected = minilm_l3.encode(texts, **options)
    cold = minilm_l3.encode(texts, cache=cache, **options)
    warm = minilm_l3.encode(texts, cache=cache, **options)
    assert cache.stats() | {"path": None} == {
        "path": None,
        "entries": 150,
        "bytes": 150 * ENTRY_BYTES,
        "max_bytes": None,
        "hits": 150,
        "misses": 150,
    }
    for result in (cold, warm):
        if isinstance(expected, torch.Tensor):
            assert torch.equal(result, expected)
        else:
            np.testing.assert_array_equal(result, expected)


def test_a_partly_cached_call_encodes_only_the_new_texts(minilm_l3, sts_sentences, cache):
    """Cached vectors are the ones computed when a text was first seen: fresh ones of the same text in
    another batch may differ in the last bits, as any two encode calls may."""
    minilm_l3.encode(sts_sentences[:100], cache=cache)
    mixed = minilm_l3.encode(sts_sentences[:150], cache=cache)
    assert cache.stats()["hits"] == 100 and cache.stats()["misses"] == 150
    np.testing.assert_allclose(mixed, minilm_l3.encode(sts_sentences[:150]), atol=1e-6)


def test_token_embeddings_are_cached_too(minilm_l3, sts_sentences, cache):
    texts = sts_sentences[:20]
    expected = minilm_l3.encode(texts, output_value="token_embeddings")
    minilm_l3.encode(texts, output_value="token_embeddings", cache=cache)
    cached = minilm_l3.encode(texts, output_value="token_embeddings", cache=cache)
    assert cache.stats()["hits"] == 20 and all(torch.equal(a, b) for a, b in zip(cached, expected, strict=True))
    with pytest.raises(ValueError, match="the cache keeps"):
        minilm_l3.encode(texts, output_value=None, cache=cache)


def test_keys_keep_prompts_models_and_lengths_apart(minilm_l3, minilm_l6, sts_sentences, cache):
    texts = sts_sentences[:30]
    plain = minilm_l3.encode(texts, cache=cache)
    prompted = minilm_l3.encode(texts, prompt="query: ", cache=cache)
    other_model = minilm_l6.encode(texts, cache=cache)
    assert cache.stats()["hits"] == 0 and cache.stats()["entries"] == 90
    np.testing.assert_array_equal(prompted, minilm_l3.encode(texts, prompt="query: "))
    np.testing.assert_array_equal(other_model, minilm_l6.encode(texts))
    assert not np.allclose(plain, prompted)
    short = SentenceTransformer(str(MINILM_L3), device="cpu")
    short.max_seq_length = 8
    np.testing.assert_array_equal(short.encode(texts, cache=cache), short.encode(texts))
    assert cache.stats()["hits"] == 0


def test_changed_weights_change_the_fingerprint(sts_sentences, cache):
    model = SentenceTransformer(str(MINILM_L3), device="cpu")
    before = model_fingerprint(model)
    assert model_fingerprint(model) == before == model_fingerprint(SentenceTransformer(str(MINILM_L3), device="cpu"))
    model.encode(sts_sentences[:10], cache=cache)
    with torch.no_grad():
        model[0].auto_model.encoder.layer[0].output.dense.weight.mul_(1.01)
    assert model_fingerprint(model) != before
    np.testing.assert_array_equal(model.encode(sts_sentences[:10], cache=cache), model.encode(sts_sentences[:10]))
    assert cache.stats()["hits"] == 0


WRITER = """
import sys
from sentembed import SentenceTransformer
from sentembed.cache import EmbeddingCache
sys.path.insert(0, ".")
from tests.support.data import sts_test_sentences
model = SentenceTransformer(sys.argv[1], device="cpu")
texts = sts_test_sentences()
cache = EmbeddingCache(sys.argv[2])
part = int(sys.argv[3])
for start in range(part * 300, part * 300 + 300, 30):
    model.encode(texts[start : start + 30], cache=cache)
"""


def test_two_processes_write_one_cache_at_once(minilm_l3, sts_sentences, tmp_path):
    path = tmp_path / "shared.db"
    EmbeddingCache(path).close()
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(MINILM_L3), str(path), str(part)], cwd=REPO)
        for part in (0, 1)
    ]
    assert [writer.wait(timeout=300) for writer in writers] == [0, 0]
    with EmbeddingCache(path) as cache:
        assert cache.stats()["entries"] == 600
        np.testing.assert_allclose(
            minilm_l3.encode(sts_sentences[:600], cache=cache), minilm_l3.encode(sts_sentences[:600]), atol=1e-6
        )
        assert cache.stats()["hits"] == 600


def test_least_recently_used_entries_are_evicted(minilm_l3, sts_sentences, tmp_path):
    with EmbeddingCache(tmp_path / "small.db", max_bytes=150 * ENTRY_BYTES) as cache:
        minilm_l3.encode(sts_sentences[:100], cache=cache)
        minilm_l3.encode(sts_sentences[:50], cache=cache)  # the first 50 become the most recently used
        minilm_l3.encode(sts_sentences[100:200], cache=cache)
        assert cache.stats()["entries"] == 150 and cache.stats()["bytes"] <= 150 * ENTRY_BYTES
        hits = cache.stats()["hits"]
        minilm_l3.encode(sts_sentences[:50], cache=cache)
        assert cache.stats()["hits"] == hits + 50
        minilm_l3.encode(sts_sentences[50:100], cache=cache)
        assert cache.stats()["hits"] == hits + 50  # those were evicted


def test_clear_empties_the_cache(minilm_l3, sts_sentences, cache):
    minilm_l3.encode(sts_sentences[:10], cache=cache)
    cache.clear()
    assert cache.stats()["entries"] == 0


def test_a_damaged_or_foreign_file_is_an_error_unless_rebuilt(minilm_l3, sts_sentences, tmp_path):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(OSError, match="garbage.db is damaged or is not a sentembed embedding cache"):
        EmbeddingCache(garbage)
    EmbeddingCache(garbage, rebuild=True).close()

    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE accounts (name TEXT)")
    with pytest.raises(OSError, match="it holds other tables"):
        EmbeddingCache(foreign)

    truncated = tmp_path / "truncated.db"
    with EmbeddingCache(truncated) as cache:
        minilm_l3.encode(sts_sentences[:500], cache=cache)
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(OSError, match="truncated.db"), EmbeddingCache(truncated) as cache:
        minilm_l3.encode(sts_sentences[:500], cache=cache)


def test_a_damaged_entry_is_never_returned(minilm_l3, sts_sentences, tmp_path):
    path = tmp_path / "cache.db"
    with EmbeddingCache(path) as cache:
        minilm_l3.encode(sts_sentences[:5], cache=cache)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE entries SET data = substr(data, 1, 100)")
    with EmbeddingCache(path) as cache, pytest.raises(OSError, match="damaged entry"):
        minilm_l3.encode(sts_sentences[:5], cache=cache)


def test_bad_cache_paths_and_objects_are_refused(minilm_l3, tmp_path, monkeypatch):
    with pytest.raises(OSError, match="is a folder"):
        EmbeddingCache(tmp_path)
    with pytest.raises(OSError, match="does not exist"):
        EmbeddingCache(tmp_path / "missing" / "cache.db")
    (tmp_path / "ro.db").touch()
    monkeypatch.setattr("os.access", lambda path, mode: False)  # root may write anywhere; pretend we may not
    with pytest.raises(OSError, match="is read-only"):
        EmbeddingCache(tmp_path / "ro.db")
    monkeypatch.undo()
    with pytest.raises(TypeError, match="cache must be a sentembed.cache.EmbeddingCache"):
        minilm_l3.encode("text", cache=str(tmp_path / "cache.db"))
    with pytest.raises(ValueError, match="max_bytes must be a positive integer"):
        EmbeddingCache(tmp_path / "x.db", max_bytes=0)


def test_the_store_and_the_cli_use_the_cache(minilm_l3, sts_sentences, tmp_path, capsys):
    with EmbeddingCache(tmp_path / "cache.db") as cache:
        EmbeddingStore.build(tmp_path / "a", minilm_l3, sts_sentences[:40], cache=cache, show_progress_bar=False)
        second = EmbeddingStore.build(
            tmp_path / "b", minilm_l3, sts_sentences[:40], cache=cache, show_progress_bar=False
        )
        assert cache.stats()["hits"] == 40
        np.testing.assert_array_equal(second.embeddings(), EmbeddingStore.open(tmp_path / "a").embeddings())
    arguments = ["encode", "--model", str(MINILM_L3), "--cache", str(tmp_path / "cli.db"), "one", "two"]
    assert main(arguments) == 0 and main(arguments) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[:2] == lines[2:]


def test_a_cache_bound_to_a_model_refuses_another(minilm_l3, minilm_l6, sts_sentences, tmp_path):
    path = tmp_path / "bound.db"
    with EmbeddingCache(path, model=minilm_l3) as cache:
        minilm_l3.encode(sts_sentences[:5], cache=cache)
        with pytest.raises(ValueError, match="is bound to another model"):
            minilm_l6.encode(sts_sentences[:5], cache=cache)
    with pytest.raises(ValueError, match="is bound to another model"):
        EmbeddingCache(path, model=minilm_l6)
    with EmbeddingCache(path) as cache, pytest.raises(ValueError, match="is bound to another model"):
        minilm_l6.encode(sts_sentences[:5], cache=cache)
    with EmbeddingCache(path, model=minilm_l6, rebuild=True) as cache:
        assert cache.stats()["entries"] == 0
        minilm_l6.encode(sts_sentences[:5], cache=cache)
