"""EmbeddingStore lexical (BM25) and hybrid search: scores equal to bm25s's own, fusion better than either
ranking on SciFact 1k, and deletes, upserts, filters, chunks and compaction respected in every mode."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from sentembed.store import EmbeddingStore

bm25s = pytest.importorskip("bm25s")
Stemmer = pytest.importorskip("Stemmer")


@pytest.fixture(scope="module")
def lexical_store(scifact_1k, minilm_l6, tmp_path_factory):
    """SciFact 1k in two segments with its texts, ids, a year per document, and a BM25 index."""
    path = tmp_path_factory.mktemp("hybrid") / "store"
    years = [{"year": 2000 + row % 20} for row in range(1000)]
    store = EmbeddingStore.create(
        path, scifact_1k.docs[:600], ids=scifact_1k.doc_ids[:600], texts=scifact_1k.doc_texts[:600],
        model=minilm_l6, metadata=years[:600], lexical=True,
    )  # fmt: skip
    store.add(
        scifact_1k.docs[600:], ids=scifact_1k.doc_ids[600:], texts=scifact_1k.doc_texts[600:], metadata=years[600:]
    )
    return store


def bm25s_scores(texts: list[str], query: str) -> np.ndarray:
    """The oracle: bm25s's own index and scores for the query (English stop words, Snowball stemmer)."""
    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    tokens = bm25s.tokenize([query], stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)[0]
    known = [token for token in tokens if token in retriever.vocab_dict]
    return retriever.get_scores(known) if known else np.zeros(len(texts))


def ids_of(hits) -> list[list]:
    return [[hit["corpus_id"] for hit in row] for row in hits]


def test_lexical_scores_are_bm25s_scores_of_the_stored_texts(scifact_1k, lexical_store):
    for query in scifact_1k.query_texts[:5]:
        expected = bm25s_scores(scifact_1k.doc_texts, query)
        order = [row for row in np.lexsort((np.arange(1000), -expected)) if expected[row] > 0][:10]
        hits = lexical_store.search(query, mode="lexical", top_k=10)[0]
        assert [hit["corpus_id"] for hit in hits] == [scifact_1k.doc_ids[row] for row in order]
        np.testing.assert_allclose([hit["score"] for hit in hits], expected[order], rtol=1e-5)


def test_hybrid_beats_dense_and_lexical_alone_on_scifact_1k(scifact_1k, lexical_store, minilm_l6):
    queries = scifact_1k.query_texts
    ndcg = {
        mode: scifact_1k.ndcg(lexical_store.search(queries, top_k=10, mode=mode, model=minilm_l6))
        for mode in ("dense", "lexical", "hybrid")
    }
    weighted = scifact_1k.ndcg(lexical_store.search(queries, mode="hybrid", fusion="weighted", model=minilm_l6))
    assert ndcg["dense"] == pytest.approx(0.7961, abs=5e-4)
    assert ndcg["hybrid"] > max(ndcg["dense"], ndcg["lexical"]) + 0.01  # measured 0.8207 against 0.7961, 0.8004
    assert weighted > ndcg["hybrid"]  # measured 0.8461
    hit = lexical_store.search(queries[0], mode="hybrid", model=minilm_l6, return_texts=True)[0][0]
    assert set(hit) == {"corpus_id", "score", "dense_score", "lexical_score", "text"}


def test_every_mode_respects_deletes_upserts_filters_and_compaction(scifact_1k, lexical_store, minilm_l6, tmp_path):
    shutil.copytree(lexical_store.path, tmp_path / "s")
    store = EmbeddingStore.open(tmp_path / "s")
    query = scifact_1k.query_texts[3]
    first = {mode: store.search(query, mode=mode, model=minilm_l6)[0][0]["corpus_id"] for mode in ("lexical", "hybrid")}
    store.delete(list(first.values()))
    for mode in ("dense", "lexical", "hybrid"):
        found = set(ids_of(store.search(query, top_k=50, mode=mode, model=minilm_l6))[0])
        assert not found & set(first.values())
    replaced = scifact_1k.doc_ids[10]
    store.upsert([replaced], texts=["zebrafish photosynthesis quasar"], model=minilm_l6)
    for mode in ("lexical", "hybrid"):
        assert store.search("quasar zebrafish", mode=mode, model=minilm_l6)[0][0]["corpus_id"] == replaced
    assert store.search(scifact_1k.doc_texts[10], mode="lexical", top_k=1)[0][0]["corpus_id"] != replaced
    years = {doc_id: 2000 + row % 20 for row, doc_id in enumerate(scifact_1k.doc_ids)}
    for mode in ("dense", "lexical", "hybrid"):
        hits = store.search(query, top_k=10, mode=mode, model=minilm_l6, filter={"year": {"$gte": 2015}})[0]
        assert len(hits) == 10 and all(years[hit["corpus_id"]] >= 2015 for hit in hits)
    before = {mode: store.search(query, mode=mode, model=minilm_l6) for mode in ("lexical", "hybrid")}
    store.compact()
    for mode, hits in before.items():
        after = store.search(query, mode=mode, model=minilm_l6)
        assert ids_of(after) == ids_of(hits)
    assert sorted(path.name for path in store.path.glob("lexical-*")) == [
        f"{store.manifest.lexical['name']}.{kind}" for kind in ("data.npy", "indices.npy", "indptr.npy", "vocab.json")
    ]


