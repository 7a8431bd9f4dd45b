"""Full SciFact (5183 documents) with all-MiniLM-L6-v2: the published score and what quantization keeps.

Encoding the corpus takes minutes on two CPU cores, so these tests are opt-in (--runslow).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from sentembed.quantization import quantize_embeddings, semantic_search_faiss, semantic_search_usearch
from sentembed.store import EmbeddingStore
from sentembed.util import semantic_search

pytestmark = pytest.mark.slow


def resident_bytes() -> int:
    """This process's resident memory now (Linux), to tell mapping a file from reading it."""
    statm = Path("/proc/self/statm")
    if not statm.exists():
        pytest.skip("needs /proc/self/statm")
    return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture(scope="module")
def float_ndcg(scifact) -> float:
    return scifact.ndcg(semantic_search(scifact.queries, scifact.docs, top_k=10))


def test_exact_search_gives_the_published_ndcg(float_ndcg):
    assert float_ndcg == pytest.approx(0.64508, abs=5e-4)


def test_faiss_ubinary_rescored_keeps_96_percent(scifact, float_ndcg):
    pytest.importorskip("faiss")
    corpus = quantize_embeddings(scifact.docs, "ubinary")
    hits, _ = semantic_search_faiss(scifact.queries, corpus, corpus_precision="ubinary", rescore_multiplier=4)
    assert scifact.ndcg(hits) >= 0.96 * float_ndcg


def test_usearch_binary_rescored_keeps_96_percent(scifact, float_ndcg):
    pytest.importorskip("usearch")
    corpus = quantize_embeddings(scifact.docs, "binary")
    hits, _ = semantic_search_usearch(scifact.queries, corpus, corpus_precision="binary", rescore_multiplier=4)
    assert scifact.ndcg(hits) >= 0.96 * float_ndcg


def test_usearch_int8_keeps_99_percent(scifact, float_ndcg):
    pytest.importorskip("usearch")
    corpus = quantize_embeddings(scifact.docs, "int8")
    hits, _ = semantic_search_usearch(
        scifact.queries, corpus, corpus_precision="int8", calibration_embeddings=scifact.docs, rescore_multiplier=4
    )
    assert scifact.ndcg(hits) >= 0.99 * float_ndcg


@pytest.mark.parametrize("precision", ["ubinary", "int8"])
def test_quantized_store_rescored_against_float32_keeps_99_percent(scifact, float_ndcg, tmp_path, precision):
    store = EmbeddingStore.create(tmp_path / precision, scifact.docs, ids=scifact.doc_ids, precision=precision)
    hits = EmbeddingStore.open(tmp_path / precision).search(scifact.queries, top_k=10)
    assert scifact.ndcg(hits) >= 0.99 * float_ndcg
    assert len(store) == 5183


def test_million_vector_store_is_mapped_not_read_and_searches(scifact, tmp_path):
    """1M rows: SciFact documents repeated with small noise, stored as ubinary with float32 beside it."""
    rng = np.random.default_rng(0)
    store = EmbeddingStore.create(tmp_path / "big", scifact.docs, precision="ubinary")
    while len(store) < 1_000_000:
        rows = scifact.docs[: 1_000_000 - len(store)]
        store.add(rows + rng.normal(0, 0.01, rows.shape).astype(np.float32))
    before = resident_bytes()
    opened = EmbeddingStore.open(tmp_path / "big")
    assert resident_bytes() - before < 64 * 2**20, "opening should map the 1.5 GB of float32 rows, not read them"
    assert len(opened) == 1_000_000
    best = opened.search(scifact.docs[42], top_k=3)[0]
    assert best[0]["corpus_id"] == 42 and best[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert all(hit["corpus_id"] % len(scifact.docs) == 42 for hit in best)
