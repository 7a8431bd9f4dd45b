"""EmbeddingStore's approximate index (usearch HNSW): recall against exact search, kept up to date by every
write, and deletes and filters respected."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sentembed.store import EmbeddingStore
from sentembed.util import semantic_search

pytest.importorskip("usearch")


def ids_of(hits) -> list[list]:
    return [[hit["corpus_id"] for hit in row] for row in hits]


def recall(found: list[list], expected: list[list]) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, expected, strict=True)]))


@pytest.fixture()
def ann_store(scifact_1k, tmp_path) -> EmbeddingStore:
    """SciFact 1k with an HNSW graph: 600 rows at create, 400 added after (the graph is extended)."""
    metadata = [{"year": 2000 + row % 20} for row in range(1000)]
    store = EmbeddingStore.create(tmp_path / "s", scifact_1k.docs[:600], metadata=metadata[:600], index="hnsw")
    store.add(scifact_1k.docs[600:], metadata=metadata[600:])
    return store


def test_the_graph_finds_the_exact_top_10_and_follows_every_write(scifact_1k, ann_store):
    assert ann_store.manifest.index["file"] == "hnsw-000001.usearch" and ann_store.manifest.index["rows"] == 1000
    exact = ids_of(semantic_search(scifact_1k.queries, scifact_1k.docs, top_k=10))
    hits = ann_store.search(scifact_1k.queries, top_k=10)
    assert recall(ids_of(hits), exact) >= 0.97
    assert hits[0][0]["score"] == pytest.approx(semantic_search(scifact_1k.queries[:1], scifact_1k.docs)[0][0]["score"])
    assert ids_of(ann_store.search(scifact_1k.queries, top_k=10, exact=True)) == exact
    gone = [row[0] for row in exact[:50]]
    ann_store.delete(gone)
    assert not set(gone) & {i for row in ids_of(ann_store.search(scifact_1k.queries[:50], top_k=10)) for i in row}
    ann_store.upsert([gone[0]], embeddings=scifact_1k.queries[:1])
    assert gone[0] in ids_of(ann_store.search(scifact_1k.queries[0], top_k=3))[0]
    assert ann_store.manifest.index["rows"] == 1001
    ann_store.compact()
    assert ann_store.manifest.index["rows"] == ann_store.count == 1000 - len(set(gone)) + 1
    assert sorted(path.name for path in ann_store.path.glob("hnsw-*")) == [ann_store.manifest.index["file"]]
    assert gone[0] in ids_of(ann_store.search(scifact_1k.queries[0], top_k=3))[0]
    assert ann_store.verify() > 0


def test_every_row_of_a_graph_built_and_extended_can_be_found(scifact_1k, ann_store):
    """Each document, searched for, is among its own top 10 (SciFact has a few near-duplicates): no row is left
    unreachable, as usearch's concurrent add leaves some (unum-cloud/USearch#735)."""
    hits = ids_of(ann_store.search(scifact_1k.docs, top_k=10, expansion_search=1000))
    assert [row for row, found in enumerate(hits) if row not in found] == []


@pytest.mark.parametrize(
    ("conditions", "keep"),
    [({"year": 2003}, lambda row: row % 20 == 3), ({"year": {"$lt": 2010}}, lambda row: row % 20 < 10)],
)
def test_filters_return_the_top_k_of_the_matching_rows(scifact_1k, ann_store, conditions, keep):
    rows = [row for row in range(1000) if keep(row)]
    exact = semantic_search(scifact_1k.queries[:30], scifact_1k.docs[rows], top_k=10)
    hits = ann_store.search(scifact_1k.queries[:30], top_k=10, filter=conditions)
    assert all(len(row) == 10 and all(keep(hit["corpus_id"]) for hit in row) for row in hits)
    assert recall(ids_of(hits), [[rows[hit["corpus_id"]] for hit in row] for row in exact]) >= 0.97


def test_a_damaged_graph_is_found_and_rebuilt_with_new_settings(scifact_1k, ann_store):
    path = ann_store.path / ann_store.manifest.index["file"]
    data = bytearray(path.read_bytes())
    data[-100:] = bytes(100)
    path.write_bytes(bytes(data))
    with pytest.raises(OSError, match=r"hnsw-000001\.usearch"):
        EmbeddingStore.open(ann_store.path).verify()
    ann_store.build_index(connectivity=32, expansion_search=128)
    entry = json.loads((ann_store.path / "manifest.json").read_text())["index"]
    assert (entry["file"], entry["connectivity"], entry["expansion_search"]) == ("hnsw-000002.usearch", 32, 128)
    assert not path.exists() and ann_store.verify() > 0
    exact = ids_of(semantic_search(scifact_1k.queries[:50], scifact_1k.docs, top_k=10))
    assert recall(ids_of(EmbeddingStore.open(ann_store.path).search(scifact_1k.queries[:50])), exact) >= 0.97
    with pytest.raises(ValueError, match="connectivity must be a positive integer"):
        ann_store.build_index(connectivity=0)
    with pytest.raises(ValueError, match="index kind"):
        ann_store.build_index("ivf")


def test_expansion_search_widens_one_search_and_only_that_one(scifact_1k, ann_store):
    exact = ids_of(semantic_search(scifact_1k.queries, scifact_1k.docs, top_k=10))
    default = ids_of(ann_store.search(scifact_1k.queries, top_k=10))
    narrow = ids_of(ann_store.search(scifact_1k.queries, top_k=10, rescore_multiplier=1, expansion_search=1))
    wide = ids_of(ann_store.search(scifact_1k.queries, top_k=10, expansion_search=1000))
    assert recall(narrow, exact) < recall(default, exact) <= recall(wide, exact)
    assert recall(wide, exact) == 1.0  # a beam as wide as the store visits every row the graph links
    assert ids_of(ann_store.search(scifact_1k.queries, top_k=10)) == default
    with pytest.raises(ValueError, match="expansion_search must be a positive integer"):
        ann_store.search(scifact_1k.queries[:1], expansion_search=0)