def test_a_chunked_store_ranks_documents_in_every_mode(minilm_l3, sts_sentences, tmp_path):
    texts = [" ".join(sts_sentences[i : i + 6]) for i in range(0, 120, 6)]
    ids = [f"doc{i}" for i in range(20)]
    store = EmbeddingStore.build(
        tmp_path / "s", minilm_l3, texts, ids=ids, chunk_tokens=24, lexical=True, show_progress_bar=False
    )
    assert store.manifest.lexical["rows"] == store.count > 20
    query = " ".join(sts_sentences[43:46])  # three sentences of doc7
    for mode in ("dense", "lexical", "hybrid"):
        hits = store.search(query, top_k=5, mode=mode, return_texts=True)[0]
        assert hits[0]["corpus_id"] == "doc7" and hits[0]["text"] in texts[7]
        assert len(hits) == len({hit["corpus_id"] for hit in hits}) == 5
    rows = store.search(query, top_k=3, mode="lexical", return_chunks=True)[0]
    assert all(isinstance(hit["corpus_id"], int) for hit in rows)


def test_a_damaged_lexical_index_is_found_and_rebuilt(scifact_1k, lexical_store, tmp_path):
    shutil.copytree(lexical_store.path, tmp_path / "s")
    store = EmbeddingStore.open(tmp_path / "s")
    expected = store.search(scifact_1k.query_texts[0], mode="lexical")
    name = store.manifest.lexical["name"]
    path = store.path / f"{name}.data.npy"
    data = bytearray(path.read_bytes())
    data[-4:] = np.float32(99).tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(OSError, match=rf"{name}\.data\.npy"):
        EmbeddingStore.open(tmp_path / "s").verify()
    store.build_lexical_index()
    assert EmbeddingStore.open(tmp_path / "s").verify() > 0
    assert store.search(scifact_1k.query_texts[0], mode="lexical") == expected
    assert not (store.path / f"{name}.data.npy").exists()
    manifest = json.loads((store.path / "manifest.json").read_text())
    manifest["lexical"]["rows"] = 5
    (store.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(OSError, match="covers 5 rows but the store holds 1000"):
        EmbeddingStore.open(tmp_path / "s").search("query", mode="lexical")


def test_bad_modes_and_arguments(scifact_1k, lexical_store, tmp_path):
    with pytest.raises(ValueError, match="search mode"):
        lexical_store.search("query", mode="sparse")
    with pytest.raises(ValueError, match="fusion"):
        lexical_store.search("query", mode="hybrid", fusion="max")
    with pytest.raises(ValueError, match="weights must be"):
        lexical_store.search("query", mode="hybrid", weights=(1, -1))
    with pytest.raises(ValueError, match="rrf_k must be"):
        lexical_store.search("query", mode="hybrid", rrf_k="60")
    with pytest.raises(ValueError, match="mode='lexical' searches with query texts"):
        lexical_store.search(scifact_1k.queries[:2], mode="lexical")
    plain = EmbeddingStore.create(tmp_path / "plain", scifact_1k.docs[:5], texts=scifact_1k.doc_texts[:5])
    with pytest.raises(ValueError, match="has no lexical index"):
        plain.search("query", mode="lexical")
    plain.build_lexical_index()
    assert plain.search(scifact_1k.doc_texts[3], mode="lexical", top_k=1)[0][0]["corpus_id"] == 3
