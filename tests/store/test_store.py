"""EmbeddingStore: round trips, quantized search re-scored against float32, resume, atomic writes, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sentembed.store import EmbeddingStore
from sentembed.util import semantic_search


@pytest.fixture(scope="module")
def scifact_stores(scifact_1k, tmp_path_factory):
    """The SciFact 1k documents stored at each precision, with their ids and texts."""
    root = tmp_path_factory.mktemp("stores")
    return {
        precision: EmbeddingStore.create(
            root / precision, scifact_1k.docs, ids=scifact_1k.doc_ids, texts=scifact_1k.doc_texts, precision=precision
        )
        for precision in ("float32", "int8", "ubinary")
    }


def test_float_store_equals_exact_search(scifact_1k, scifact_stores):
    reopened = EmbeddingStore.open(scifact_stores["float32"].path)
    hits = reopened.search(scifact_1k.queries, top_k=10)
    exact = semantic_search(scifact_1k.queries, scifact_1k.docs, top_k=10)
    assert [[h["corpus_id"] for h in row] for row in hits] == [
        [scifact_1k.doc_ids[h["corpus_id"]] for h in row] for row in exact
    ]
    np.testing.assert_allclose([h["score"] for h in hits[0]], [h["score"] for h in exact[0]], atol=1e-6)
    assert scifact_1k.ndcg(hits) == pytest.approx(0.79605, abs=5e-4)


@pytest.mark.parametrize("precision", ["int8", "ubinary"])
def test_quantized_store_rescored_keeps_99_percent(scifact_1k, scifact_stores, precision):
    store = EmbeddingStore.open(scifact_stores[precision].path)
    float_ndcg = scifact_1k.ndcg(scifact_stores["float32"].search(scifact_1k.queries))
    hits = store.search(scifact_1k.queries, top_k=10, rescore=True)
    assert scifact_1k.ndcg(hits) >= 0.99 * float_ndcg
    exact_scores = semantic_search(scifact_1k.queries[:1], scifact_1k.docs, top_k=1)[0][0]["score"]
    assert hits[0][0]["score"] == pytest.approx(exact_scores, abs=1e-5)


def test_ubinary_without_rescoring_is_worse_than_with(scifact_1k, scifact_stores):
    store = scifact_stores["ubinary"]
    rough = scifact_1k.ndcg(store.search(scifact_1k.queries, rescore=False))
    assert rough < scifact_1k.ndcg(store.search(scifact_1k.queries))


def test_texts_and_manifest_round_trip(scifact_1k, scifact_stores):
    store = EmbeddingStore.open(scifact_stores["int8"].path)
    assert len(store) == 1000 and store.dim == 384 and store.precision == "int8"
    assert store.get_text(7) == scifact_1k.doc_texts[7]
    assert list(store.ids[:3]) == scifact_1k.doc_ids[:3]
    manifest = json.loads((store.path / "manifest.json").read_text())
    assert manifest["count"] == 1000 and manifest["normalized"] is True and len(manifest["ranges"]) == 2
    hit = store.search(scifact_1k.queries[:1], top_k=1, return_texts=True)[0][0]
    assert hit["text"] == scifact_1k.doc_texts[scifact_1k.doc_ids.index(hit["corpus_id"])]


def test_add_appends_and_checks_ids(scifact_1k, tmp_path):
    store = EmbeddingStore.create(tmp_path / "s", scifact_1k.docs[:500], precision="ubinary")
    store.add(scifact_1k.docs[500:])
    assert len(EmbeddingStore.open(tmp_path / "s")) == 1000
    best = store.search(scifact_1k.docs[900], top_k=1)[0][0]
    assert best["corpus_id"] == 900 and best["score"] == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="already in the store"):
        store.add(scifact_1k.docs[:1], ids=[3])
    with pytest.raises(ValueError, match="dimension"):
        store.add(scifact_1k.docs[:2, :100])


def test_wrong_query_dimension_is_refused(scifact_1k, scifact_stores):
    with pytest.raises(ValueError, match=r"\(1, 128\).*384"):
        scifact_stores["float32"].search(scifact_1k.queries[0, :128])


def test_bad_input(scifact_1k, tmp_path):
    with pytest.raises(ValueError, match="precision"):
        EmbeddingStore.create(tmp_path / "a", scifact_1k.docs[:3], precision="float16")
    with pytest.raises(ValueError, match="NaN"):
        EmbeddingStore.create(tmp_path / "b", np.full((2, 4), np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="appears more than once"):
        EmbeddingStore.create(tmp_path / "c", scifact_1k.docs[:2], ids=["x", "x"])
    EmbeddingStore.create(tmp_path / "d", scifact_1k.docs[:2])
    with pytest.raises(OSError, match="already holds"):
        EmbeddingStore.create(tmp_path / "d", scifact_1k.docs[:2])
    with pytest.raises(OSError, match="not an embedding store"):
        EmbeddingStore.open(tmp_path)


def test_an_interrupted_add_leaves_the_previous_store(scifact_1k, tmp_path, monkeypatch):
    store = EmbeddingStore.create(tmp_path / "s", scifact_1k.docs[:100], precision="ubinary")
    real_replace = __import__("os").replace

    def crash_on_manifest(source, target):
        if str(target).endswith("manifest.json"):
            raise KeyboardInterrupt("simulated crash while committing")
        real_replace(source, target)

    monkeypatch.setattr("sentembed.common.files.os.replace", crash_on_manifest)
    with pytest.raises(KeyboardInterrupt):
        store.add(scifact_1k.docs[100:200])
    monkeypatch.undo()
    reopened = EmbeddingStore.open(tmp_path / "s")
    assert len(reopened) == 100
    assert reopened.search(scifact_1k.docs[150], top_k=1)[0][0]["corpus_id"] != 150
    reopened.add(scifact_1k.docs[100:200])
    assert reopened.search(scifact_1k.docs[150], top_k=1)[0][0]["corpus_id"] == 150


def test_build_resumes_without_encoding_again(minilm_l3, sts_sentences, tmp_path, monkeypatch):
    texts = sts_sentences[:300]
    ids = [f"s{i}" for i in range(300)]
    real_encode = minilm_l3.encode
    encoded: list[str] = []

    def interrupted_encode(sentences, **kwargs):
        if isinstance(sentences, list) and len(encoded) >= 128:
            raise KeyboardInterrupt("simulated interruption")
        encoded.extend(sentences if isinstance(sentences, list) else [])
        return real_encode(sentences, **kwargs)

    monkeypatch.setattr(minilm_l3, "encode", interrupted_encode)
    with pytest.raises(KeyboardInterrupt):
        EmbeddingStore.build(tmp_path / "s", minilm_l3, texts, ids=ids, segment_size=64, batch_size=8)
    assert len(EmbeddingStore.open(tmp_path / "s")) == 128
    encoded.clear()

    def counting_encode(sentences, **kwargs):
        encoded.extend(sentences if isinstance(sentences, list) else [])
        return real_encode(sentences, **kwargs)

    monkeypatch.setattr(minilm_l3, "encode", counting_encode)
    store = EmbeddingStore.build(tmp_path / "s", minilm_l3, texts, ids=ids, segment_size=64, batch_size=8)
    assert encoded == texts[128:]
    assert list(store.ids) == ids
    direct = real_encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(store.embeddings(), direct, atol=1e-5)
    with pytest.raises(ValueError, match="other ids"):
        EmbeddingStore.build(tmp_path / "s", minilm_l3, texts, segment_size=64)


def test_text_queries_and_model_checks(minilm_l3, minilm_l6, sts_sentences, tmp_path):
    texts = sts_sentences[:60]
    store = EmbeddingStore.build(tmp_path / "s", minilm_l3, texts, show_progress_bar=False)
    best = store.search(texts[5], model=minilm_l3, top_k=1)[0][0]
    assert best["corpus_id"] == 5 and best["score"] == pytest.approx(1.0, abs=1e-5)
    reopened = EmbeddingStore.open(tmp_path / "s")
    assert reopened.search([texts[9]], top_k=1)[0][0]["corpus_id"] == 9  # loads the model named in the manifest
    with pytest.raises(ValueError, match="differ from those in the store"):
        store.search(texts[5], model=minilm_l6)
    with pytest.raises(ValueError, match="differ from those in the store"):
        EmbeddingStore.build(tmp_path / "s", minilm_l6, texts)


def test_ubinary_candidates_are_the_exact_hamming_top_k_with_ties_by_position():
    """The matrix-product Hamming distances equal bit counts, and equal distances keep store order."""
    from sentembed.store._scoring import quantized_top_k

    rng = np.random.default_rng(0)
    queries = rng.integers(0, 256, (7, 48), dtype=np.uint8)
    segments = [rng.integers(0, 256, (n, 48), dtype=np.uint8) for n in (500, 300)]
    segments[1][:50] = segments[0][:50]  # equal rows tie on every query
    corpus = np.concatenate(segments)
    distances = np.unpackbits(queries[:, None, :] ^ corpus[None, :, :], axis=2).sum(axis=2).astype(np.int64)
    expected = np.argsort(distances, axis=1, kind="stable")[:, :40]
    values, indices = quantized_top_k(queries, segments, "ubinary", 40)
    np.testing.assert_array_equal(indices.numpy(), expected)
    np.testing.assert_array_equal(-values.numpy(), np.take_along_axis(distances, expected, axis=1))
